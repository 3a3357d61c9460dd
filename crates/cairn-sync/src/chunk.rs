//! Answers larger than a frame (a job's log, a big directory listing) travel as numbered
//! `CommandResult` chunks: chunk 0, 1, ... each at most [`CHUNK_BYTES_MAX`] bytes, the last
//! marked `last`. The channel keeps order, so the receiver accepts only the next number.

use std::collections::BTreeMap;

use crate::message::{CommandResult, Refusal};

/// Payload bytes per chunk: a frame holds 65519 plaintext bytes; this leaves room for the
/// version byte, the variant and the chunk's fields.
pub const CHUNK_BYTES_MAX: usize = 60_000;
/// An error message is cut to this many bytes so it always fits one chunk.
pub const ERROR_BYTES_MAX: usize = 4096;
/// The receiver refuses an answer growing past this (memory bound per session).
pub const ANSWER_BYTES_MAX: usize = 64 << 20;

/// Splits a command's outcome into chunks.
pub fn split_result(id: u64, outcome: Result<Vec<u8>, String>) -> Vec<CommandResult> {
    match outcome {
        Err(mut error) => {
            if error.len() > ERROR_BYTES_MAX {
                let mut end = ERROR_BYTES_MAX;
                while !error.is_char_boundary(end) {
                    end -= 1;
                }
                error.truncate(end);
            }
            vec![CommandResult {
                id,
                chunk: 0,
                last: true,
                outcome: Err(error),
            }]
        }
        Ok(bytes) if bytes.is_empty() => vec![CommandResult {
            id,
            chunk: 0,
            last: true,
            outcome: Ok(Vec::new()),
        }],
        Ok(bytes) => {
            let count = bytes.len().div_ceil(CHUNK_BYTES_MAX);
            bytes
                .chunks(CHUNK_BYTES_MAX)
                .enumerate()
                .map(|(index, part)| CommandResult {
                    id,
                    chunk: u32::try_from(index).unwrap_or(u32::MAX),
                    last: index + 1 == count,
                    outcome: Ok(part.to_vec()),
                })
                .collect()
        }
    }
}

/// A command's whole answer: its id and outcome.
pub type Answer = (u64, Result<Vec<u8>, String>);

/// Reassembles chunked answers, one per command id.
#[derive(Debug, Default)]
pub struct Assembler {
    partial: BTreeMap<u64, (u32, Vec<u8>)>,
}

impl Assembler {
    /// Takes the next chunk; returns the whole outcome once the last chunk is in.
    pub fn push(&mut self, result: CommandResult) -> Result<Option<Answer>, Refusal> {
        let (next, bytes) = self.partial.entry(result.id).or_default();
        if result.chunk != *next {
            let expected = *next;
            self.partial.remove(&result.id);
            return Err(Refusal::Protocol(format!(
                "chunk {} of command {} where chunk {expected} was due",
                result.chunk, result.id
            )));
        }
        match result.outcome {
            Err(error) => {
                self.partial.remove(&result.id);
                Ok(Some((result.id, Err(error))))
            }
            Ok(part) => {
                if bytes.len() + part.len() > ANSWER_BYTES_MAX {
                    self.partial.remove(&result.id);
                    return Err(Refusal::Protocol(format!(
                        "the answer to command {} exceeds {ANSWER_BYTES_MAX} bytes",
                        result.id
                    )));
                }
                bytes.extend_from_slice(&part);
                *next += 1;
                if result.last {
                    let (_, whole) = self.partial.remove(&result.id).unwrap_or_default();
                    Ok(Some((result.id, Ok(whole))))
                } else {
                    Ok(None)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode_plaintext;
    use crate::message::Message;

    #[test]
    fn a_large_answer_travels_in_frames_and_comes_back_whole() {
        let log: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let chunks = split_result(7, Ok(log.clone()));
        assert_eq!(chunks.len(), 4);
        let mut assembler = Assembler::default();
        let mut whole = None;
        for chunk in chunks {
            // Every chunk fits one frame.
            encode_plaintext(&Message::CommandResult(chunk.clone())).unwrap();
            whole = assembler.push(chunk).unwrap();
        }
        assert_eq!(whole, Some((7, Ok(log))));
    }

    #[test]
    fn a_chunk_out_of_turn_is_refused() {
        let chunks = split_result(1, Ok(vec![1; CHUNK_BYTES_MAX * 2]));
        let mut assembler = Assembler::default();
        assert!(assembler.push(chunks[1].clone()).is_err());
        let long_error = "é".repeat(ERROR_BYTES_MAX);
        let error = split_result(2, Err(long_error));
        assert_eq!(error.len(), 1);
        assert!(matches!(&error[0].outcome, Err(text) if text.len() <= ERROR_BYTES_MAX));
    }
}

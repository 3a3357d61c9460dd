//! The encrypted channel after the handshake: seals messages into frames and opens frames
//! into messages.
//!
//! Each direction has its own key and a nonce counter (snow's stateful `TransportState`):
//! frame n must be opened as the n-th frame, so a replayed, reordered, dropped-then-resumed or
//! tampered frame fails to authenticate. Any failure breaks the channel for good (every later
//! `open` and `seal` fails): a session whose stream lost a frame ends and the client dials
//! again, where reconciliation resumes from the server's high-water mark.

use crate::error::SyncError;
use crate::frame::{decode_plaintext, encode_plaintext, FRAME_LEN_MAX};
use crate::message::Message;

pub struct Channel {
    transport: snow::TransportState,
    handshake_hash: [u8; 32],
    broken: bool,
}

impl Channel {
    pub(crate) fn new(transport: snow::TransportState, handshake_hash: [u8; 32]) -> Channel {
        Channel {
            transport,
            handshake_hash,
            broken: false,
        }
    }

    /// The final handshake hash: unique per session (channel binding, log correlation).
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.handshake_hash
    }

    /// Seals one message into one frame.
    pub fn seal(&mut self, message: &Message) -> Result<Vec<u8>, SyncError> {
        self.check_usable()?;
        let plaintext = encode_plaintext(message)?;
        let mut frame = vec![0u8; FRAME_LEN_MAX];
        match self.transport.write_message(&plaintext, &mut frame) {
            Ok(len) => {
                frame.truncate(len);
                Ok(frame)
            }
            Err(error) => {
                self.broken = true;
                Err(SyncError::protocol(format!("cannot seal a frame: {error}")))
            }
        }
    }

    /// Opens one frame; the frame must be the next one the peer sealed.
    pub fn open(&mut self, frame: &[u8]) -> Result<Message, SyncError> {
        self.check_usable()?;
        if frame.len() > FRAME_LEN_MAX {
            self.broken = true;
            return Err(SyncError::protocol(format!(
                "a frame of {} bytes (at most {FRAME_LEN_MAX})",
                frame.len()
            )));
        }
        let mut plaintext = vec![0u8; frame.len()];
        let len = match self.transport.read_message(frame, &mut plaintext) {
            Ok(len) => len,
            Err(_) => {
                self.broken = true;
                return Err(SyncError::protocol(
                    "a frame does not authenticate (tampered, replayed, reordered or lost \
                     frames before it); the session ends",
                ));
            }
        };
        decode_plaintext(&plaintext[..len]).inspect_err(|_| self.broken = true)
    }

    fn check_usable(&self) -> Result<(), SyncError> {
        if self.broken {
            Err(SyncError::protocol(
                "the channel is broken by an earlier bad frame; dial again",
            ))
        } else {
            Ok(())
        }
    }
}

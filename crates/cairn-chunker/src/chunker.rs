//! The push-style streaming chunker: the caller reads a file in buffers of any size and feeds
//! them in; the chunker says where chunks end.
//!
//! # How restic decides a boundary (and so how this module must)
//!
//! For each chunk, from its first byte:
//! 1. The first `min_size - 64` bytes are skipped: they are counted but never rolled into the
//!    fingerprint (restic's `pre`).
//! 2. Every later byte is rolled into a 64-byte sliding window whose Rabin fingerprint is kept up
//!    to date. After rolling the byte that makes the chunk `len` bytes long, the chunk ends there if
//!    `len >= min_size` and either `fingerprint & (2^20 - 1) == 0` or `len >= max_size`.
//! 3. The end of the input ends the last chunk, whatever its length.
//!
//! restic's `reset()` starts each chunk with the window `[1, 0, 0, ...]` and the matching
//! fingerprint (it slides in one byte of value 1). That state never shows: the first check comes
//! after 64 rolled bytes, by which time the window holds only chunk bytes, and because the update
//! is linear the fingerprint is then exactly that of the last 64 bytes. This chunker therefore
//! starts from an all-zero window and fingerprint 0, which is equivalent, and a boundary depends
//! only on the 64 bytes before it and on the chunk length.
//!
//! Invariants between calls: `pending < max_size`; the window slot `p % 64` holds the byte at
//! chunk position `p` for the last 64 rolled positions, and zero for positions never rolled.

use crate::{scan, ChunkerTables};

/// Bytes in the sliding window whose fingerprint decides boundaries.
pub const WINDOW_SIZE: usize = 64;
/// The default minimum chunk length (restic's `MinSize`); the last chunk of a file may be shorter.
pub const MIN_SIZE: usize = 512 * 1024;
/// The default maximum chunk length (restic's `MaxSize`).
pub const MAX_SIZE: usize = 8 * 1024 * 1024;
/// A boundary needs the low 20 fingerprint bits zero, so chunks average 1 MiB past the minimum.
const SPLIT_MASK: u64 = (1 << 20) - 1;

/// A push-style streaming chunker: the caller reads a file in large buffers and feeds them in.
#[derive(Clone)]
pub struct Chunker<'t> {
    tables: &'t ChunkerTables,
    min_size: usize,
    max_size: usize,
    split_mask: u64,
    /// Bytes of the current chunk seen so far, skipped ones included.
    pending: usize,
    fingerprint: u64,
    window: [u8; WINDOW_SIZE],
    /// The fingerprint at the last boundary found, which restic reports as `Chunk.Cut`; kept so
    /// tests can compare it with restic's test vectors.
    last_cut_fingerprint: u64,
}

impl<'t> Chunker<'t> {
    /// A chunker with restic's default sizes (512 KiB / 8 MiB).
    pub fn new(tables: &'t ChunkerTables) -> Chunker<'t> {
        Chunker::with_sizes(tables, MIN_SIZE, MAX_SIZE)
    }

    /// A chunker with other chunk size limits, as restic's `WithBoundaries`.
    ///
    /// # Panics
    /// Unless `64 <= min <= max`. (restic misbehaves below a minimum of 64: its skip count wraps.)
    pub fn with_sizes(tables: &'t ChunkerTables, min: usize, max: usize) -> Chunker<'t> {
        assert!(
            WINDOW_SIZE <= min && min <= max,
            "chunk sizes need {WINDOW_SIZE} <= min <= max, got min {min} and max {max}"
        );
        Chunker {
            tables,
            min_size: min,
            max_size: max,
            split_mask: SPLIT_MASK,
            pending: 0,
            fingerprint: 0,
            window: [0; WINDOW_SIZE],
            last_cut_fingerprint: 0,
        }
    }

    /// Scans `data`, which continues the current chunk. Returns Some(n) when a boundary falls
    /// after data[..n] (the current chunk ends there; the chunker is reset for the next chunk and the
    /// caller calls again with data[n..]), or None when all of `data` belongs to the current chunk.
    ///
    /// At the end of a file, a non-zero [`Chunker::pending_len`] is the length of its last chunk.
    pub fn next_boundary(&mut self, data: &[u8]) -> Option<usize> {
        let tables = self.tables;
        let split_mask = self.split_mask;

        // Step 1: skip what restic skips without rolling.
        let rolling_from = self.min_size - WINDOW_SIZE;
        let mut start = 0;
        if self.pending < rolling_from {
            start = (rolling_from - self.pending).min(data.len());
            self.pending += start;
        }
        let room = self.max_size - self.pending;
        let (end, reaches_max) = if data.len() - start >= room {
            (start + room, true)
        } else {
            (data.len(), false)
        };
        let start_position = self.pending;
        let mut fingerprint = self.fingerprint;

        // Step 2a: until 64 bytes of this call are rolled, the outgoing byte may come from an
        // earlier call, so it is read from the window. These are also the only bytes that can
        // come before min_size, as rolling starts 64 bytes before it.
        let window_end = end.min(start + WINDOW_SIZE);
        for (offset, &byte) in data[start..window_end].iter().enumerate() {
            let position = start_position + offset;
            let slot = position % WINDOW_SIZE;
            fingerprint = tables.slide(fingerprint, self.window[slot], byte);
            self.window[slot] = byte;
            if position + 1 >= self.min_size && fingerprint & split_mask == 0 {
                return Some(self.cut(start + offset + 1, fingerprint));
            }
        }

        // Step 2b: the hot loop. Every position here is past min_size and its outgoing byte is in
        // `data`, 64 bytes back.
        if window_end < end {
            let window_and_input = &data[window_end - WINDOW_SIZE..end];
            if let Some(offset) =
                scan::find_boundary(tables, split_mask, &mut fingerprint, window_and_input)
            {
                return Some(self.cut(window_end + offset + 1, fingerprint));
            }
            // Keep the last 64 bytes for the next call, each in the slot of its chunk position.
            let kept_from = end - WINDOW_SIZE;
            let kept_position = start_position + (kept_from - start);
            for (offset, &byte) in data[kept_from..end].iter().enumerate() {
                self.window[(kept_position + offset) % WINDOW_SIZE] = byte;
            }
        }

        if reaches_max {
            return Some(self.cut(end, fingerprint));
        }
        self.pending = start_position + (end - start);
        self.fingerprint = fingerprint;
        None
    }

    /// Bytes in the current (unfinished) chunk so far.
    pub fn pending_len(&self) -> usize {
        self.pending
    }

    /// Starts a new file: forgets the current chunk.
    pub fn reset(&mut self) {
        self.pending = 0;
        self.fingerprint = 0;
        self.window = [0; WINDOW_SIZE];
    }

    /// Ends the current chunk after `length` bytes of the data just scanned.
    fn cut(&mut self, length: usize, fingerprint: u64) -> usize {
        self.last_cut_fingerprint = fingerprint;
        self.reset();
        length
    }

    #[cfg(test)]
    pub(crate) fn set_average_bits(&mut self, bits: u32) {
        self.split_mask = (1 << bits) - 1;
    }

    #[cfg(test)]
    pub(crate) fn last_cut_fingerprint(&self) -> u64 {
        self.last_cut_fingerprint
    }
}

/// Convenience for tests and small inputs: all chunk lengths of `data`.
pub fn chunk_lengths(tables: &ChunkerTables, data: &[u8]) -> Vec<usize> {
    let mut chunker = Chunker::new(tables);
    lengths_with(&mut chunker, data)
}

/// All chunk lengths of `data` as `chunker` cuts it, the last chunk ending with the data.
pub(crate) fn lengths_with(chunker: &mut Chunker<'_>, data: &[u8]) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut rest = data;
    while let Some(length) = chunker.next_boundary(rest) {
        lengths.push(length);
        rest = &rest[length..];
    }
    if !rest.is_empty() {
        lengths.push(rest.len());
    }
    chunker.reset();
    lengths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Polynomial;

    fn tables() -> ChunkerTables {
        ChunkerTables::new(Polynomial(0x3DA3358B4DC173))
    }

    #[test]
    fn empty_input_has_no_chunks() {
        let tables = tables();
        let mut chunker = Chunker::new(&tables);
        assert_eq!(chunker.next_boundary(&[]), None);
        assert_eq!(chunker.pending_len(), 0);
        assert!(chunk_lengths(&tables, &[]).is_empty());
    }

    #[test]
    fn short_input_is_one_chunk() {
        let tables = tables();
        assert_eq!(chunk_lengths(&tables, &[7; 100]), [100]);
        assert_eq!(chunk_lengths(&tables, &[7; MIN_SIZE]), [MIN_SIZE]);
    }

    #[test]
    fn constant_bytes_are_cut_at_the_maximum_size() {
        // A window of 0xaa bytes does not match the mask for this polynomial, so only the
        // maximum size cuts.
        let tables = tables();
        let window_fingerprint = [0xaau8; WINDOW_SIZE]
            .iter()
            .fold(0, |fingerprint, &byte| tables.slide(fingerprint, 0, byte));
        assert_ne!(window_fingerprint & SPLIT_MASK, 0);
        let data = vec![0xaa; 2 * MAX_SIZE + 1000];
        assert_eq!(chunk_lengths(&tables, &data), [MAX_SIZE, MAX_SIZE, 1000]);
    }

    #[test]
    fn reset_forgets_the_current_chunk() {
        let tables = tables();
        let mut chunker = Chunker::new(&tables);
        let zeros = vec![0u8; MIN_SIZE];
        assert_eq!(chunker.next_boundary(&zeros[..MIN_SIZE - 10]), None);
        assert_eq!(chunker.pending_len(), MIN_SIZE - 10);
        chunker.reset();
        assert_eq!(chunker.pending_len(), 0);
        // A fresh chunk of zeros is cut at exactly MIN_SIZE again.
        assert_eq!(chunker.next_boundary(&zeros[..MIN_SIZE - 10]), None);
        assert_eq!(chunker.next_boundary(&zeros[..20]), Some(10));
    }

    #[test]
    fn first_check_sees_the_whole_window() {
        // Rolling starts exactly 64 bytes before the minimum: find input whose window at the
        // first check (chunk length 1000) matches only with its oldest byte included, and make
        // sure the chunk is cut there.
        let tables = tables();
        let fingerprint = |window: &[u8]| {
            window
                .iter()
                .fold(0, |fingerprint, &byte| tables.slide(fingerprint, 0, byte))
        };
        let mut state = 1u32;
        let data = loop {
            let data: Vec<u8> = (0..2000)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (state >> 16) as u8
                })
                .collect();
            let window = &data[1000 - WINDOW_SIZE..1000];
            let mut without_oldest = window.to_vec();
            without_oldest[0] = 0;
            if fingerprint(window) & 0xff == 0 && fingerprint(&without_oldest) & 0xff != 0 {
                break data;
            }
        };
        let mut chunker = Chunker::with_sizes(&tables, 1000, 5000);
        chunker.set_average_bits(8);
        assert_eq!(lengths_with(&mut chunker, &data)[0], 1000);
    }

    #[test]
    #[should_panic(expected = "chunk sizes need")]
    fn minimum_below_the_window_is_refused() {
        let tables = tables();
        let _ = Chunker::with_sizes(&tables, WINDOW_SIZE - 1, 1000);
    }

    #[test]
    #[should_panic(expected = "chunk sizes need")]
    fn maximum_below_minimum_is_refused() {
        let tables = tables();
        let _ = Chunker::with_sizes(&tables, 2000, 1000);
    }
}

//! Shared by the restic oracle test and the golden test: the seeded test files and chunk ids.
//!
//! The generator is part of the golden data's definition: changing any byte it produces makes
//! `tests/data/golden_boundaries.json` stale (regenerate it with the oracle, see there).

use sha2::{Digest, Sha256};

use cairn_chunker::{chunk_lengths, ChunkerTables, MAX_SIZE, MIN_SIZE};

pub const MIB: usize = 1024 * 1024;

/// splitmix64, fixed here so test inputs never change with a dependency's version.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    pub fn bytes(&mut self, length: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(length + 8);
        while bytes.len() < length {
            bytes.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        bytes.truncate(length);
        bytes
    }
}

/// A line repeated without change: every window repeats with its period, so unless the
/// polynomial happens to match one of its 71 windows, only the maximum size cuts.
const REPEATED_LINE: &[u8] =
    b"The quick brown fox jumps over the lazy dog; cairn chunker oracle line.\n";

/// A log-like text whose lines differ, so cuts fall as in real text.
fn numbered_lines(length: usize, first: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(length + 100);
    let mut number = first;
    while text.len() < length {
        text.extend_from_slice(
            format!("{number:08} INFO cairn: backed up file number {number} of the set\n")
                .as_bytes(),
        );
        number += 1;
    }
    text.truncate(length);
    text
}

/// Random, zero and text stretches in turn, so one file has every kind of cut.
fn mixed(length: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut data = Vec::with_capacity(length);
    let mut round = 0;
    while data.len() < length {
        match round % 3 {
            0 => data.extend(rng.bytes(300 * 1024 + round * 4099)),
            1 => data.extend(std::iter::repeat_n(0u8, 200 * 1024 + round * 1031)),
            _ => data.extend(numbered_lines(700 * 1024, round * 10_000)),
        }
        round += 1;
    }
    data.truncate(length);
    data
}

/// The test files: relative path (`/`-separated) and content.
pub fn test_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("random-20m.bin", SplitMix64::new(1).bytes(20 * MIB)),
        ("zeros-10m.bin", vec![0; 10 * MIB]),
        ("random-3m.bin", SplitMix64::new(2).bytes(3 * MIB)),
        ("random-512k.bin", SplitMix64::new(3).bytes(MIN_SIZE)),
        ("random-600k.bin", SplitMix64::new(4).bytes(600 * 1024)),
        (
            "repeated-line-9m.txt",
            REPEATED_LINE
                .iter()
                .copied()
                .cycle()
                .take(9 * MIB)
                .collect(),
        ),
        ("numbered-lines-6m.log", numbered_lines(6 * MIB, 0)),
        ("nested/deeper/mixed-7m.bin", mixed(7 * MIB, 5)),
        (
            "nested/small.txt",
            b"a file far below the minimum chunk size\n".to_vec(),
        ),
        ("nested/empty", Vec::new()),
    ]
}

/// Chunks `data` with cairn's chunker: (length, lowercase hex SHA-256) per chunk, the SHA-256
/// being the data blob id restic gives the chunk.
pub fn cairn_chunks(tables: &ChunkerTables, data: &[u8]) -> Vec<(usize, String)> {
    let mut start = 0;
    chunk_lengths(tables, data)
        .into_iter()
        .map(|length| {
            let chunk = &data[start..start + length];
            start += length;
            (length, hex(&Sha256::digest(chunk)))
        })
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Asserts the files produce both kinds of cut, so a test over them cannot pass while one kind
/// is broken: a cut at the maximum size, and a content cut between the limits. Takes each file's
/// chunk lengths; a file's last chunk ends with the file, so it is no cut.
pub fn assert_cut_kinds_covered(lengths_per_file: &[Vec<usize>]) {
    let cuts: Vec<usize> = lengths_per_file
        .iter()
        .flat_map(|lengths| {
            lengths
                .iter()
                .take(lengths.len().saturating_sub(1))
                .copied()
        })
        .collect();
    assert!(
        cuts.contains(&MAX_SIZE),
        "no chunk was cut at the maximum size"
    );
    assert!(
        cuts.iter()
            .any(|&length| length > MIN_SIZE && length < MAX_SIZE),
        "no chunk was cut by content"
    );
}

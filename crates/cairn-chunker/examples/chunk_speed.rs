//! Chunking throughput: chunks 1 GiB of pseudo-random bytes held in memory, fed in 1 MiB buffers
//! as a backup reading a file would, and prints MB/s.
//!
//! Run: `cargo run --release -p cairn-chunker --example chunk_speed`

use std::time::Instant;

use cairn_chunker::{Chunker, ChunkerTables, Polynomial};

const INPUT_LENGTH: usize = 1 << 30;
const BUFFER_SIZE: usize = 1 << 20;

/// splitmix64: fast, seeded, and good enough that boundaries fall as on real random data.
fn pseudo_random_bytes(length: usize, mut state: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; length];
    for word in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^= mixed >> 31;
        word.copy_from_slice(&mixed.to_le_bytes()[..word.len()]);
    }
    bytes
}

fn main() {
    let data = pseudo_random_bytes(INPUT_LENGTH, 1);
    let tables = ChunkerTables::new(Polynomial(0x3DA3358B4DC173));
    let mut chunker = Chunker::new(&tables);

    for round in 1..=3 {
        let started = Instant::now();
        let mut chunks = 0usize;
        for buffer in data.chunks(BUFFER_SIZE) {
            let mut rest = buffer;
            while let Some(length) = chunker.next_boundary(rest) {
                chunks += 1;
                rest = &rest[length..];
            }
        }
        if chunker.pending_len() > 0 {
            chunks += 1;
        }
        chunker.reset();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.0} MB/s ({} chunks, average {:.0} KiB, {seconds:.3} s)",
            INPUT_LENGTH as f64 / seconds / 1e6,
            chunks,
            INPUT_LENGTH as f64 / chunks as f64 / 1024.0,
        );
    }
}

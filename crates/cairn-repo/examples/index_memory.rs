//! Measures the memory the in-memory index takes per blob: builds an index of N blobs in packs
//! of 1,000 and prints the resident-size growth per blob.
//!
//! `cargo run --release -p cairn-repo --example index_memory -- [blobs, default 2000000]`

use cairn_format::{BlobType, Id, IndexBlob, IndexPack};
use cairn_repo::index::Index;

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("number");
    kib * 1024
}

fn id(n: u64, salt: u8) -> Id {
    let mut bytes = [salt; 32];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    Id::hash(&bytes)
}

fn main() {
    let blobs: u64 = std::env::args()
        .nth(1)
        .map_or(2_000_000, |n| n.parse().expect("a number of blobs"));
    let packs: Vec<IndexPack> = (0..blobs.div_ceil(1000))
        .map(|p| IndexPack {
            id: id(p, 1),
            blobs: (0..1000.min(blobs - p * 1000))
                .map(|b| IndexBlob {
                    id: id(p * 1000 + b, 2),
                    blob_type: BlobType::Data,
                    offset: b as u32 * 1000,
                    length: 1000,
                    uncompressed_length: Some(2000),
                    unknown_fields: Default::default(),
                })
                .collect(),
            unknown_fields: Default::default(),
        })
        .collect();
    let before = resident_bytes();
    let mut index = Index::new();
    for pack in &packs {
        index.add_pack(pack);
    }
    let after = resident_bytes();
    assert_eq!(index.blob_count() as u64, blobs);
    println!(
        "{blobs} blobs: index takes {:.1} MiB, {:.1} bytes per blob (at 1.5 MiB per data blob: {:.0} MiB of index per TiB)",
        (after - before) as f64 / 1048576.0,
        (after - before) as f64 / blobs as f64,
        (after - before) as f64 / blobs as f64 * (1u64 << 40) as f64 / (1.5 * 1048576.0) / 1048576.0
    );
}

//! Small repositories in memory for the repair tests.

use std::sync::Arc;

use cairn_storage::MemoryStore;

use crate::keys::KeyOptions;
use crate::Repository;

/// A new repository in memory with cheap key derivation.
pub(crate) fn repo() -> (Arc<MemoryStore>, Repository) {
    let store = Arc::new(MemoryStore::new());
    let options = KeyOptions {
        kdf: Some(cairn_crypto::KdfParams {
            n: 1024,
            r: 8,
            p: 1,
        }),
        ..KeyOptions::default()
    };
    let repo = Repository::init(store.clone(), b"pw", &options).unwrap();
    (store, repo)
}

/// Incompressible bytes (xorshift), so that packs fill up as their size says.
pub(crate) fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

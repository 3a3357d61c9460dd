//! Seal and open throughput: 1 GiB in 1 MiB blobs, one thread.
//!
//! Run with `cargo run --release -p cairn-crypto --example seal_speed`.
//! Prints MB/s (10^6 bytes per second) of plaintext for `seal_into` (into a reused pack buffer,
//! as the engine does), `open` (to a new vector) and `open_in_place`, then each half (AES-256-CTR,
//! Poly1305) alone.
//!
//! Poly1305's AVX2 backend is chosen at run time; to compare with the portable one, build with
//! `RUSTFLAGS="--cfg poly1305_force_soft"` (on an AMD EPYC with AVX2: Poly1305 ~5.4 GB/s with
//! AVX2, ~1.4 GB/s without, which halves seal and open throughput).

use std::hint::black_box;
use std::time::Instant;

use aes::cipher::{KeyIvInit, StreamCipher};
use cairn_crypto::{MasterKey, OVERHEAD};
use poly1305::universal_hash::{KeyInit, UniversalHash};

const BLOB_BYTES: usize = 1 << 20;
const TOTAL_BYTES: usize = 1 << 30;

fn report(name: &str, seconds: f64) {
    println!(
        "{name:<14} {:>8.0} MB/s",
        TOTAL_BYTES as f64 / seconds / 1e6
    );
}

fn main() {
    let key = MasterKey::generate();
    let blobs = TOTAL_BYTES / BLOB_BYTES;
    let plaintext: Vec<u8> = (0..BLOB_BYTES)
        .map(|index| (index * 7 % 251) as u8)
        .collect();

    // Warm up: page in buffers, resolve CPU feature detection.
    let mut pack = Vec::with_capacity(16 * (BLOB_BYTES + OVERHEAD));
    key.seal_into(&plaintext, &mut pack);
    pack.clear();

    let start = Instant::now();
    for _ in 0..blobs {
        // A 16 MiB pack buffer, as the engine fills one, emptied when full.
        if pack.len() + BLOB_BYTES + OVERHEAD > pack.capacity() {
            pack.clear();
        }
        key.seal_into(black_box(&plaintext), &mut pack);
    }
    report("seal_into", start.elapsed().as_secs_f64());

    let sealed = key.seal(&plaintext);
    let start = Instant::now();
    for _ in 0..blobs {
        let opened = key.open(black_box(&sealed)).expect("authentic");
        black_box(&opened);
    }
    report("open", start.elapsed().as_secs_f64());

    // open_in_place needs a fresh ciphertext each time; copying it back is part of the cost
    // here but not in the engine (which reads it from storage into the buffer), so time it
    // separately and subtract.
    let mut buffer = sealed.clone();
    let start = Instant::now();
    for _ in 0..blobs {
        buffer.copy_from_slice(black_box(&sealed));
        let opened = key.open_in_place(&mut buffer).expect("authentic");
        black_box(opened);
    }
    let with_copy = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..blobs {
        buffer.copy_from_slice(black_box(&sealed));
        black_box(&buffer);
    }
    let copy_only = start.elapsed().as_secs_f64();
    report("open_in_place", with_copy - copy_only);

    // The two halves on their own, through the same crates, to see which one limits.
    let mut scratch = plaintext.clone();
    let start = Instant::now();
    for _ in 0..blobs {
        let mut keystream = ctr::Ctr128BE::<aes::Aes256>::new(&[1u8; 32].into(), &[2u8; 16].into());
        keystream.apply_keystream(black_box(&mut scratch));
    }
    report("  AES-256-CTR", start.elapsed().as_secs_f64());
    let start = Instant::now();
    for _ in 0..blobs {
        let mut mac = poly1305::Poly1305::new(&[3u8; 32].into());
        mac.update_padded(black_box(&scratch));
        black_box(mac.finalize());
    }
    report("  Poly1305", start.elapsed().as_secs_f64());
}

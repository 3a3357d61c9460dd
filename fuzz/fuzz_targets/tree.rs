//! Tree blob plaintext (`tree::decode_tree`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_fuzz::tree(data));

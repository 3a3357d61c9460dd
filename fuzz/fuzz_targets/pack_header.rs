//! Pack header plaintext (`pack::decode_header`): 8 bytes of `blobs_end`, then the header.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_fuzz::pack_header(data));

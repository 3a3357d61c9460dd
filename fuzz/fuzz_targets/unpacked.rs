//! The v2 framing of unpacked files (`unpacked::decode_unpacked`: plain JSON or `0x02` + zstd),
//! then the index, snapshot and lock decoders on what it yields.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_fuzz::unpacked(data));

//! Key file JSON (`KeyFile::from_json`): the one file read before any MAC is checked.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_fuzz::key_file(data));

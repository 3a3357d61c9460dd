//! Index file JSON (`IndexFile::from_json`), both the current and the legacy array form.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_fuzz::index(data));

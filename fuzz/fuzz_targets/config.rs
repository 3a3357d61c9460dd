//! Repository config JSON (`RepoConfig::from_json`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_fuzz::config(data));

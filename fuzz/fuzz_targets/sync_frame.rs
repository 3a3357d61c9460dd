//! Multihost frame plaintext (`cairn_sync::frame::decode_plaintext`), handshake payloads and
//! pairing tokens.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_fuzz::sync_frame(data));

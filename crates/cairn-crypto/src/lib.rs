//! cairn-crypto

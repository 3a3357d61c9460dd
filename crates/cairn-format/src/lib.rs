//! On-disk types and codecs of the restic repository format, version 2.
//!
//! # Layout
//! - [`id`]: the SHA-256 identifiers that name every object and blob.
//! - [`tree`]: tree blobs and their nodes, encoded byte for byte as restic (Go) encodes them.
//!
//! This crate does no I/O and no cryptography: it turns plaintext bytes into typed values and
//! back. The repository engine composes it with `cairn-crypto` and a storage.

pub mod id;
pub mod tree;

pub use id::Id;

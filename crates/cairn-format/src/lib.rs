//! On-disk types and codecs of the restic repository format, version 2.
//!
//! # Layout
//! - [`id`]: the SHA-256 identifiers that name every object and blob.
//! - [`blob`]: data and tree blob types.
//! - [`config`], [`key_file`], [`index`], [`snapshot`], [`lock`]: the JSON objects.
//! - [`go_json`]: how every JSON object is decoded (absent → zero, unknown → kept).
//! - [`unpacked`]: the v2 framing (plain or `0x02`+zstd) of index, snapshot and lock files.
//! - [`pack`]: the pack header codec.
//! - [`tree`]: tree blobs and their nodes, encoded byte for byte as restic (Go) encodes them.
//!
//! This crate does no I/O and no cryptography: it turns plaintext bytes into typed values and
//! back. Every decoder takes untrusted bytes and returns an error, never panics. The repository
//! engine composes it with `cairn-crypto` and a storage.

mod base64_bytes;
pub mod blob;
pub mod config;
mod error;
pub mod go_json;
pub mod go_time_serde;
pub mod id;
pub mod index;
pub mod key_file;
pub mod lock;
pub mod pack;
pub mod snapshot;
pub mod tree;
pub mod unpacked;

pub use blob::BlobType;
pub use config::{RepoConfig, REPOSITORY_VERSION};
pub use error::FormatError;
pub use go_json::UnknownFields;
pub use id::Id;
pub use index::{IndexBlob, IndexFile, IndexPack};
pub use key_file::KeyFile;
pub use lock::LockFile;
pub use pack::PackBlob;
pub use snapshot::Snapshot;

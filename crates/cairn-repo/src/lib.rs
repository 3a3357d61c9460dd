//! The cairn repository engine: restic-format repositories over any [`Storage`].
//!
//! # Layout
//! - [`repository`]: opening and creating repositories; authenticated reads of unpacked files.
//! - [`keys`]: key files (passwords).
//! - [`cache`]: the local cache of a remote repository's snapshots, index and tree packs.
//! - [`lock`]: shared and exclusive locks, stale-lock detection, refresh.
//! - [`index`]: the in-memory index of where blobs live.
//! - [`blob_codec`], [`pack_builder`], [`blob_writer`]: storing new blobs in packs, then
//!   indexing them.
//! - [`tree_io`]: reading blobs and trees; walking a snapshot.
//! - [`snapshots`]: listing and resolving snapshots.
//! - [`find`]: entries matching patterns across snapshots, shared trees searched once.
//! - [`browse`]: one directory, one file's versions, a name search, byte ranges and archives
//!   (what the server's file browser and downloads call).
//! - [`diff`]: what changed between two snapshots, identical subtrees skipped.
//! - [`stats`]: sizes and counts of snapshots in restic's four counting modes.
//! - [`backup`]: the backup pipeline.
//! - [`restore`]: the restore pipeline.
//! - [`check`]: verifying a repository.
//! - [`forget`], [`prune`]: retention policies and reclaiming space.
//! - [`repair`]: rebuilding the index from the packs; rewriting snapshots that lost data.
//! - [`copy`]: copying snapshots between repositories (blobs re-sealed, never re-chunked).
//! - [`tag`]: changing the tags of snapshots.
//! - [`selection`]: the snapshots a command names, or all that its filters match.
//! - [`progress`]: the one progress model every long operation updates and every face renders.
//!
//! # Invariants
//! - Order of writes: packs, then the index naming them, then the snapshot naming the trees;
//!   the storage is synced at each step. A crash at any instant leaves a repository `check`
//!   (and `restic check`) accepts.
//! - Every read is authenticated (name = SHA-256 of bytes, MAC, blob id = SHA-256 of plaintext).
//! - Nothing here names HTTP, a cloud, or a CLI: callers pass a [`Storage`] and a
//!   progress tracker.
//!
//! [`Storage`]: cairn_storage::Storage

pub mod backup;
pub mod blob_codec;
pub mod blob_writer;
pub mod browse;
pub mod buffer_pool;
pub mod cache;
pub mod check;
pub mod copy;
pub mod diff;
pub mod dump;
mod error;
pub mod find;
pub mod forget;
mod id_hasher;
pub mod index;
pub mod keys;
pub mod lock;
pub mod mirror;
pub mod pack_builder;
pub mod pack_reader;
pub mod progress;
pub mod prune;
pub mod repair;
pub mod repository;
pub mod restore;
pub mod selection;
pub mod snapshots;
pub mod stats;
pub mod system;
pub mod tag;
pub mod tree_io;

pub use error::{ErrorKind, RepoError, Result};
pub use repository::Repository;

//! The offsite mirror: a byte-for-byte copy of a repository in another store (usually S3),
//! kept current by uploading what it lacks and, after a grace period, deleting what vanished
//! locally.
//!
//! The mirror is itself a valid repository: restic checks and restores it. Every object is
//! named by its content hash (but `config`), so an object present with the right size is never
//! sent again, and a sync cut off anywhere carries on where it stopped.
//!
//! # Layout
//! - [`sync`]: the sync (plan, upload in commit order, grace-period deletions).
//! - [`manifest`]: `cairn-manifest`, the encrypted snapshot list and file catalog beside a mirror.
//! - [`pending`]: the grace-period state kept beside the mirror (`cairn-mirror-state`).
//! - [`retention`]: Object Lock on the mirror: retention on upload, extended while used, the
//!   dates kept beside the mirror (`cairn-mirror-retention`).
//! - [`restore`]: a repository made identical to its mirror (replace) or a new one (copy).
//! - [`identity`]: whether a mirror holds the repository a replace overwrites.
//! - [`transfer`]: the pool of workers that moves objects, several at once.
//! - [`verify`]: listings, sizes and a sampled hash check of the mirror against the repository.

pub mod identity;
pub mod manifest;
pub mod pending;
pub mod restore;
pub mod retention;
pub mod sync;
pub mod transfer;
pub mod verify;

pub use identity::RepositoryMatch;
pub use restore::{restore_from_mirror, MirrorRestoreOptions, MirrorRestoreSummary, RestoreMode};
pub use retention::LockPolicy;
pub use sync::{nothing_to_do, sync, SyncOptions, SyncSummary};
pub use verify::{verify, VerifyReport};

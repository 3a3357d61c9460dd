//! Browsing snapshots the way a person looking for one file does: one directory at a time,
//! one file's versions across snapshots, a name searched across snapshots, a file's bytes (or
//! a byte range of them), a directory as an archive. The server's API and the multihost peer
//! commands call these; nothing here knows HTTP.
//!
//! # Design
//! - Paths are snapshot-absolute (`/etc/hosts`) and checked by [`SnapshotPath::parse`] before
//!   anything is read: `.`, `..`, empty components and relative paths are refused with
//!   [`RepoError::UnsafePath`](crate::RepoError::UnsafePath). Every lookup then walks the tree
//!   blobs by exact component names, so a path can only name an entry of the snapshot.
//! - Only the trees along a path are loaded ([`path::resolve`]): listing `/a/b/c` costs four
//!   tree blobs however large the snapshot. [`history`] keeps the trees it loaded by id, so
//!   snapshots sharing directories (most of them) share the work.
//! - [`search`] reuses [`crate::find::Finder`] (restic's pattern rules, shared trees searched
//!   once) and stops at a result limit.
//! - [`range`] reads a byte range of a file without fetching the blobs before it: blob
//!   lengths come from the index, so the blobs to skip are never read.
//! - [`archive`] streams a directory as `.tar.gz` (the `dump` tar writer through gzip) or as
//!   `.zip` (written without seeking, deflate), into any [`std::io::Write`]: memory stays at
//!   one blob plus the compressor's window whatever the directory's size.
//!
//! # Layout
//! - [`path`]: [`SnapshotPath`], resolving a path to its node.
//! - [`listing`]: one directory's entries ([`Entry`]).
//! - [`history`]: the versions of one path across snapshots.
//! - [`search`]: entries whose names match a pattern, newest snapshot first.
//! - [`range`]: a file's bytes, whole or a range.
//! - [`archive`]: a directory as `.tar.gz` or `.zip`.

pub mod archive;
pub mod history;
pub mod listing;
pub mod path;
pub mod range;
pub mod search;

pub use archive::{write_archive, ArchiveFormat};
pub use history::{versions, Version};
pub use listing::{list_directory, Entry, EntryType, Listing};
pub use path::{resolve, Resolved, SnapshotPath};
pub use range::write_range;
pub use search::{search, SearchMatch, SearchResult};

use cairn_format::tree::GoTime;
use chrono::{DateTime, FixedOffset};

/// A node's time as a zoned instant (its recorded offset kept); `None` when out of range.
pub(crate) fn go_time(time: &GoTime) -> Option<DateTime<FixedOffset>> {
    let offset =
        FixedOffset::east_opt(time.utc_offset_secs).or_else(|| FixedOffset::east_opt(0))?;
    DateTime::from_timestamp(time.unix_secs, time.nanos).map(|t| t.with_timezone(&offset))
}

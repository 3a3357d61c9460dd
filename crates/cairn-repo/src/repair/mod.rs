//! Repair: bringing a damaged repository back to one `check` (and `restic check`) accepts.
//!
//! Two steps, in this order, as restic's troubleshooting guide has them:
//!
//! 1. [`repair_index`] rebuilds the index from what the storage really holds. Packs the
//!    readable index files describe correctly keep their entries; every other pack's header is
//!    read (only its tail: trailer, then the sealed header) and indexed afresh; entries for packs
//!    that are gone are dropped. A pack whose header cannot be read is damaged: it is named and
//!    left out of the index, and the snapshots that used it lack data from then on.
//! 2. [`repair_snapshots`] rewrites every snapshot whose trees reference data the index no
//!    longer has: such a file keeps the blobs that are left, a directory whose listing is lost
//!    becomes empty, and the new snapshot (tagged `repaired`, `original` naming the damaged one)
//!    replaces the damaged one with `--forget`.
//!
//! # Order that protects data
//! - Index: new index files → sync → delete the old index files (damaged ones included) → sync.
//!   Killed before the deletions, old and new index files overlap, which both tools accept (the
//!   new files list only packs that exist, with entries read from their headers); killed during
//!   them, the new files already cover everything. Nothing is ever deleted but index files.
//! - Snapshots: new tree blobs → their packs → sync → index → sync → new snapshot → sync →
//!   (with `--forget`) delete the damaged snapshot → sync. Killed at any point, the damaged
//!   snapshot or its repaired copy (or both) exist, each complete; a rerun finds the copy it
//!   already wrote and does not write a second one.
//!
//! # Decisions (see ARCHITECTURE.md's log)
//! - A file that lost data blobs becomes an empty file under its own name, the loss recorded in
//!   the node's `error` field (restic reads and ignores it). restic ≥ 0.16 keeps the surviving
//!   chunks back to back instead; an empty file that says it lost its content is safer than a
//!   file of shifted data that looks whole. Directories whose tree cannot be read become empty.
//! - The new snapshot always gets the tag `repaired` (restic ≥ 0.16 adds it only without
//!   `--forget`): with the damaged original gone, the tag is the one sign left that the
//!   snapshot lost data.

mod index;
mod snapshots;
#[cfg(test)]
mod test_support;
mod tree_rewrite;

pub use index::{repair_index, DamagedFile, RepairIndexOptions, RepairIndexSummary};
pub use snapshots::{
    repair_snapshots, Damage, DamageKind, RepairSnapshotsOptions, RepairSnapshotsSummary,
    SnapshotRepair, REPAIRED_TAG,
};

//! Prune: reclaim the space of data no snapshot uses.
//!
//! # Plan
//! Every blob reachable from a snapshot is *used*. Each pack is then one of: fully used (kept),
//! unused (deleted), or partly used (kept, or repacked: its used blobs are copied into new
//! packs and the old pack deleted). Partly used packs are repacked, most wasteful first, until
//! the unused bytes left are below `max_unused` and within `max_repack_bytes`. Tree packs with
//! unused blobs are always repacked (they are small and read often), as are packs that only
//! hold duplicates. Packs no index names (left by an interrupted backup) are deleted.
//!
//! # Order that protects data
//! new packs → their index → index of every kept pack → sync → delete the old index files →
//! sync → delete old packs. Killed at any point, the repository stays valid: before the old
//! index files go, old and new index overlap (allowed); after, the old packs are merely
//! unreferenced, and the next prune deletes them.
//!
//! Prune refuses to run when any snapshot, tree or index file cannot be read, or when a used
//! blob is in no pack: deleting "unused" data is only safe when "used" is known for certain.
//!
//! Last, it removes the temporary files killed writers left (see [`leftovers`]).

pub mod leftovers;
mod plan;
mod repack;

use std::time::{Duration, SystemTime};

use cairn_format::{Id, IndexFile, IndexPack};
use cairn_storage::FileKind;

use leftovers::Leftover;

pub use plan::{parse_size, plan_prune, MaxUnused, PrunePlan, PruneStats};

/// A size such as `500M` or `2G`, with an error saying how to write one.
pub fn parse_size_text(text: &str) -> Result<u64> {
    parse_size(text).ok_or_else(|| {
        crate::RepoError::InvalidInput(format!(
            "invalid size {text:?}: write it as a number with K, M, G or T, e.g. 2G"
        ))
    })
}

use crate::progress::{Phase, Progress};
use crate::{Repository, Result};

#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub max_unused: MaxUnused,
    /// Stop choosing packs to repack once this many bytes would be rewritten.
    pub max_repack_bytes: Option<u64>,
    /// Repack packs holding uncompressed blobs (to compress them; format version 2).
    pub repack_uncompressed: bool,
    /// Repack packs smaller than the target pack size, so many small packs become few.
    pub repack_small: bool,
    pub dry_run: bool,
    /// Target size of new packs.
    pub pack_size: usize,
    /// Temporary files left by killed writers are removed once unmodified this long.
    pub temporary_min_age: Duration,
}

impl Default for PruneOptions {
    fn default() -> PruneOptions {
        PruneOptions {
            max_unused: MaxUnused::Percent(5.0),
            max_repack_bytes: None,
            repack_uncompressed: false,
            repack_small: false,
            dry_run: false,
            pack_size: crate::blob_writer::PACK_SIZE_DEFAULT,
            temporary_min_age: leftovers::TEMPORARY_MIN_AGE_DEFAULT,
        }
    }
}

/// What a prune did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PruneSummary {
    pub stats: PruneStats,
    pub packs_deleted: u64,
    pub packs_repacked: u64,
    pub packs_written: u64,
    pub index_files_written: u64,
    pub index_files_deleted: u64,
    /// Temporary files killed writers left, older than `temporary_min_age`: removed (or, in a
    /// dry run, to remove).
    pub stale_temporary_files: u64,
    pub stale_temporary_bytes: u64,
    /// In a dry run, those files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_remove_temporaries: Vec<Leftover>,
    pub dry_run: bool,
}

/// Plans and (unless a dry run) carries out a prune, under an exclusive lock. `progress`
/// counts packs handled (repacked, then deleted) and the bytes of the blobs repacked.
pub fn prune(
    repo: &Repository,
    options: &PruneOptions,
    progress: &Progress,
) -> Result<PruneSummary> {
    let summary = prune_reporting(repo, options, progress)?;
    progress.set_current(None);
    progress.set_phase(Phase::Done);
    Ok(summary)
}

fn prune_reporting(
    repo: &Repository,
    options: &PruneOptions,
    progress: &Progress,
) -> Result<PruneSummary> {
    let _lock = repo.lock(true)?;
    let plan = plan_prune(repo, options, progress)?;
    progress.set_current(None);
    progress.set_totals(
        Some((plan.repack.len() + plan.delete.len()) as u64),
        Some(plan.stats.repack_bytes),
    );
    let stale = leftovers::stale_temporaries(repo, options.temporary_min_age, SystemTime::now())?;
    let mut summary = PruneSummary {
        stats: plan.stats.clone(),
        packs_deleted: plan.delete.len() as u64,
        packs_repacked: plan.repack.len() as u64,
        stale_temporary_files: stale.len() as u64,
        stale_temporary_bytes: stale.iter().map(|t| t.size).sum(),
        dry_run: options.dry_run,
        ..PruneSummary::default()
    };
    if options.dry_run {
        summary.would_remove_temporaries = stale;
        return Ok(summary);
    }
    progress.set_phase(Phase::Repacking);
    let written = repack::repack(repo, &plan, options, progress)?;
    summary.packs_written = written.packs;
    summary.index_files_written = written.index_files.len() as u64;

    // Index every pack that stays, in new files, before anything old goes away.
    progress.set_current(None);
    progress.set_phase(Phase::Deleting);
    let kept: Vec<&IndexPack> = plan.keep.iter().map(|id| &plan.packs[id]).collect();
    for chunk in kept.chunks(INDEX_PACKS_PER_FILE) {
        let file = IndexFile {
            supersedes: Vec::new(),
            packs: chunk.iter().map(|p| (*p).clone()).collect(),
            unknown_fields: Default::default(),
        };
        repo.save_unpacked(FileKind::Index, &file.to_json())?;
        summary.index_files_written += 1;
    }
    repo.storage().sync()?;

    for id in &plan.old_index_files {
        remove_if_present(repo, FileKind::Index, id)?;
        summary.index_files_deleted += 1;
    }
    repo.storage().sync()?;

    for id in &plan.repack {
        remove_if_present(repo, FileKind::Pack, id)?;
    }
    for id in &plan.delete {
        progress.set_current(Some(&format!("pack {}", id.short())));
        remove_if_present(repo, FileKind::Pack, id)?;
        progress.add_files(1);
    }
    repo.storage().sync()?;
    leftovers::remove_temporaries(repo, &stale)?;
    Ok(summary)
}

/// Packs per new index file: about restic's 50,000 blobs at a few hundred blobs per pack.
const INDEX_PACKS_PER_FILE: usize = 200;

fn remove_if_present(repo: &Repository, kind: FileKind, id: &Id) -> Result<()> {
    match repo.storage().remove(kind, &id.to_hex()) {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

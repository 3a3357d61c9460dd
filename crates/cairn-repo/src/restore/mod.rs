//! Restore: a snapshot (or part of it) back onto the file system.
//!
//! # Phases
//! 1. [`plan`]: walk the snapshot's trees, apply include/exclude patterns, create directories,
//!    empty files at their final size (so untouched ranges stay holes), symlinks, FIFOs and
//!    devices, and hard links; collect for each pack the blobs needed and where they go.
//! 2. [`content`]: worker threads take packs one at a time, read the needed byte ranges, open
//!    and verify each blob once and write it to every file offset that uses it. Blobs of zeros
//!    are not written: the pre-sized file already reads as zeros there, as a hole.
//! 3. [`metadata`]: ownership (as root), mode, extended attributes and times of files, then of
//!    directories deepest first, so restoring a child does not change its parent's mtime.
//! 4. [`verify`] (optional): read every restored file back and compare each blob's SHA-256.
//!
//! Errors on single entries are reported and counted; the restore goes on with the rest.

mod content;
mod metadata;
mod plan;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cairn_format::Id;

use crate::backup::Pattern;
use crate::index::Index;
use crate::{RepoError, Repository, Result};

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Restore only entries matching one of these (and the directories leading to them).
    pub include: Vec<Pattern>,
    /// Leave out entries matching one of these.
    pub exclude: Vec<Pattern>,
    /// Read everything back after writing and compare with the stored hashes.
    pub verify: bool,
    /// Worker threads fetching and writing packs.
    pub threads: usize,
}

/// Receives progress; every method may be called from several threads.
pub trait RestoreObserver: Send + Sync {
    /// Totals known after planning.
    fn planned(&self, _files: u64, _bytes: u64) {}
    fn bytes_written(&self, _bytes: u64) {}
    fn error(&self, _path: &Path, _message: &str) {}
}

pub struct NoRestoreObserver;
impl RestoreObserver for NoRestoreObserver {}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreSummary {
    pub files_restored: u64,
    pub dirs_restored: u64,
    pub other_restored: u64,
    pub bytes_restored: u64,
    pub files_verified: u64,
    pub errors: Vec<RestoreError>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreError {
    pub path: String,
    pub message: String,
}

/// Collected per-entry errors, shared by the phases' threads.
#[derive(Default)]
pub(crate) struct Errors(Mutex<Vec<RestoreError>>);

impl Errors {
    pub(crate) fn add(&self, observer: &dyn RestoreObserver, path: &Path, message: String) {
        observer.error(path, &message);
        self.0.lock().expect("restore errors").push(RestoreError {
            path: path.display().to_string(),
            message,
        });
    }
}

/// Restores the tree `tree` (a snapshot's root) under `target`.
pub fn restore(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    target: &Path,
    options: &RestoreOptions,
    observer: &dyn RestoreObserver,
) -> Result<RestoreSummary> {
    prepare_target(target)?;
    let errors = Errors::default();
    let plan = plan::build(repo, index, tree, target, options, observer, &errors)?;
    observer.planned(plan.files.len() as u64, plan.total_bytes());
    let bytes = content::write_all(repo, &plan, options.threads.max(1), observer, &errors);
    for (link, first) in &plan.links {
        if let Err(e) = std::fs::hard_link(first, link) {
            errors.add(
                observer,
                link,
                format!("cannot create hard link to {}: {e}", first.display()),
            );
        }
    }
    metadata::apply(&plan, observer, &errors);
    let mut summary = RestoreSummary {
        files_restored: plan.files.len() as u64,
        dirs_restored: plan.dirs.len() as u64,
        other_restored: (plan.others.len() + plan.links.len()) as u64,
        bytes_restored: bytes,
        ..RestoreSummary::default()
    };
    if options.verify {
        summary.files_verified =
            verify::verify_all(&plan, options.threads.max(1), observer, &errors);
    }
    summary.errors = errors.0.into_inner().expect("restore errors");
    Ok(summary)
}

/// Creates the target directory and checks it is writable, so that a read-only target fails
/// at once with one message instead of once per file.
fn prepare_target(target: &Path) -> Result<()> {
    let fail = |e: std::io::Error| {
        RepoError::InvalidInput(format!(
            "cannot write to restore target {}: {e}",
            target.display()
        ))
    };
    std::fs::create_dir_all(target).map_err(fail)?;
    let probe: PathBuf = target.join(format!(".cairn-restore-probe-{}", std::process::id()));
    std::fs::File::create(&probe).map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

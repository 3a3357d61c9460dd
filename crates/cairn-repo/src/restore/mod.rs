//! Restore: a snapshot (or part of it) back onto the file system.
//!
//! # Phases
//! 1. [`plan`]: walk the snapshot's trees ([`walk`] applies include/exclude patterns), create
//!    directories, empty files at their final size (so untouched ranges stay holes), symlinks,
//!    FIFOs and devices; collect for each pack the blobs needed and where they go. The plan is
//!    cut into [`batch`]es of bounded size, handed over as they fill, so memory does not grow
//!    with the snapshot.
//! 2. [`pipeline`]: worker threads restore each batch's packs ([`content`]: read the needed byte
//!    ranges, open and verify each blob once, write it to every file offset that uses it; blobs
//!    of zeros are not written: the pre-sized file already reads as zeros there, as a hole).
//!    Batches are then finished in planning order: hard links, and [`metadata`] (ownership as
//!    root, mode, extended attributes, times) of entries no content worker finished; with
//!    `--verify`, [`verify`] reads the batch's files back and compares each blob's SHA-256.
//! 3. Directories' metadata, deepest first, after all content, so restoring a child does not
//!    change its parent's mtime.
//!
//! Beside them, [`totals`] counts what will be restored for the progress display.
//! Errors on single entries are reported and counted; the restore goes on with the rest.

mod batch;
mod content;
mod metadata;
mod pipeline;
mod plan;
mod totals;
mod verify;
mod walk;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cairn_format::Id;

use crate::backup::Pattern;
use crate::index::Index;
use crate::progress::{Operation, Phase, Progress};
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
    /// Plan bytes (an estimate of the memory a batch of the plan takes) at which a batch is
    /// handed to the workers; 0 means the default (2 MiB). A batch holds at least one file,
    /// with all its blobs. Small values only serve tests of the batch boundaries.
    pub batch_plan_bytes_max: usize,
}

/// Whoever watches a restore; every method may be called from several threads.
pub trait RestoreObserver: Send + Sync {
    /// The progress model the restore updates. `None`: nobody shows progress, and the
    /// restore skips the second walk of the snapshot's trees that counts the totals (which
    /// come from a walk beside the restore, so possibly after the first bytes).
    fn progress(&self) -> Option<&Progress> {
        None
    }
    /// An entry could not be restored (already counted in the model).
    fn error(&self, _path: &Path, _message: &str) {}
}

pub struct NoRestoreObserver;
impl RestoreObserver for NoRestoreObserver {}

/// What the restore's stages report to: the model (the observer's, or one nobody reads) and
/// the observer's error callback.
pub(crate) struct Report<'a> {
    pub progress: &'a Progress,
    observer: &'a dyn RestoreObserver,
}

impl Report<'_> {
    pub(crate) fn file_done(&self, path: &Path) {
        self.progress.add_files(1);
        self.progress.set_current(Some(&path.to_string_lossy()));
    }

    fn error(&self, path: &Path, message: &str) {
        self.progress.add_error();
        self.observer.error(path, message);
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreSummary {
    pub files_restored: u64,
    pub dirs_restored: u64,
    pub other_restored: u64,
    pub bytes_restored: u64,
    pub files_verified: u64,
    pub errors: Vec<RestoreError>,
    /// The largest estimate of plan bytes held by batches alive at once (the batch being
    /// planned comes on top): what bounds the restore's memory beyond the index.
    #[serde(skip)]
    pub plan_bytes_peak: usize,
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
    pub(crate) fn add(&self, report: &Report<'_>, path: &Path, message: String) {
        report.error(path, &message);
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
    let unread;
    let progress = match observer.progress() {
        Some(progress) => progress,
        None => {
            unread = Progress::new(Operation::Restore);
            &unread
        }
    };
    let report = Report { progress, observer };
    let summary = restore_reporting(repo, index, tree, target, options, &report)?;
    progress.set_phase(Phase::Done);
    Ok(summary)
}

fn restore_reporting(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    target: &Path,
    options: &RestoreOptions,
    report: &Report<'_>,
) -> Result<RestoreSummary> {
    prepare_target(target)?;
    report.progress.set_phase(Phase::Restoring);
    let errors = Errors::default();
    let selection = walk::SelectionWalk {
        repo,
        index,
        options,
    };
    let pipeline = pipeline::Pipeline::new(repo, report, &errors, options.verify);
    let batch_plan_bytes_max = match options.batch_plan_bytes_max {
        0 => batch::BATCH_PLAN_BYTES_DEFAULT,
        n => n,
    };
    let mut outcome = std::thread::scope(|scope| {
        if report.observer.progress().is_some() {
            scope.spawn(|| {
                let mut totals = totals::Totals::default();
                selection.run(tree, target, &mut totals);
                report
                    .progress
                    .set_totals(Some(totals.files), Some(totals.bytes));
            });
        }
        for _ in 0..options.threads.max(1) {
            scope.spawn(|| pipeline.work());
        }
        // Ends the workers even if planning panics, so the scope can end (and rethrow).
        let _planning_over = PlanningOver(&pipeline);
        let mut planner = plan::Planner::new(
            index,
            report,
            &errors,
            &pipeline,
            batch_plan_bytes_max,
            options.verify,
        );
        selection.run(tree, target, &mut planner);
        planner.finish()
    });
    if let Some(fatal) = outcome.fatal.take() {
        return Err(fatal);
    }
    report.progress.set_current(None);
    report.progress.set_phase(Phase::Finishing);
    metadata::apply_to_dirs(&mut outcome.dirs, report, &errors);
    let totals = pipeline.totals();
    Ok(RestoreSummary {
        files_restored: outcome.files,
        dirs_restored: outcome.dirs.len() as u64,
        other_restored: outcome.others,
        bytes_restored: totals.bytes_written,
        files_verified: totals.files_verified,
        errors: errors.0.into_inner().expect("restore errors"),
        plan_bytes_peak: totals.plan_bytes_peak,
    })
}

/// Tells the pipeline no more batches come, when planning ends or unwinds.
struct PlanningOver<'p, 'a>(&'p pipeline::Pipeline<'a>);

impl Drop for PlanningOver<'_, '_> {
    fn drop(&mut self) {
        self.0.planning_over();
    }
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

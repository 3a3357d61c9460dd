//! What a backup tells the world while it runs: the progress model ([`crate::progress`]) it
//! updates, the observer that hears about unreadable entries, and the scanner that counts the
//! work ahead.
//!
//! Progress is not logging: the CLI renders the model as a bar or JSON lines, the daemon
//! publishes it to the job record.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::ExcludeRules;
use crate::progress::{Operation, Progress};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    New,
    Changed,
    Unmodified,
}

/// Whoever watches a backup; every method may be called from any of the pipeline's threads.
pub trait BackupObserver: Send + Sync {
    /// The progress model the backup updates. `None`: nobody shows progress, and the backup
    /// skips the extra walk of the tree that counts the totals.
    fn progress(&self) -> Option<&Progress> {
        None
    }
    /// An entry could not be read and is left out (already counted in the model).
    fn error(&self, _path: &Path, _message: &str) {}
}

/// An observer that ignores everything.
pub struct NoObserver;

impl BackupObserver for NoObserver {}

/// What the pipeline's stages report to: the model (the observer's, or one nobody reads) and
/// the observer's error callback.
pub(crate) struct Report<'a> {
    pub progress: &'a Progress,
    observer: &'a dyn BackupObserver,
    /// Whether someone reads the model (totals are counted only then).
    pub shown: bool,
}

impl<'a> Report<'a> {
    /// Runs `body` with the report of `observer`, making a model when it has none.
    pub(crate) fn with<T>(
        observer: &'a dyn BackupObserver,
        body: impl FnOnce(&Report<'_>) -> T,
    ) -> T {
        let unread;
        let (progress, shown) = match observer.progress() {
            Some(progress) => (progress, true),
            None => {
                unread = Progress::new(Operation::Backup);
                (&unread, false)
            }
        };
        body(&Report {
            progress,
            observer,
            shown,
        })
    }

    pub(crate) fn bytes_done(&self, bytes: u64) {
        self.progress.add_bytes(bytes);
    }

    pub(crate) fn file_started(&self, path: &Path) {
        self.progress.set_current(Some(&path.to_string_lossy()));
    }

    pub(crate) fn file_done(&self) {
        self.progress.add_files(1);
    }

    pub(crate) fn error(&self, path: &Path, message: &str) {
        self.progress.add_error();
        self.observer.error(path, message);
    }

    fn scanned(&self, files: u64, bytes: u64) {
        self.progress.set_totals(Some(files), Some(bytes));
    }
}

/// Running totals of the scan: files and bytes.
#[derive(Default)]
struct ScanTotals {
    files: u64,
    bytes: u64,
}

/// A background walk that counts files and bytes so progress can show a percentage and ETA.
/// The walker forwards its totals to the model with [`Scan::report`], so the model need not
/// outlive the backup.
pub(crate) struct Scan {
    stop: Arc<AtomicBool>,
    totals: Arc<Mutex<ScanTotals>>,
    handle: Option<JoinHandle<()>>,
}

impl Scan {
    pub(crate) fn start(targets: &[PathBuf], excludes: &ExcludeRules) -> Scan {
        let stop = Arc::new(AtomicBool::new(false));
        let totals = Arc::new(Mutex::new(ScanTotals::default()));
        let handle = {
            let stop = stop.clone();
            let targets = targets.to_vec();
            let excludes = excludes.clone();
            let totals = totals.clone();
            std::thread::Builder::new()
                .name("cairn-scan".into())
                .spawn(move || {
                    for target in &targets {
                        scan_path(target, &excludes, &stop, &totals);
                    }
                })
                .expect("spawn scanner")
        };
        Scan {
            stop,
            totals,
            handle: Some(handle),
        }
    }

    /// Hands the latest totals to the model.
    pub(crate) fn report(&self, report: &Report<'_>) {
        let totals = self.totals.lock().expect("scan totals");
        report.scanned(totals.files, totals.bytes);
    }

    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn scan_path(path: &Path, excludes: &ExcludeRules, stop: &AtomicBool, totals: &Mutex<ScanTotals>) {
    if stop.load(Ordering::Acquire) {
        return;
    }
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return;
    };
    if metadata.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let child = entry.path();
            if excludes.excludes_path(&child.to_string_lossy()) {
                continue;
            }
            scan_path(&child, excludes, stop, totals);
        }
    } else {
        let mut totals = totals.lock().expect("scan totals");
        totals.files += 1;
        if metadata.is_file() {
            totals.bytes += metadata.len();
        }
    }
}

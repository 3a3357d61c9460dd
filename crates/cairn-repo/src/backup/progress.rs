//! What a backup tells its observer while it runs, and the scanner that counts the work ahead.
//!
//! Progress is not logging: the CLI renders these calls as a bar or JSON lines, the daemon
//! publishes them to the job record.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::ExcludeRules;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    New,
    Changed,
    Unmodified,
}

/// Receives progress from the pipeline's threads; every method may be called concurrently.
pub trait BackupObserver: Send + Sync {
    /// Whether the observer shows totals (a percentage, an ETA). When it does not, the backup
    /// skips the extra walk of the tree that counts them.
    fn wants_totals(&self) -> bool {
        true
    }
    /// The scanner's running totals of what the backup will look at.
    fn scanned(&self, _files: u64, _bytes: u64, _finished: bool) {}
    /// Content bytes read (or taken over from the parent) so far, in increments.
    fn bytes_done(&self, _bytes: u64) {}
    /// A file is complete.
    fn file_done(&self, _path: &Path, _size: u64, _status: FileStatus) {}
    /// An entry could not be read and is left out.
    fn error(&self, _path: &Path, _message: &str) {}
}

/// An observer that ignores everything.
pub struct NoObserver;

impl BackupObserver for NoObserver {
    fn wants_totals(&self) -> bool {
        false
    }
}

/// Running totals of the scan: files, bytes, and whether the scan has finished.
#[derive(Default)]
struct ScanTotals {
    files: u64,
    bytes: u64,
    finished: bool,
}

/// A background walk that counts files and bytes so progress can show a percentage and ETA.
/// The walker forwards its totals to the observer with [`Scan::report`], so the observer need
/// not outlive the backup.
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
                    totals.lock().expect("scan totals").finished = true;
                })
                .expect("spawn scanner")
        };
        Scan {
            stop,
            totals,
            handle: Some(handle),
        }
    }

    /// Hands the latest totals to the observer.
    pub(crate) fn report(&self, observer: &dyn BackupObserver) {
        let totals = self.totals.lock().expect("scan totals");
        observer.scanned(totals.files, totals.bytes, totals.finished);
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

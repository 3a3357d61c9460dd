//! Rendering progress: a bar on a terminal, JSON status lines with `--json`, nothing otherwise.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_repo::backup::{BackupObserver, FileStatus};
use cairn_repo::restore::RestoreObserver;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// JSON status lines at most this often.
const JSON_INTERVAL: Duration = Duration::from_secs(1);

enum Output {
    Bar(ProgressBar),
    Json,
    Silent,
}

/// Progress of a backup or a restore: counts and bytes against the expected totals.
pub struct Progress {
    output: Output,
    started: Instant,
    files_done: AtomicU64,
    bytes_done: AtomicU64,
    total_files: AtomicU64,
    total_bytes: AtomicU64,
    last_json: Mutex<Instant>,
    errors: AtomicU64,
}

impl Progress {
    pub fn new(json: bool, quiet: bool) -> Progress {
        let output = if json && quiet {
            // restic's --json --quiet prints the summary only.
            Output::Silent
        } else if json {
            Output::Json
        } else if !quiet && std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(5));
            bar.set_style(
                ProgressStyle::with_template(
                    "[{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .expect("progress template"),
            );
            Output::Bar(bar)
        } else {
            Output::Silent
        };
        Progress {
            output,
            started: Instant::now(),
            files_done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            total_files: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            last_json: Mutex::new(Instant::now() - JSON_INTERVAL),
            errors: AtomicU64::new(0),
        }
    }

    fn set_totals(&self, files: u64, bytes: u64) {
        self.total_files.store(files, Ordering::Relaxed);
        self.total_bytes.store(bytes, Ordering::Relaxed);
        if let Output::Bar(bar) = &self.output {
            bar.set_length(bytes);
        }
    }

    fn add_bytes(&self, bytes: u64) {
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
        match &self.output {
            Output::Bar(bar) => bar.inc(bytes),
            Output::Json => self.json_status(false),
            Output::Silent => {}
        }
    }

    fn add_file(&self) {
        let files = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Output::Bar(bar) = &self.output {
            bar.set_message(format!("{files} files"));
        }
    }

    fn report_error(&self, path: &Path, message: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        match &self.output {
            Output::Json => {
                let line = serde_json::json!({
                    "message_type": "error",
                    "item": path.display().to_string(),
                    "error": message,
                });
                println!("{line}");
            }
            Output::Bar(bar) => bar.suspend(|| eprintln!("error: {}: {message}", path.display())),
            Output::Silent => eprintln!("error: {}: {message}", path.display()),
        }
    }

    /// Prints a status line if the last one is older than the interval (or `force`).
    fn json_status(&self, force: bool) {
        let Ok(mut last) = self.last_json.try_lock() else {
            return;
        };
        if !force && last.elapsed() < JSON_INTERVAL {
            return;
        }
        *last = Instant::now();
        let total_bytes = self.total_bytes.load(Ordering::Relaxed);
        let bytes_done = self.bytes_done.load(Ordering::Relaxed);
        let percent = if total_bytes > 0 {
            (bytes_done as f64 / total_bytes as f64).min(1.0)
        } else {
            0.0
        };
        let line = serde_json::json!({
            "message_type": "status",
            "seconds_elapsed": self.started.elapsed().as_secs(),
            "percent_done": percent,
            "total_files": self.total_files.load(Ordering::Relaxed),
            "files_done": self.files_done.load(Ordering::Relaxed),
            "total_bytes": total_bytes,
            "bytes_done": bytes_done,
            "error_count": self.errors.load(Ordering::Relaxed),
        });
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }

    /// Ends the display (clears the bar; prints a last JSON status line).
    pub fn finish(&self) {
        match &self.output {
            Output::Bar(bar) => bar.finish_and_clear(),
            Output::Json => self.json_status(true),
            Output::Silent => {}
        }
    }
}

impl BackupObserver for Progress {
    fn wants_totals(&self) -> bool {
        !matches!(self.output, Output::Silent)
    }

    fn scanned(&self, files: u64, bytes: u64, _finished: bool) {
        self.set_totals(files, bytes);
    }

    fn bytes_done(&self, bytes: u64) {
        self.add_bytes(bytes);
    }

    fn file_done(&self, _path: &Path, _size: u64, _status: FileStatus) {
        self.add_file();
    }

    fn error(&self, path: &Path, message: &str) {
        self.report_error(path, message);
    }
}

impl RestoreObserver for Progress {
    fn wants_totals(&self) -> bool {
        !matches!(self.output, Output::Silent)
    }

    fn planned(&self, files: u64, bytes: u64) {
        self.set_totals(files, bytes);
    }

    fn bytes_written(&self, bytes: u64) {
        self.add_bytes(bytes);
    }

    fn error(&self, path: &Path, message: &str) {
        self.report_error(path, message);
    }
}

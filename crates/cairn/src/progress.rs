//! Rendering the engine's progress model ([`cairn_repo::progress`]): a bar on a terminal, JSON
//! status lines with `--json`, nothing otherwise. The only progress renderer of the CLI; every
//! long command (backup, restore, prune, check, mirror, copy, run) uses it.
//!
//! A ticker thread polls the model's snapshot (the bar five times a second, a JSON line every
//! second); each phase change prints a JSON line of its own, so no phase goes unseen.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_repo::backup::BackupObserver;
use cairn_repo::progress::{Operation, Phase, Progress, ProgressSnapshot};
use cairn_repo::restore::RestoreObserver;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::format;

/// A JSON status line at least this often.
const JSON_INTERVAL: Duration = Duration::from_secs(1);
/// The bar is redrawn this often.
const BAR_INTERVAL: Duration = Duration::from_millis(200);
/// The current item is cut to this many characters on the bar.
const BAR_ITEM_CHARS: usize = 40;

enum Output {
    Bar(ProgressBar),
    /// Held while a status line is taken and printed, so the ticker's lines and the phase
    /// changes' lines come out in the order of the phases; holds the last phase printed.
    Json(Mutex<Option<Phase>>),
    Silent,
}

/// The model of one command's operation and the renderer showing it.
pub struct ProgressDisplay {
    progress: Arc<Progress>,
    output: Arc<Output>,
    ticker: Mutex<Option<Ticker>>,
}

struct Ticker {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl ProgressDisplay {
    /// Starts showing `operation`: JSON lines with `json`, a bar on a terminal unless `quiet`.
    pub fn start(operation: Operation, json: bool, quiet: bool) -> ProgressDisplay {
        let output = if json && quiet {
            // restic's --json --quiet prints the summary only.
            Output::Silent
        } else if json {
            Output::Json(Mutex::new(None))
        } else if !quiet && std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(5));
            bar.set_style(
                ProgressStyle::with_template("[{elapsed_precise}] {prefix} {bar:30} {msg}")
                    .expect("progress template"),
            );
            Output::Bar(bar)
        } else {
            Output::Silent
        };
        let display = ProgressDisplay {
            progress: Arc::new(Progress::new(operation)),
            output: Arc::new(output),
            ticker: Mutex::new(None),
        };
        display.start_ticker();
        display
    }

    fn start_ticker(&self) {
        let interval = match &*self.output {
            Output::Bar(_) => BAR_INTERVAL,
            Output::Json(_) => JSON_INTERVAL,
            Output::Silent => return,
        };
        if matches!(&*self.output, Output::Json(_)) {
            let output = self.output.clone();
            self.progress.on_phase_change(Arc::new(move |snapshot| {
                render(&output, || snapshot.clone())
            }));
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let (progress, output) = (self.progress.clone(), self.output.clone());
        let thread = std::thread::Builder::new()
            .name("cairn-progress".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => render(&output, || progress.snapshot()),
                    _ => return,
                }
            })
            .expect("spawn the progress ticker");
        *self.ticker.lock().expect("ticker") = Some(Ticker { stop, thread });
    }

    /// The model the engine updates.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Whether anyone sees the progress (when not, the engine skips counting totals).
    pub fn shown(&self) -> bool {
        !matches!(&*self.output, Output::Silent)
    }

    /// Prints a line on standard output without tearing the bar.
    pub fn println(&self, text: &str) {
        match &*self.output {
            Output::Bar(bar) => bar.suspend(|| println!("{text}")),
            _ => println!("{text}"),
        }
    }

    /// Prints a line on standard error without tearing the bar.
    pub fn eprintln(&self, text: &str) {
        match &*self.output {
            Output::Bar(bar) => bar.suspend(|| eprintln!("{text}")),
            _ => eprintln!("{text}"),
        }
    }

    fn report_error(&self, path: &Path, message: &str) {
        match &*self.output {
            Output::Json(_) => {
                let line = json!({
                    "message_type": "error",
                    "item": path.display().to_string(),
                    "error": message,
                });
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            _ => self.eprintln(&format!("error: {}: {message}", path.display())),
        }
    }

    /// Ends the display: stops the ticker, prints a last JSON status line, clears the bar.
    /// Only the first call does anything.
    pub fn finish(&self) {
        let Some(ticker) = self.ticker.lock().expect("ticker").take() else {
            return;
        };
        let _ = ticker.stop.send(());
        let _ = ticker.thread.join();
        match &*self.output {
            Output::Bar(bar) => bar.finish_and_clear(),
            Output::Json(_) => render(&self.output, || self.progress.snapshot()),
            Output::Silent => {}
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Shows the snapshot `take` returns (taken under the JSON lines' lock).
fn render(output: &Output, take: impl FnOnce() -> ProgressSnapshot) {
    match output {
        Output::Bar(bar) => {
            let snapshot = &take();
            bar.set_prefix(format!(
                "{} {}",
                snapshot.operation.as_str(),
                snapshot.phase
            ));
            bar.set_length(snapshot.bytes_total.unwrap_or(0).max(snapshot.bytes_done));
            bar.set_position(snapshot.bytes_done);
            bar.set_message(describe(snapshot, BAR_ITEM_CHARS));
        }
        Output::Json(last_phase) => {
            let mut last_phase = last_phase.lock().unwrap_or_else(|e| e.into_inner());
            let snapshot = take();
            // One line says done; later ones would repeat it.
            if *last_phase == Some(Phase::Done) && snapshot.phase == Phase::Done {
                return;
            }
            *last_phase = Some(snapshot.phase);
            let line = status_line(&snapshot);
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        Output::Silent => {}
    }
}

/// A JSON status line: restic's backup status fields, then every field of the model under
/// its own name (as the daemon's job records carry it).
pub fn status_line(snapshot: &ProgressSnapshot) -> serde_json::Value {
    let mut line = json!({
        "message_type": "status",
        "seconds_elapsed": snapshot.seconds_elapsed,
        "seconds_remaining": snapshot.eta_seconds,
        "percent_done": snapshot.percent_done,
        "total_files": snapshot.files_total.unwrap_or(0),
        "files_done": snapshot.files_done,
        "total_bytes": snapshot.bytes_total.unwrap_or(0),
        "bytes_done": snapshot.bytes_done,
        "error_count": snapshot.error_count,
    });
    if let (Some(line), Ok(serde_json::Value::Object(model))) =
        (line.as_object_mut(), serde_json::to_value(snapshot))
    {
        for (key, value) in model {
            line.entry(key).or_insert(value);
        }
        // As restic: no estimate, no field.
        if line["seconds_remaining"].is_null() {
            line.remove("seconds_remaining");
        }
    }
    line
}

/// One line for people: `45% 1.200 GiB / 3.000 GiB, 12 / 40 files, 30.000 MiB/s, ETA 1:00, ITEM`
/// (the current item cut to `item_chars`).
pub fn describe(snapshot: &ProgressSnapshot, item_chars: usize) -> String {
    let mut parts = Vec::new();
    let bytes = match snapshot.bytes_total {
        Some(total) => format!(
            "{:.0}% {} / {}",
            snapshot.percent_done * 100.0,
            format::bytes(snapshot.bytes_done),
            format::bytes(total)
        ),
        None => format::bytes(snapshot.bytes_done),
    };
    parts.push(bytes);
    let files = match snapshot.files_total {
        Some(total) => format!("{} / {total} files", snapshot.files_done),
        None => format!("{} files", snapshot.files_done),
    };
    parts.push(files);
    if snapshot.phase != Phase::Done {
        parts.push(format!(
            "{}/s",
            format::bytes(snapshot.rate_bytes_per_second)
        ));
        if let Some(eta) = snapshot.eta_seconds {
            parts.push(format!("ETA {}", format::duration(eta as f64)));
        }
    }
    if snapshot.error_count > 0 {
        parts.push(format!("{} errors", snapshot.error_count));
    }
    if let Some(item) = &snapshot.current_item {
        parts.push(cut_front(item, item_chars));
    }
    parts.join(", ")
}

/// The end of `text` when it is longer than `chars` characters (a path's end says most).
fn cut_front(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    if count <= chars {
        return text.to_string();
    }
    let tail: String = text.chars().skip(count - chars.saturating_sub(1)).collect();
    format!("…{tail}")
}

impl BackupObserver for ProgressDisplay {
    fn progress(&self) -> Option<&Progress> {
        self.shown().then_some(&*self.progress)
    }

    fn error(&self, path: &Path, message: &str) {
        self.report_error(path, message);
    }
}

impl RestoreObserver for ProgressDisplay {
    fn progress(&self) -> Option<&Progress> {
        self.shown().then_some(&*self.progress)
    }

    fn error(&self, path: &Path, message: &str) {
        self.report_error(path, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_keep_restic_fields_and_carry_the_model() {
        let progress = Progress::new(Operation::Backup);
        progress.set_phase(Phase::Uploading);
        progress.set_totals(Some(4), Some(1000));
        progress.add_files(1);
        progress.add_bytes(250);
        progress.set_current(Some("/src/a"));
        let line = status_line(&progress.snapshot());
        assert_eq!(line["message_type"], "status");
        assert_eq!(line["percent_done"], 0.25);
        assert_eq!(line["total_files"], 4);
        assert_eq!(line["files_total"], 4);
        assert_eq!(line["total_bytes"], 1000);
        assert_eq!(line["bytes_done"], 250);
        assert_eq!(line["phase"], "uploading");
        assert_eq!(line["operation"], "backup");
        assert_eq!(line["current_item"], "/src/a");
        assert!(line["rate_bytes_per_second"].is_u64());
        assert!(
            line.get("seconds_remaining").is_none(),
            "no rate yet: {line}"
        );
    }

    #[test]
    fn people_read_percent_counts_and_the_end_of_the_item() {
        let progress = Progress::new(Operation::Restore);
        progress.set_totals(Some(40), Some(3 << 30));
        progress.add_files(12);
        progress.add_bytes(3 << 29);
        progress.set_current(Some("/a/very/long/path/to/some/file.txt"));
        let text = describe(&progress.snapshot(), 12);
        assert!(
            text.starts_with("50% 1.500 GiB / 3.000 GiB, 12 / 40 files, "),
            "{text}"
        );
        assert!(text.ends_with(", …me/file.txt"), "{text}");
    }
}

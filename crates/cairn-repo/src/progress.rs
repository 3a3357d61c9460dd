//! The one progress model of every long operation (backup, restore, prune, check, mirror,
//! copy).
//!
//! The engine updates a [`Progress`] tracker from any thread (atomics; the current item and
//! the rate window behind small locks); whoever shows progress polls [`Progress::snapshot`]
//! and renders the [`ProgressSnapshot`]: the CLI as a bar or JSON status lines, the daemon
//! into the job record. Nothing here prints or writes: progress is not logging.
//!
//! What "files" and "bytes" count depends on the operation: backup and restore count files
//! and their content bytes; prune counts packs handled (repacked or deleted) and the bytes
//! repacked; check counts the packs read in full and their bytes; mirror and copy count the
//! objects (snapshots for copy) and bytes sent. Counters only grow within one operation.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The rate is measured over about this much of the recent past, so it follows the current
/// speed rather than the run's average.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Samples of the rate window are kept at most this often (bounds its memory).
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// A rate measured over less than this is noise (a few buffers in microseconds): none is
/// given until the samples span this much.
const RATE_SPAN_MIN: Duration = Duration::from_secs(1);

/// Totals not known (yet) are stored as this.
const UNKNOWN: u64 = u64::MAX;

/// Which long operation a tracker follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Backup,
    Restore,
    Prune,
    Check,
    Mirror,
    Copy,
}

impl Operation {
    const ALL: [Operation; 6] = [
        Operation::Backup,
        Operation::Restore,
        Operation::Prune,
        Operation::Check,
        Operation::Mirror,
        Operation::Copy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Backup => "backup",
            Operation::Restore => "restore",
            Operation::Prune => "prune",
            Operation::Check => "check",
            Operation::Mirror => "mirror",
            Operation::Copy => "copy",
        }
    }
}

/// Where an operation is. Each operation goes through some of these in order:
/// - backup: loading index → uploading (the walk; a scan counts totals beside it) → saving
/// - restore: restoring → finishing (directories' metadata)
/// - prune: loading index → finding used blobs → repacking → deleting
/// - check: loading index → checking structure → reading data
/// - mirror sync: listing → uploading → deleting; mirror restore: listing → downloading →
///   deleting
/// - copy: loading index → planning → copying
///
/// and ends `done` when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    #[serde(rename = "starting")]
    Starting,
    #[serde(rename = "loading index")]
    LoadingIndex,
    #[serde(rename = "listing")]
    Listing,
    #[serde(rename = "planning")]
    Planning,
    #[serde(rename = "uploading")]
    Uploading,
    #[serde(rename = "downloading")]
    Downloading,
    #[serde(rename = "saving")]
    Saving,
    #[serde(rename = "restoring")]
    Restoring,
    #[serde(rename = "finishing")]
    Finishing,
    #[serde(rename = "finding used blobs")]
    FindingUsedBlobs,
    #[serde(rename = "repacking")]
    Repacking,
    #[serde(rename = "deleting")]
    Deleting,
    #[serde(rename = "checking structure")]
    CheckingStructure,
    #[serde(rename = "reading data")]
    ReadingData,
    #[serde(rename = "copying")]
    Copying,
    #[serde(rename = "done")]
    Done,
}

impl Phase {
    const ALL: [Phase; 16] = [
        Phase::Starting,
        Phase::LoadingIndex,
        Phase::Listing,
        Phase::Planning,
        Phase::Uploading,
        Phase::Downloading,
        Phase::Saving,
        Phase::Restoring,
        Phase::Finishing,
        Phase::FindingUsedBlobs,
        Phase::Repacking,
        Phase::Deleting,
        Phase::CheckingStructure,
        Phase::ReadingData,
        Phase::Copying,
        Phase::Done,
    ];

    /// The short lowercase name renderers show (and the JSON carries).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::LoadingIndex => "loading index",
            Phase::Listing => "listing",
            Phase::Planning => "planning",
            Phase::Uploading => "uploading",
            Phase::Downloading => "downloading",
            Phase::Saving => "saving",
            Phase::Restoring => "restoring",
            Phase::Finishing => "finishing",
            Phase::FindingUsedBlobs => "finding used blobs",
            Phase::Repacking => "repacking",
            Phase::Deleting => "deleting",
            Phase::CheckingStructure => "checking structure",
            Phase::ReadingData => "reading data",
            Phase::Copying => "copying",
            Phase::Done => "done",
        }
    }

    fn code(self) -> u8 {
        Phase::ALL.iter().position(|p| *p == self).unwrap_or(0) as u8
    }

    fn from_code(code: u8) -> Phase {
        Phase::ALL
            .get(usize::from(code))
            .copied()
            .unwrap_or(Phase::Starting)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far an operation has come, at one instant. The CLI's JSON status lines and the
/// daemon's job records carry these fields under these names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressSnapshot {
    pub operation: Operation,
    pub phase: Phase,
    /// 0 to 1: by bytes when their total is known, else by files; 1 once done.
    pub percent_done: f64,
    pub files_done: u64,
    /// `None`: not known (yet).
    pub files_total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    /// Over the last [`RATE_WINDOW`], not the whole run.
    pub rate_bytes_per_second: u64,
    /// `None` when the total or the rate is not known.
    pub eta_seconds: Option<u64>,
    pub current_item: Option<String>,
    pub seconds_elapsed: u64,
    /// Entries reported as failed (unreadable files, unwritable targets).
    pub error_count: u64,
}

/// Where the tracker gets the time from (tests move it by hand).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Told of each phase change with a snapshot taken at that moment, on the thread that made
/// it. Pollers would miss a phase shorter than their interval; this does not.
pub type PhaseHook = Arc<dyn Fn(&ProgressSnapshot) + Send + Sync>;

/// The tracker the engine updates; cheap to update from many threads, shared by `Arc`.
pub struct Progress {
    clock: Clock,
    operation: AtomicU8,
    phase: AtomicU8,
    /// Bumped by [`Progress::start`], so a poller sees a new operation even when its phase
    /// name is the same as the last one's.
    generation: AtomicU64,
    files_done: AtomicU64,
    files_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    errors: AtomicU64,
    current_item: Mutex<Option<String>>,
    timing: Mutex<Timing>,
    on_phase: Mutex<Option<PhaseHook>>,
}

/// When the operation started and the recent samples of `bytes_done` the rate comes from.
struct Timing {
    started: Instant,
    /// (time, bytes done), oldest first; the first one is the base of the rate.
    samples: VecDeque<(Instant, u64)>,
}

impl Timing {
    fn new(now: Instant) -> Timing {
        Timing {
            started: now,
            samples: VecDeque::from([(now, 0)]),
        }
    }

    /// Records `bytes` at `now` and returns the rate over the window.
    fn rate(&mut self, now: Instant, bytes: u64) -> f64 {
        if self
            .samples
            .back()
            .is_none_or(|(t, _)| now.saturating_duration_since(*t) >= SAMPLE_EVERY)
        {
            self.samples.push_back((now, bytes));
        }
        // Keep the newest sample at least a window old as the base, drop the older ones.
        let cutoff = now.checked_sub(RATE_WINDOW).unwrap_or(self.started);
        while self.samples.len() > 1 && self.samples[1].0 <= cutoff {
            self.samples.pop_front();
        }
        let (since, base) = self.samples.front().copied().unwrap_or((now, bytes));
        let span = now.saturating_duration_since(since);
        if span < RATE_SPAN_MIN {
            return 0.0;
        }
        bytes.saturating_sub(base) as f64 / span.as_secs_f64()
    }
}

impl Progress {
    pub fn new(operation: Operation) -> Progress {
        Progress::with_clock(operation, Arc::new(Instant::now))
    }

    pub fn with_clock(operation: Operation, clock: Clock) -> Progress {
        let now = clock();
        Progress {
            clock,
            operation: AtomicU8::new(operation as u8),
            phase: AtomicU8::new(Phase::Starting.code()),
            generation: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            files_total: AtomicU64::new(UNKNOWN),
            bytes_done: AtomicU64::new(0),
            bytes_total: AtomicU64::new(UNKNOWN),
            errors: AtomicU64::new(0),
            current_item: Mutex::new(None),
            timing: Mutex::new(Timing::new(now)),
            on_phase: Mutex::new(None),
        }
    }

    /// Calls `hook` at every later phase change (and start of a new operation).
    pub fn on_phase_change(&self, hook: PhaseHook) {
        *self.on_phase.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    fn phase_changed(&self) {
        let hook = self
            .on_phase
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(hook) = hook {
            hook(&self.snapshot());
        }
    }

    /// Starts following a new operation with this tracker: counters, totals, errors and time
    /// start again (a plan's run hands its steps one tracker).
    pub fn start(&self, operation: Operation) {
        let now = (self.clock)();
        *self.timing.lock().unwrap_or_else(|e| e.into_inner()) = Timing::new(now);
        self.operation.store(operation as u8, Ordering::Relaxed);
        for counter in [&self.files_done, &self.bytes_done, &self.errors] {
            counter.store(0, Ordering::Relaxed);
        }
        for total in [&self.files_total, &self.bytes_total] {
            total.store(UNKNOWN, Ordering::Relaxed);
        }
        self.set_current(None);
        self.phase.store(Phase::Starting.code(), Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
        self.phase_changed();
    }

    pub fn set_phase(&self, phase: Phase) {
        if self.phase.swap(phase.code(), Ordering::AcqRel) != phase.code() {
            self.phase_changed();
        }
    }

    pub fn phase(&self) -> Phase {
        Phase::from_code(self.phase.load(Ordering::Acquire))
    }

    /// The operation and its phase, with a number that changes with each [`Progress::start`]:
    /// what a poller compares to notice a change without taking a snapshot.
    pub fn position(&self) -> (u64, Phase) {
        (self.generation.load(Ordering::Acquire), self.phase())
    }

    /// The totals of files and bytes; `None` leaves that one as it was (unknown at first).
    pub fn set_totals(&self, files: Option<u64>, bytes: Option<u64>) {
        if let Some(files) = files {
            self.files_total.store(files, Ordering::Relaxed);
        }
        if let Some(bytes) = bytes {
            self.bytes_total.store(bytes, Ordering::Relaxed);
        }
    }

    pub fn add_bytes(&self, bytes: u64) {
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn add_files(&self, files: u64) {
        self.files_done.fetch_add(files, Ordering::Relaxed);
    }

    pub fn files_done(&self) -> u64 {
        self.files_done.load(Ordering::Relaxed)
    }

    pub fn bytes_done(&self) -> u64 {
        self.bytes_done.load(Ordering::Relaxed)
    }

    /// Counts an entry that failed (the caller reports what failed).
    pub fn add_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// What is being worked on now (a path, a pack id); `None` clears it.
    pub fn set_current(&self, item: Option<&str>) {
        let mut current = self.current_item.lock().unwrap_or_else(|e| e.into_inner());
        match (current.as_mut(), item) {
            // Reuse the allocation: this is called once per file.
            (Some(held), Some(item)) => {
                held.clear();
                held.push_str(item);
            }
            (_, item) => *current = item.map(str::to_string),
        }
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        let now = (self.clock)();
        let phase = self.phase();
        let operation = Operation::ALL
            .get(usize::from(self.operation.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or(Operation::Backup);
        let known =
            |total: &AtomicU64| Some(total.load(Ordering::Relaxed)).filter(|t| *t != UNKNOWN);
        let files_total = known(&self.files_total);
        let bytes_total = known(&self.bytes_total);
        let files_done = self.files_done.load(Ordering::Relaxed);
        let bytes_done = self.bytes_done.load(Ordering::Relaxed);
        let (rate, elapsed) = {
            let mut timing = self.timing.lock().unwrap_or_else(|e| e.into_inner());
            let rate = timing.rate(now, bytes_done);
            (rate, now.saturating_duration_since(timing.started))
        };
        let eta_seconds = match bytes_total {
            Some(total) if bytes_done >= total => Some(0),
            Some(total) if rate > 0.0 => Some(((total - bytes_done) as f64 / rate).ceil() as u64),
            _ => None,
        };
        let eta_seconds = if phase == Phase::Done {
            Some(0)
        } else {
            eta_seconds
        };
        let share = |done: u64, total: Option<u64>| {
            total
                .filter(|t| *t > 0)
                .map(|t| (done as f64 / t as f64).min(1.0))
        };
        let percent_done = if phase == Phase::Done {
            1.0
        } else {
            share(bytes_done, bytes_total)
                .or_else(|| share(files_done, files_total))
                .unwrap_or(0.0)
        };
        ProgressSnapshot {
            operation,
            phase,
            percent_done,
            files_done,
            files_total,
            bytes_done,
            bytes_total,
            rate_bytes_per_second: rate.round() as u64,
            eta_seconds,
            current_item: self
                .current_item
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            seconds_elapsed: elapsed.as_secs(),
            error_count: self.error_count(),
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not a snapshot: that would add a sample to the rate window.
        f.debug_struct("Progress")
            .field("phase", &self.phase())
            .field("files_done", &self.files_done())
            .field("bytes_done", &self.bytes_done())
            .field("error_count", &self.error_count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock tests move by hand.
    struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        fn start() -> Arc<ManualClock> {
            Arc::new(ManualClock(Mutex::new(Instant::now())))
        }

        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }

        fn tracker(self: &Arc<Self>, operation: Operation) -> Progress {
            let clock = self.clone();
            Progress::with_clock(operation, Arc::new(move || *clock.0.lock().unwrap()))
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn rate_and_eta_follow_the_last_ten_seconds_not_the_whole_run() {
        let clock = ManualClock::start();
        let progress = clock.tracker(Operation::Backup);
        progress.set_totals(Some(10), Some(1000 * MIB));
        // 20 s at 10 MiB/s, polled every second as a renderer does.
        for _ in 0..20 {
            clock.advance(Duration::from_secs(1));
            progress.add_bytes(10 * MIB);
            let snapshot = progress.snapshot();
            assert_eq!(snapshot.rate_bytes_per_second, 10 * MIB);
        }
        // Then 12 s at 1 MiB/s: the window forgets the fast part.
        for _ in 0..12 {
            clock.advance(Duration::from_secs(1));
            progress.add_bytes(MIB);
            progress.snapshot();
        }
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.rate_bytes_per_second, MIB, "{snapshot:?}");
        assert_eq!(snapshot.bytes_done, 212 * MIB);
        // 788 MiB left at 1 MiB/s; the run's average (6.6 MiB/s) would say 119 s.
        assert_eq!(snapshot.eta_seconds, Some(788));
        assert_eq!(snapshot.seconds_elapsed, 32);
        assert!((snapshot.percent_done - 0.212).abs() < 1e-9);
    }

    #[test]
    fn a_stall_shows_no_rate_and_no_eta_once_the_window_has_passed() {
        let clock = ManualClock::start();
        let progress = clock.tracker(Operation::Mirror);
        progress.set_totals(None, Some(100 * MIB));
        clock.advance(Duration::from_secs(2));
        progress.add_bytes(20 * MIB);
        assert_eq!(progress.snapshot().rate_bytes_per_second, 10 * MIB);
        assert_eq!(progress.snapshot().eta_seconds, Some(8));
        for _ in 0..11 {
            clock.advance(Duration::from_secs(1));
            progress.snapshot();
        }
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.rate_bytes_per_second, 0);
        assert_eq!(snapshot.eta_seconds, None);
    }

    #[test]
    fn a_rate_is_measured_between_sparse_polls_too() {
        let clock = ManualClock::start();
        let progress = clock.tracker(Operation::Restore);
        progress.set_totals(Some(1), Some(90 * MIB));
        clock.advance(Duration::from_secs(30));
        progress.add_bytes(60 * MIB);
        // No poll for 30 s: the base is the start.
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.rate_bytes_per_second, 2 * MIB);
        assert_eq!(snapshot.eta_seconds, Some(15));
    }

    #[test]
    fn no_rate_is_guessed_from_less_than_a_second() {
        let clock = ManualClock::start();
        let progress = clock.tracker(Operation::Backup);
        progress.set_totals(None, Some(100 * MIB));
        clock.advance(Duration::from_millis(10));
        progress.add_bytes(8 * MIB);
        let early = progress.snapshot();
        assert_eq!((early.rate_bytes_per_second, early.eta_seconds), (0, None));
        clock.advance(Duration::from_millis(990));
        assert_eq!(progress.snapshot().rate_bytes_per_second, 8 * MIB);
    }

    #[test]
    fn unknown_totals_give_no_eta_and_percent_falls_back_to_files() {
        let clock = ManualClock::start();
        let progress = clock.tracker(Operation::Prune);
        clock.advance(Duration::from_secs(1));
        progress.add_bytes(MIB);
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.files_total, None);
        assert_eq!(snapshot.bytes_total, None);
        assert_eq!(snapshot.eta_seconds, None);
        assert_eq!(snapshot.percent_done, 0.0);
        progress.set_totals(Some(4), None);
        progress.add_files(1);
        assert_eq!(progress.snapshot().percent_done, 0.25);
        progress.set_phase(Phase::Done);
        let done = progress.snapshot();
        assert_eq!((done.percent_done, done.eta_seconds), (1.0, Some(0)));
    }

    #[test]
    fn start_begins_a_new_operation_from_zero() {
        let clock = ManualClock::start();
        let progress = clock.tracker(Operation::Backup);
        progress.set_phase(Phase::Uploading);
        progress.set_totals(Some(3), Some(300));
        progress.add_files(2);
        progress.add_bytes(200);
        progress.add_error();
        progress.set_current(Some("/src/a"));
        let before = progress.position();
        clock.advance(Duration::from_secs(5));
        progress.start(Operation::Check);
        assert_ne!(progress.position(), before);
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.operation, Operation::Check);
        assert_eq!(snapshot.phase, Phase::Starting);
        assert_eq!(
            (
                snapshot.files_done,
                snapshot.bytes_done,
                snapshot.error_count
            ),
            (0, 0, 0)
        );
        assert_eq!((snapshot.files_total, snapshot.bytes_total), (None, None));
        assert_eq!(snapshot.current_item, None);
        assert_eq!(snapshot.seconds_elapsed, 0);
    }

    #[test]
    fn every_phase_change_reaches_the_hook_once_with_its_snapshot() {
        let clock = ManualClock::start();
        let progress = clock.tracker(Operation::Prune);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        progress.on_phase_change(Arc::new(move |s: &ProgressSnapshot| {
            record.lock().unwrap().push((s.operation, s.phase))
        }));
        for phase in [
            Phase::LoadingIndex,
            Phase::FindingUsedBlobs,
            Phase::FindingUsedBlobs,
            Phase::Repacking,
            Phase::Deleting,
            Phase::Done,
        ] {
            progress.set_phase(phase);
        }
        progress.start(Operation::Check);
        let expected = vec![
            (Operation::Prune, Phase::LoadingIndex),
            (Operation::Prune, Phase::FindingUsedBlobs),
            (Operation::Prune, Phase::Repacking),
            (Operation::Prune, Phase::Deleting),
            (Operation::Prune, Phase::Done),
            (Operation::Check, Phase::Starting),
        ];
        assert_eq!(*seen.lock().unwrap(), expected);
    }

    #[test]
    fn the_snapshot_serializes_with_the_names_renderers_read() {
        let clock = ManualClock::start();
        let progress = clock.tracker(Operation::Check);
        progress.set_phase(Phase::ReadingData);
        progress.set_current(Some("pack 1234abcd"));
        let value = serde_json::to_value(progress.snapshot()).unwrap();
        assert_eq!(value["operation"], "check");
        assert_eq!(value["phase"], "reading data");
        assert_eq!(value["current_item"], "pack 1234abcd");
        for field in [
            "percent_done",
            "files_done",
            "files_total",
            "bytes_done",
            "bytes_total",
            "rate_bytes_per_second",
            "eta_seconds",
            "seconds_elapsed",
            "error_count",
        ] {
            assert!(value.get(field).is_some(), "{field} missing: {value}");
        }
        let back: ProgressSnapshot = serde_json::from_value(value).unwrap();
        assert_eq!(back.phase, Phase::ReadingData);
    }
}

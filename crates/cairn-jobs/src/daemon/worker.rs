//! Running one job for the daemon: the runner with the job's cancel flag, its progress and log
//! published as they come, then what follows from how it ended (a retry, alerts).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_config::NotifyEvent;
use cairn_repo::backup::{BackupObserver, FileStatus};
use cairn_state::{JobId, JobKind, JobRecord, JobState, NewJob, StepState, Trigger};
use serde_json::json;

use super::{queue, Alert, Daemon, DaemonEvent};
use crate::runner::{run_plan, RunObserver, RunRequest};

/// Progress is written to the state at most this often (and published as often), so a
/// change is visible within the 2 seconds without a write per file.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

impl Daemon {
    /// Runs `job` (already marked running) to its end; never panics the daemon.
    pub(super) fn execute(self: Arc<Self>, job: JobRecord, cancel: Arc<AtomicBool>) {
        let config = self.config();
        let observer = JobObserver::new(self.clone(), job.id);
        let plan = job.plan.clone().unwrap_or_default();
        let now = || (self.options.clock)();
        let request = RunRequest {
            config: &config,
            plan: &plan,
            kind: job.kind,
            trigger: job.trigger,
            job: Some(job.id),
            cancel: Some(cancel),
            dry_run: false,
            open: self.options.open.clone(),
            streams_of: self.options.streams_of,
            now: &now,
        };
        let outcome = run_plan(&request, &self.state, &observer);
        observer.flush();
        let finished = match outcome {
            Ok(outcome) => {
                if outcome.job.state == JobState::Succeeded && job.kind == JobKind::Backup {
                    self.record_repository_size(&config, &plan);
                }
                self.after(&outcome.job, outcome.retryable);
                outcome.job
            }
            Err(e) => {
                // The job could not even run (a plan removed by a reload, the state failing).
                let end = cairn_state::JobEnd {
                    state: JobState::Failed,
                    snapshot: None,
                    bytes_added: None,
                    error: Some(e.to_string()),
                };
                if let Err(e) = self.state.finish_job(job.id, &end, self.now()) {
                    tracing::error!("cannot record the end of job {}: {e}", job.id);
                }
                let record = self.state.job(job.id).unwrap_or(job);
                self.after(&record, false);
                record
            }
        };
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&finished.id);
        self.wake.notify_one();
    }

    /// Measures the plan's repository (a listing, no reads) for `cairn_repository_size_bytes`.
    fn record_repository_size(&self, config: &cairn_config::Config, plan: &str) {
        let Ok(plan) = config.plan(plan) else { return };
        let entry = config.repository_of(plan);
        let what = format!("repository {}", entry.name);
        let measured = crate::open::store(
            &entry.location,
            entry.credentials_file.as_deref(),
            &what,
            &crate::open::S3Settings::default(),
        )
        .and_then(|store| {
            let mut total = 0u64;
            for kind in cairn_storage::FileKind::ALL {
                total += store.list(kind)?.iter().map(|o| o.size).sum::<u64>();
            }
            Ok(total)
        });
        match measured {
            Ok(bytes) => {
                let key = format!("{}{}", super::metrics::REPOSITORY_SIZE_KEY, entry.name);
                if let Err(e) = self.state.set_daemon_value(&key, &bytes.to_string()) {
                    tracing::warn!("cannot record the size of {what}: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot measure {what}: {e}"),
        }
    }

    /// What follows a job's end: publish it, retry a passing failure, tell people.
    fn after(&self, job: &JobRecord, retryable: bool) {
        self.publish(DaemonEvent::Job { job: job.clone() });
        self.options.alerts.job_changed(job);
        let plan_name = job.plan.clone().unwrap_or_default();
        let retries = self
            .config()
            .plans
            .get(&plan_name)
            .map_or(0, |plan| plan.retries);
        match job.state {
            JobState::Failed if retryable && job.attempt <= retries && !self.is_stopping() => {
                let wait = queue::retry_backoff(job.attempt + 1);
                let not_before = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                tracing::info!(
                    "job {} failed ({}); retrying in {}s",
                    job.id,
                    job.error.as_deref().unwrap_or(""),
                    wait.as_secs()
                );
                let retry = NewJob {
                    attempt: job.attempt + 1,
                    retry_of: Some(job.id),
                    not_before: Some(not_before),
                    ..NewJob::first(
                        job.kind,
                        job.plan.clone(),
                        job.repository.clone(),
                        Trigger::Retry,
                        self.now(),
                    )
                };
                if let Err(e) = self.queue_job(retry) {
                    tracing::error!("cannot queue a retry of job {}: {e}", job.id);
                }
            }
            JobState::Failed => {
                let raised = self.state.raise_alert(&plan_name, "failure", self.now());
                if let Err(e) = &raised {
                    tracing::warn!("cannot record an alert: {e}");
                }
                self.options.alerts.alert(Alert {
                    event: match job.kind {
                        JobKind::Drill => NotifyEvent::DrillFailed,
                        _ => NotifyEvent::Failure,
                    },
                    plan: job.plan.clone(),
                    job: Some(job.clone()),
                    detail: job.error.clone().unwrap_or_default(),
                });
            }
            JobState::Succeeded if job.kind == JobKind::Backup => {
                let mut recovered = false;
                for alert in ["stale", "failure"] {
                    recovered |= self.state.clear_alert(&plan_name, alert).unwrap_or(false);
                }
                if recovered {
                    self.options.alerts.alert(Alert {
                        event: NotifyEvent::Recovered,
                        plan: job.plan.clone(),
                        job: Some(job.clone()),
                        detail: "a backup succeeded again".into(),
                    });
                }
                self.options.alerts.alert(Alert {
                    event: NotifyEvent::Success,
                    plan: job.plan.clone(),
                    job: Some(job.clone()),
                    detail: job
                        .snapshot
                        .as_deref()
                        .map(|s| format!("snapshot {}", &s[..8.min(s.len())]))
                        .unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
}

/// Publishes a job's steps, log lines and backup progress; writes the progress to the state,
/// throttled.
struct JobObserver {
    daemon: Arc<Daemon>,
    job: JobId,
    step: Mutex<String>,
    files: AtomicU64,
    bytes: AtomicU64,
    total_files: AtomicU64,
    total_bytes: AtomicU64,
    started: Instant,
    last_write: Mutex<Instant>,
}

impl JobObserver {
    fn new(daemon: Arc<Daemon>, job: JobId) -> JobObserver {
        JobObserver {
            daemon,
            job,
            step: Mutex::new(String::new()),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            total_files: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            started: Instant::now(),
            last_write: Mutex::new(Instant::now() - PROGRESS_EVERY),
        }
    }

    fn snapshot(&self) -> serde_json::Value {
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let total = self.total_bytes.load(Ordering::Relaxed);
        let rate = bytes as f64 / elapsed;
        json!({
            "phase": *self.step.lock().unwrap_or_else(|e| e.into_inner()),
            "files_done": self.files.load(Ordering::Relaxed),
            "files_total": self.total_files.load(Ordering::Relaxed),
            "bytes_done": bytes,
            "bytes_total": total,
            "rate_bytes_per_sec": rate.round(),
            "eta_secs": (total > bytes && rate > 0.0).then(|| ((total - bytes) as f64 / rate).round()),
        })
    }

    /// Writes and publishes the progress if the last write is old enough.
    fn maybe_write(&self) {
        {
            let mut last = self.last_write.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < PROGRESS_EVERY {
                return;
            }
            *last = Instant::now();
        }
        self.write();
    }

    fn write(&self) {
        let progress = self.snapshot();
        if let Err(e) = self.daemon.state.set_progress(self.job, &progress) {
            tracing::warn!("cannot record the progress of job {}: {e}", self.job);
        }
        self.daemon.publish(DaemonEvent::Progress {
            job: self.job,
            progress,
        });
    }

    fn flush(&self) {
        self.write();
    }
}

impl RunObserver for JobObserver {
    fn step_started(&self, name: &str) {
        *self.step.lock().unwrap_or_else(|e| e.into_inner()) = name.to_string();
        self.write();
    }

    fn step_finished(&self, _name: &str, _state: StepState, _detail: &str) {
        self.write();
    }

    fn log(&self, seq: u32, source: &str, line: &str) {
        self.daemon.publish(DaemonEvent::Log {
            job: self.job,
            seq,
            source: source.to_string(),
            line: line.to_string(),
        });
    }

    fn backup(&self) -> &dyn BackupObserver {
        self
    }
}

impl BackupObserver for JobObserver {
    fn scanned(&self, files: u64, bytes: u64, _finished: bool) {
        self.total_files.store(files, Ordering::Relaxed);
        self.total_bytes.store(bytes, Ordering::Relaxed);
        self.maybe_write();
    }

    fn bytes_done(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.maybe_write();
    }

    fn file_done(&self, _path: &Path, _size: u64, _status: FileStatus) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.maybe_write();
    }
}

//! Running one job for the daemon: the runner with the job's cancel flag, its progress and log
//! published as they come, then what follows from how it ended (a retry, alerts).

use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use cairn_config::NotifyEvent;
use cairn_repo::progress::{Operation, Progress, ProgressSnapshot};
use cairn_state::{JobId, JobKind, JobRecord, JobState, NewJob, Trigger};

use super::{queue, Alert, Daemon, DaemonEvent};
use crate::runner::{run_plan, RunObserver, RunRequest};

/// Progress is written to the state at most this often between phase changes (and published
/// as often), so a change is visible within the 2 seconds without a write per file.
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
            cancel: Some(cancel.clone()),
            dry_run: false,
            open: self.options.open.clone(),
            streams_of: self.options.streams_of,
            now: &now,
        };
        let outcome = if matches!(
            job.kind,
            JobKind::Restore
                | JobKind::MirrorVerify
                | JobKind::MirrorRestore
                | JobKind::ServerBackup
        ) {
            self.run_restore(&config, &job, cancel, &observer)
        } else {
            run_plan(&request, &self.state, &observer)
        };
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
        // What the job wrote (or removed) must show in the next browse of its repository.
        if let Some(repository) = &finished.repository {
            self.browser.forget(repository);
        }
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&finished.id);
        self.wake.notify_one();
    }

    /// A job of no plan (a restore, an offsite job, a server backup): its one step, then
    /// the job's end, recorded.
    fn run_restore(
        &self,
        config: &cairn_config::Config,
        job: &JobRecord,
        cancel: Arc<AtomicBool>,
        observer: &JobObserver,
    ) -> crate::Result<crate::runner::RunOutcome> {
        let now = || self.now();
        if job.kind == JobKind::ServerBackup {
            let end =
                crate::server_backup::run_job(config, &self.state, job, &cancel, observer, &now)?;
            self.state.finish_job(job.id, &end, self.now())?;
            return Ok(crate::runner::RunOutcome {
                job: self.state.job(job.id)?,
                unreadable_files: 0,
                retryable: false,
            });
        }
        // Jobs of a repository, not of a plan: each runs its own one-step body.
        let run = match job.kind {
            JobKind::Restore => crate::browse::restore::run_job,
            _ => crate::offsite_jobs::run_job,
        };
        let end = run(
            config,
            &self.state,
            job,
            &self.options.open,
            cancel,
            observer,
            &now,
        )?;
        self.state.finish_job(job.id, &end, self.now())?;
        Ok(crate::runner::RunOutcome {
            job: self.state.job(job.id)?,
            unreadable_files: 0,
            retryable: false,
        })
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
                    request: job.request.clone(),
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
                // A plan's alert stays raised until its next success; a job of no plan (a
                // restore from the UI) is told about once and leaves no alert behind.
                if job.plan.is_some() {
                    if let Err(e) = self.state.raise_alert(&plan_name, "failure", self.now()) {
                        tracing::warn!("cannot record an alert: {e}");
                    }
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

/// Publishes a job's steps and log lines, and records the progress model its steps update
/// into the job record: at each phase change, and in between at most every
/// [`PROGRESS_EVERY`] while something changed.
struct JobObserver {
    progress: Arc<Progress>,
    recorder: Arc<ProgressRecorder>,
    ticker: Mutex<Option<Ticker>>,
    daemon: Arc<Daemon>,
    job: JobId,
}

struct Ticker {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// Writes snapshots of the model into the job record (as they are: the CLI's JSON status
/// lines carry the same fields under the same names) and publishes them.
struct ProgressRecorder {
    daemon: Arc<Daemon>,
    job: JobId,
    /// The last snapshot written; also serializes the writes of the ticker and the phase hook.
    last: Mutex<Option<ProgressSnapshot>>,
}

impl ProgressRecorder {
    fn write(&self, snapshot: &ProgressSnapshot) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let progress = match serde_json::to_value(snapshot) {
            Ok(progress) => progress,
            Err(e) => return tracing::warn!("cannot encode the progress of job {}: {e}", self.job),
        };
        if let Err(e) = self.daemon.state.set_progress(self.job, &progress) {
            tracing::warn!("cannot record the progress of job {}: {e}", self.job);
        }
        self.daemon.publish(DaemonEvent::Progress {
            job: self.job,
            progress,
        });
        *last = Some(snapshot.clone());
    }

    /// Writes `snapshot` unless only the clock moved since the last one.
    fn write_if_changed(&self, snapshot: &ProgressSnapshot) {
        let changed = {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            last.as_ref().is_none_or(|last| {
                let mut same_time = snapshot.clone();
                same_time.seconds_elapsed = last.seconds_elapsed;
                same_time != *last
            })
        };
        if changed {
            self.write(snapshot);
        }
    }
}

impl JobObserver {
    fn new(daemon: Arc<Daemon>, job: JobId) -> JobObserver {
        let progress = Arc::new(Progress::new(Operation::Backup));
        let recorder = Arc::new(ProgressRecorder {
            daemon: daemon.clone(),
            job,
            last: Mutex::new(None),
        });
        let hook = recorder.clone();
        progress.on_phase_change(Arc::new(move |snapshot| hook.write(snapshot)));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = {
            let (progress, recorder) = (progress.clone(), recorder.clone());
            std::thread::Builder::new()
                .name(format!("cairn-job-{job}-progress"))
                .spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) =
                        stopped.recv_timeout(PROGRESS_EVERY)
                    {
                        // Nothing to show before the first step starts the model.
                        if progress.position().0 > 0 {
                            recorder.write_if_changed(&progress.snapshot());
                        }
                    }
                })
                .expect("spawn the progress recorder")
        };
        JobObserver {
            progress,
            recorder,
            ticker: Mutex::new(Some(Ticker { stop, thread })),
            daemon,
            job,
        }
    }

    /// Stops the ticker and records the last state of the model; only the first call does.
    fn flush(&self) {
        let Some(ticker) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let _ = ticker.stop.send(());
        let _ = ticker.thread.join();
        if self.progress.position().0 > 0 {
            self.recorder.write(&self.progress.snapshot());
        }
    }
}

impl Drop for JobObserver {
    fn drop(&mut self) {
        self.flush();
    }
}

impl RunObserver for JobObserver {
    fn log(&self, seq: u32, source: &str, line: &str) {
        self.daemon.publish(DaemonEvent::Log {
            job: self.job,
            seq,
            source: source.to_string(),
            line: line.to_string(),
        });
    }

    fn progress(&self) -> Option<&Progress> {
        Some(&self.progress)
    }
}

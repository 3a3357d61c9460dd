//! The daemon's engine room: the scheduler that queues plans on their schedules, the queue
//! that starts jobs (one per repository, a global cap), the workers that run them, retries,
//! cancellation, crash recovery, and the events the API publishes.
//!
//! # Layout
//! - [`schedule`]: next runs, missed runs, staleness (pure, fake clock in tests).
//! - [`queue`]: which queued jobs start now (pure).
//! - [`Daemon`] (here): the shared state and its loops; [`status`] and [`metrics`] read it.
//!
//! Jobs run on blocking threads (the engine is synchronous); the loops run on tokio. Every
//! job is a record in the state database before it runs, so a crash leaves a trace: jobs
//! found `running` at start-up become `interrupted` and are queued again once.

pub mod alerts;
pub mod metrics;
pub mod queue;
pub mod schedule;
pub mod status;
mod worker;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use cairn_config::Config;
use cairn_state::{JobEnd, JobId, JobKind, JobRecord, JobState, NewJob, StateStore, Trigger};
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, Notify};

use crate::open::OpenOptions;
use crate::runner::StreamsOf;
use crate::{JobError, Result};

/// How often the daemon records that it is alive (what a restart measures missed runs from).
const TICK_EVERY: Duration = Duration::from_secs(30);
/// How often staleness is judged.
const STALE_CHECK_EVERY: Duration = Duration::from_secs(60);
/// The `daemon_values` key of the last tick.
const LAST_TICK: &str = "last_tick";
/// The alert of a plan whose offsite copy is behind.
const OFFSITE_STALE: &str = "offsite_stale";

/// What the daemon publishes as it happens (Server-Sent Events of the API).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DaemonEvent {
    /// A job was queued, started or ended.
    Job { job: JobRecord },
    Progress {
        job: JobId,
        progress: serde_json::Value,
    },
    Log {
        job: JobId,
        /// Position in the job's log (what `GET …/log` returned comes first).
        seq: u32,
        source: String,
        line: String,
    },
}

/// Something the daemon raises for people (the notifier delivers it).
#[derive(Debug, Clone)]
pub struct Alert {
    pub event: cairn_config::NotifyEvent,
    pub plan: Option<String>,
    pub job: Option<JobRecord>,
    pub detail: String,
}

/// A notification channel is reported as failing (`cairn status`, the health endpoint) once
/// this many of its deliveries in a row failed after their retries.
pub const FAILING_CHANNEL_RUN: u32 = 3;

/// Where alerts go (the notification channels; a test collects them).
pub trait AlertSink: Send + Sync {
    fn alert(&self, alert: Alert);
    /// A job started or ended (healthchecks-style pings use both).
    fn job_changed(&self, _job: &JobRecord) {}
    /// The config was reloaded: its channels from now on.
    fn reload(&self, _config: &Config) {}
}

/// An alert sink that only logs, for a daemon without channels.
pub struct LogAlerts;
impl AlertSink for LogAlerts {
    fn alert(&self, alert: Alert) {
        let plan = alert.plan.as_deref().unwrap_or("-");
        match alert.event {
            cairn_config::NotifyEvent::Success | cairn_config::NotifyEvent::Recovered => {
                tracing::info!("{} for plan {plan}: {}", alert.event, alert.detail)
            }
            _ => tracing::warn!("{} for plan {plan}: {}", alert.event, alert.detail),
        }
    }
}

/// A running job: how to stop it, and the repository it holds.
struct Running {
    cancel: Arc<AtomicBool>,
    repository: String,
}

/// How the daemon was set up; what the tests change.
pub struct DaemonOptions {
    pub open: OpenOptions,
    pub streams_of: StreamsOf<'static>,
    pub clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    pub alerts: Arc<dyn AlertSink>,
}

pub struct Daemon {
    /// Replaced whole on reload; jobs keep the config they started with.
    config: RwLock<Arc<Config>>,
    state: Arc<StateStore>,
    running: Mutex<HashMap<JobId, Running>>,
    /// Wakes the dispatcher: a job was queued or one ended.
    wake: Notify,
    events: broadcast::Sender<DaemonEvent>,
    /// Set on shutdown: no new job starts.
    stopping: AtomicBool,
    started: DateTime<Utc>,
    /// Repositories opened for browsing, dropped when a job on them ends.
    browser: crate::browse::Browser,
    options: DaemonOptions,
}

impl Daemon {
    /// Opens the state, marks jobs a crash left running as interrupted (and queues each again
    /// once), and queues a catch-up run for every plan that missed its schedule.
    pub fn start(config: Config, options: DaemonOptions) -> Result<Arc<Daemon>> {
        let state = Arc::new(StateStore::open(&config.state_dir)?);
        // The recovery key is made with the state directory (here, or by the first server
        // backup of a state directory older than it); its secret waits for `show --once`.
        if let Err(e) = cairn_access::RecoveryKey::ensure(&config.state_dir) {
            tracing::warn!("cannot make the recovery key: {e}");
        }
        // A server that never backs itself up would go unnoticed until the day it is lost:
        // say so at every start.
        if config.server.is_some() && !config.server_backup.configured {
            if let Err(why) = config.server_backup.resolve(config.repositories.values()) {
                tracing::warn!(
                    "this server does not back itself up ({why}); add [server_backup] \
                     (README \"Disaster recovery\")"
                );
            }
        }
        let now = (options.clock)();
        let (events, _) = broadcast::channel(1024);
        let daemon = Arc::new(Daemon {
            config: RwLock::new(Arc::new(config)),
            state,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            events,
            stopping: AtomicBool::new(false),
            started: now,
            browser: crate::browse::Browser::new(options.open.clone()),
            options,
        });
        daemon.recover_interrupted()?;
        daemon.catch_up()?;
        daemon
            .state
            .set_daemon_value(LAST_TICK, &now.to_rfc3339())?;
        Ok(daemon)
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// The state store, shared (for work that outlives a borrow, e.g. a test notification).
    pub fn state_handle(&self) -> Arc<StateStore> {
        self.state.clone()
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.options.clock)()
    }

    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// Repositories opened for browsing (the API's snapshots, trees, downloads).
    pub fn browser(&self) -> &crate::browse::Browser {
        &self.browser
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DaemonEvent> {
        self.events.subscribe()
    }

    fn publish(&self, event: DaemonEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// Replaces the config (already validated by the caller); running jobs keep theirs.
    pub fn reload(&self, config: Config) {
        self.options.alerts.reload(&config);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        self.wake.notify_one();
    }

    fn recover_interrupted(&self) -> Result<()> {
        let now = self.now();
        for job in self.state.jobs_in(JobState::Running)? {
            let end = JobEnd {
                state: JobState::Interrupted,
                snapshot: job.snapshot.clone(),
                bytes_added: job.bytes_added,
                error: Some("the daemon stopped while the job ran".into()),
            };
            self.state.finish_job(job.id, &end, now)?;
            // Queued again once: a job that was itself the re-run of an interrupted one is not.
            let again = match job.retry_of {
                Some(previous) => self.state.job(previous)?.state != JobState::Interrupted,
                None => true,
            };
            if again {
                tracing::warn!("job {} was interrupted; queueing it again", job.id);
                self.queue_job(NewJob {
                    attempt: job.attempt + 1,
                    retry_of: Some(job.id),
                    request: job.request.clone(),
                    ..NewJob::first(
                        job.kind,
                        job.plan.clone(),
                        job.repository.clone(),
                        Trigger::Retry,
                        now,
                    )
                })?;
            }
        }
        Ok(())
    }

    fn catch_up(&self) -> Result<()> {
        let config = self.config();
        let now = self.now();
        let last_tick = self
            .state
            .daemon_value(LAST_TICK)?
            .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
            .map(|t| t.with_timezone(&Utc));
        for plan in config.plans.values() {
            let last_job = self.state.last_job_created(&plan.name, JobKind::Backup)?;
            if let Some(due) = schedule::missed_run(plan, last_tick, last_job, now) {
                tracing::info!(
                    "plan {} missed its run at {due}; running it once now",
                    plan.name
                );
                self.queue_plan(&plan.name, JobKind::Backup, Trigger::CatchUp)?;
            }
        }
        Ok(())
    }

    /// Queues a job of `kind` for `plan`; returns its record.
    pub fn queue_plan(&self, plan: &str, kind: JobKind, trigger: Trigger) -> Result<JobRecord> {
        let config = self.config();
        let plan = config.plan(plan).map_err(JobError::InvalidInput)?;
        self.queue_job(NewJob::first(
            kind,
            Some(plan.name.clone()),
            Some(plan.repository.clone()),
            trigger,
            self.now(),
        ))
    }

    /// Queues a job of the offsite of repository `name` (`mirror-verify` or
    /// `mirror-restore`) with its checked request; see [`crate::offsite_jobs`].
    pub fn queue_offsite_job(
        &self,
        name: &str,
        kind: JobKind,
        request: serde_json::Value,
    ) -> Result<JobRecord> {
        self.queue_job(NewJob {
            request: Some(request),
            ..NewJob::first(
                kind,
                None,
                Some(name.to_string()),
                Trigger::Manual,
                self.now(),
            )
        })
    }

    /// Checks `request` and queues a restore from repository `name` (a job of its own, no
    /// plan); returns its record. See [`crate::browse::restore`].
    pub fn queue_restore(
        &self,
        name: &str,
        request: &crate::browse::restore::RestoreRequest,
    ) -> Result<JobRecord> {
        let config = self.config();
        let checked = crate::browse::restore::prepare(&self.browser, &config, name, request)?;
        let request = serde_json::to_value(&checked).map_err(|e| {
            JobError::InvalidInput(format!("cannot record the restore request: {e}"))
        })?;
        self.queue_job(NewJob {
            request: Some(request),
            ..NewJob::first(
                JobKind::Restore,
                None,
                Some(name.to_string()),
                Trigger::Manual,
                self.now(),
            )
        })
    }

    /// Queues a server backup (see [`crate::server_backup`]); the destination is checked
    /// first, so a config without one is refused here rather than failing later.
    pub fn queue_server_backup(&self, trigger: Trigger) -> Result<JobRecord> {
        let config = self.config();
        config
            .server_backup
            .resolve(config.repositories.values())
            .map_err(JobError::InvalidInput)?;
        self.queue_job(NewJob::first(
            JobKind::ServerBackup,
            None,
            None,
            trigger,
            self.now(),
        ))
    }

    fn queue_job(&self, job: NewJob) -> Result<JobRecord> {
        let id = self.state.create_job(&job, None)?;
        let record = self.state.job(id)?;
        self.publish(DaemonEvent::Job {
            job: record.clone(),
        });
        self.wake.notify_one();
        Ok(record)
    }

    /// Cancels a queued or running job; the error says when it cannot be.
    pub fn cancel(&self, id: JobId) -> Result<JobRecord> {
        if let Some(running) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            running.cancel.store(true, Ordering::Relaxed);
            return Ok(self.state.job(id)?);
        }
        if self.state.cancel_queued(id, self.now())? {
            let record = self.state.job(id)?;
            self.publish(DaemonEvent::Job {
                job: record.clone(),
            });
            return Ok(record);
        }
        let job = self.state.job(id)?;
        Err(JobError::InvalidInput(format!(
            "job {id} is {}; only queued or running jobs can be cancelled",
            job.state
        )))
    }

    /// Queues a finished job again (a manual retry).
    pub fn retry(&self, id: JobId) -> Result<JobRecord> {
        let job = self.state.job(id)?;
        if !job.state.is_final() {
            return Err(JobError::InvalidInput(format!(
                "job {id} is {}; retry a job once it has ended",
                job.state
            )));
        }
        self.queue_job(NewJob {
            attempt: job.attempt + 1,
            retry_of: Some(id),
            request: job.request.clone(),
            ..NewJob::first(
                job.kind,
                job.plan,
                job.repository,
                Trigger::Manual,
                self.now(),
            )
        })
    }

    /// Runs the scheduler, the dispatcher and the watchers until [`Daemon::shutdown`].
    pub async fn run(self: Arc<Self>) {
        let scheduler = tokio::spawn(self.clone().schedule_loop());
        let watcher = tokio::spawn(self.clone().watch_loop());
        self.clone().dispatch_loop().await;
        scheduler.abort();
        watcher.abort();
    }

    /// Stops starting jobs, cancels the running ones, and waits (at most `grace`) for them to
    /// end; true when they all did.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_one();
        for running in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            running.cancel.store(true, Ordering::Relaxed);
        }
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if self
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Queues each plan when its schedule comes; records the tick.
    async fn schedule_loop(self: Arc<Self>) {
        let mut last_tick = tokio::time::Instant::now();
        let mut after = self.now();
        loop {
            let config = self.config();
            let now = self.now();
            let next = schedule::next_runs(&config, after);
            for (plan, due) in &next {
                if *due <= now {
                    if let Err(e) = self.queue_plan(plan, JobKind::Backup, Trigger::Schedule) {
                        tracing::error!("cannot queue plan {plan}: {e}");
                    }
                }
            }
            for plan in config.plans.values() {
                let Some(drill) = &plan.drill else { continue };
                if drill
                    .schedule
                    .next_after(after, plan.timezone)
                    .is_some_and(|due| due <= now)
                {
                    if let Err(e) = self.queue_plan(&plan.name, JobKind::Drill, Trigger::Schedule) {
                        tracing::error!("cannot queue the drill of plan {}: {e}", plan.name);
                    }
                }
            }
            if schedule::server_backup_due(&config, after, now) {
                if let Err(e) = self.queue_server_backup(Trigger::Schedule) {
                    tracing::error!("cannot queue the server backup: {e}");
                }
            }
            after = now;
            if last_tick.elapsed() >= TICK_EVERY {
                last_tick = tokio::time::Instant::now();
                if let Err(e) = self.state.set_daemon_value(LAST_TICK, &now.to_rfc3339()) {
                    tracing::warn!("cannot record the daemon's tick: {e}");
                }
            }
            // Wake for the earliest due time, at least every second (a config reload or a
            // clock that jumps is noticed within a second).
            let until_due = schedule::next_runs(&self.config(), now)
                .values()
                .min()
                .and_then(|due| (*due - now).to_std().ok())
                .unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(until_due.clamp(Duration::from_millis(50), Duration::from_secs(1)))
                .await;
        }
    }

    /// Raises `stale` for plans without a recent success, `offsite_stale` likewise.
    async fn watch_loop(self: Arc<Self>) {
        loop {
            if let Err(e) = self.check_staleness() {
                tracing::warn!("cannot judge staleness: {e}");
            }
            tokio::time::sleep(self.stale_check_interval()).await;
        }
    }

    /// Every minute, or more often when a plan's `stale_after` is short: a plan is judged at
    /// least twice within its own limit.
    fn stale_check_interval(&self) -> Duration {
        self.config()
            .plans
            .values()
            .filter_map(|plan| plan.stale_after.map(|d| d.as_std() / 2))
            .chain(
                self.config()
                    .repositories
                    .values()
                    .filter_map(|r| r.offsite.as_ref()?.stale_after.map(|d| d.as_std() / 2)),
            )
            .fold(STALE_CHECK_EVERY, Duration::min)
            .max(Duration::from_secs(1))
    }

    fn check_staleness(&self) -> Result<()> {
        let config = self.config();
        let now = self.now();
        for plan in config.plans.values() {
            let last_success = self
                .state
                .last_job(&plan.name, JobKind::Backup, Some(JobState::Succeeded))?
                .and_then(|j| j.finished_at);
            if schedule::is_stale(plan, last_success, self.started, now)
                && self.state.raise_alert(&plan.name, "stale", now)?
            {
                let detail = match last_success {
                    Some(at) => format!(
                        "no successful backup since {}",
                        at.format("%Y-%m-%d %H:%M UTC")
                    ),
                    None => "no successful backup yet".to_string(),
                };
                self.options.alerts.alert(Alert {
                    event: cairn_config::NotifyEvent::Stale,
                    plan: Some(plan.name.clone()),
                    job: None,
                    detail,
                });
            }
            self.check_offsite_staleness(&config, plan, now)?;
        }
        Ok(())
    }

    /// `offsite_stale` for a plan whose repository has an offsite that no run of the plan
    /// synced within the offsite's `stale_after` (default: the plan's own staleness limit);
    /// cleared silently once a sync succeeds again.
    fn check_offsite_staleness(
        &self,
        config: &Config,
        plan: &cairn_config::Plan,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(offsite) = &config.repository_of(plan).offsite else {
            return Ok(());
        };
        let limit = match offsite.stale_after {
            Some(d) => chrono::Duration::from_std(d.as_std()).ok(),
            None => schedule::stale_after(plan, now),
        };
        let Some(limit) = limit else { return Ok(()) };
        let last_sync = self.state.last_step_success(&plan.name, "offsite")?;
        if now - last_sync.unwrap_or(self.started) <= limit {
            self.state.clear_alert(&plan.name, OFFSITE_STALE)?;
            return Ok(());
        }
        if self.state.raise_alert(&plan.name, OFFSITE_STALE, now)? {
            let detail = match last_sync {
                Some(at) => format!(
                    "repository {}: no successful offsite sync since {}",
                    plan.repository,
                    at.format("%Y-%m-%d %H:%M UTC")
                ),
                None => format!(
                    "repository {}: no successful offsite sync yet",
                    plan.repository
                ),
            };
            self.options.alerts.alert(Alert {
                event: cairn_config::NotifyEvent::OffsiteStale,
                plan: Some(plan.name.clone()),
                job: None,
                detail,
            });
        }
        Ok(())
    }

    /// Starts what the queue allows, whenever woken (and every second, for backoffs).
    async fn dispatch_loop(self: Arc<Self>) {
        loop {
            if self.is_stopping() {
                if self
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_empty()
                {
                    return;
                }
            } else if let Err(e) = self.start_runnable() {
                tracing::error!("cannot start queued jobs: {e}");
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
        }
    }

    fn start_runnable(self: &Arc<Self>) -> Result<()> {
        let queued = self.state.queued_jobs()?;
        let (busy, running) = {
            let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            let busy: BTreeSet<String> = running.values().map(|r| r.repository.clone()).collect();
            (busy, running.len())
        };
        let max = self.config().daemon.max_concurrent_jobs;
        let now = self.now();
        for job in queue::runnable(&queued, &busy, running, max, now) {
            if !self.state.start_job(job.id, now)? {
                continue;
            }
            let cancel = Arc::new(AtomicBool::new(false));
            self.running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    job.id,
                    Running {
                        cancel: cancel.clone(),
                        repository: job.repository.clone().unwrap_or_default(),
                    },
                );
            let record = self.state.job(job.id)?;
            self.publish(DaemonEvent::Job {
                job: record.clone(),
            });
            self.options.alerts.job_changed(&record);
            let daemon = self.clone();
            tokio::task::spawn_blocking(move || daemon.execute(record, cancel));
        }
        Ok(())
    }
}

//! A plan's run: the chain `cairn run` carries out in the foreground and the daemon schedules.
//!
//! `before_backup` hooks → one backup holding the sources and the database dumps →
//! `after_backup` hooks → forget by the plan's retention → prune when forget removed
//! something → check when `check.every` has passed since the last one → offsite mirror sync →
//! `finally` hooks. A maintenance plan (no sources, on a repository served to restic clients)
//! skips the backup and its hooks and forgets over every snapshot of the repository. A failing step stops the chain: `on_error` hooks run, then `finally` (with
//! `CAIRN_STATUS=failure`), never `after_backup`. A failing `before_backup` hook stops before
//! anything is read.
//!
//! Every run is a job in the state database (kind `backup`), each link a step with its
//! outcome, and every line cairn or a hook said a line of the job's log. A dry run records its
//! job too (marked as such), runs no hook and no dump, and changes nothing: the backup is the
//! engine's dry run of the file sources, forget reports what it would remove, prune, check and
//! mirror say whether they would run.

mod drill;
pub mod single_step;
mod steps;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cairn_config::{Config, Plan};
use cairn_repo::backup::StreamEntry;
use cairn_repo::progress::{Operation, Progress};
use cairn_state::{
    JobEnd, JobId, JobKind, JobRecord, JobState, NewJob, StateStore, StepState, Trigger,
};
use chrono::{DateTime, Utc};

use crate::hooks::{run_hook, HookEnvironment};
use crate::open::OpenOptions;
use crate::{JobError, Result};

/// The tag every snapshot of a plan carries, so retention applies to that plan's snapshots
/// alone even in a repository several plans share.
pub fn plan_tag(plan: &str) -> String {
    format!("plan:{plan}")
}

/// Where a plan's database dumps come from (the `dumps` module; tests pass their own): the
/// plan, the run's private scratch directory, and the run's cancel flag (a dump tool must stop
/// when the run is cancelled even while it writes nothing).
pub type StreamsOf<'a> =
    &'a (dyn Fn(&Plan, &Path, Option<Arc<AtomicBool>>) -> Result<Vec<StreamEntry>> + Sync);

/// Everything a run needs besides the state database.
pub struct RunRequest<'a> {
    pub config: &'a Config,
    pub plan: &'a str,
    /// `Backup` is the plan's whole chain; `Check`, `Prune`, `Forget` and `Mirror` run that
    /// one step on the plan's repository.
    pub kind: JobKind,
    pub trigger: Trigger,
    /// Run this job, already recorded and marked running (the daemon's queue); `None`: record
    /// a new one.
    pub job: Option<JobId>,
    /// Set to stop the run: the engine stops at its next storage call, a hook is killed.
    pub cancel: Option<Arc<AtomicBool>>,
    pub dry_run: bool,
    pub open: OpenOptions,
    pub streams_of: StreamsOf<'a>,
    /// The clock (tests move it).
    pub now: &'a (dyn Fn() -> DateTime<Utc> + Sync),
}

/// Told what a run is doing, as it happens (the CLI prints it, the daemon publishes it).
pub trait RunObserver: Sync {
    fn step_started(&self, _name: &str) {}
    fn step_finished(&self, _name: &str, _state: StepState, _detail: &str) {}
    /// Line `seq` of the job's log (`source` is `cairn` or the hook that printed it).
    fn log(&self, _seq: u32, _source: &str, _line: &str) {}
    /// The progress model the run's steps update in turn (backup, prune, check, offsite),
    /// each starting it again as its own operation. `None`: nobody shows progress.
    fn progress(&self) -> Option<&Progress> {
        None
    }
}

pub struct NoRunObserver;
impl RunObserver for NoRunObserver {}

/// How a run went: its job as recorded, whether some files could not be read (the snapshot was
/// written without them, as `cairn backup` exits 3), and whether a failure may pass if the
/// run is tried again later (a store or lock that was unavailable).
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub job: JobRecord,
    pub unreadable_files: u64,
    pub retryable: bool,
}

/// Runs `request.plan` and records it. `Err` only when the run could not even be recorded
/// (an unknown plan, an unusable state database); a run that failed is an `Ok` outcome whose
/// job says `failed` and why.
pub fn run_plan(
    request: &RunRequest<'_>,
    state: &StateStore,
    observer: &dyn RunObserver,
) -> Result<RunOutcome> {
    let plan = request
        .config
        .plan(request.plan)
        .map_err(JobError::InvalidInput)?;
    let repository = request.config.repository_of(plan);
    let id = match request.job {
        Some(id) => id,
        None => state.create_job(
            &NewJob {
                dry_run: request.dry_run,
                ..NewJob::first(
                    request.kind,
                    Some(plan.name.clone()),
                    Some(repository.name.clone()),
                    request.trigger,
                    (request.now)(),
                )
            },
            Some((request.now)()),
        )?,
    };
    let mut run = Run {
        request,
        state,
        observer,
        job: id,
        environment: HookEnvironment {
            plan: plan.name.clone(),
            repository: repository.location.to_string(),
            status: "running".into(),
            ..HookEnvironment::default()
        },
        snapshot: None,
        bytes_added: None,
        unreadable_files: 0,
    };
    let result = match request.kind {
        JobKind::Backup => run.chain(plan),
        JobKind::Drill => run.drill(plan),
        kind => run.single(plan, kind),
    };
    let cancelled = run.cancelled();
    let retryable = result.as_ref().err().is_some_and(|e| e.is_retryable()) && !cancelled;
    let mut error = result.err().map(|e| e.to_string());
    if cancelled {
        run.log("cairn", "cancelled");
        run.environment.status = "cancelled".into();
        error = Some("cancelled".into());
    } else if let Some(message) = &error {
        run.log("cairn", &format!("error: {message}"));
        run.environment.status = "failure".into();
        run.environment.error = Some(message.clone());
        // on_error hooks that fail are recorded; the run has failed already.
        let _ = run.hooks("on_error", &plan.hooks.on_error, plan);
    } else {
        run.environment.status = "success".into();
    }
    if request.kind == JobKind::Backup {
        if let Err(e) = run.hooks("finally", &plan.hooks.finally, plan) {
            error.get_or_insert(e.to_string());
        }
    }
    let end = JobEnd {
        state: if cancelled {
            JobState::Cancelled
        } else if error.is_some() {
            JobState::Failed
        } else {
            JobState::Succeeded
        },
        snapshot: run.snapshot.clone(),
        bytes_added: run.bytes_added,
        error,
    };
    state.finish_job(id, &end, (request.now)())?;
    Ok(RunOutcome {
        job: state.job(id)?,
        unreadable_files: run.unreadable_files,
        retryable,
    })
}

/// One run in progress.
struct Run<'r, 'a> {
    request: &'r RunRequest<'a>,
    state: &'r StateStore,
    observer: &'r dyn RunObserver,
    job: JobId,
    environment: HookEnvironment,
    snapshot: Option<String>,
    bytes_added: Option<u64>,
    unreadable_files: u64,
}

impl Run<'_, '_> {
    fn now(&self) -> DateTime<Utc> {
        (self.request.now)()
    }

    /// Runs `body` with the progress model of a step doing `operation`: the observer's,
    /// started again for it, or one nobody reads.
    fn tracked<T>(
        &mut self,
        operation: Operation,
        body: impl FnOnce(&mut Self, &Progress) -> T,
    ) -> T {
        match self.observer.progress() {
            Some(progress) => {
                progress.start(operation);
                body(self, progress)
            }
            None => body(self, &Progress::new(operation)),
        }
    }

    fn cancelled(&self) -> bool {
        self.request
            .cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Opens the plan's repository, wired to this run's cancellation.
    fn open_repository(&mut self, plan: &Plan) -> Result<cairn_repo::Repository> {
        self.step("open repository", |run| {
            let entry = run.request.config.repository_of(plan);
            let repo = crate::open::repository(entry, &run.request.open)?;
            repo.set_cancel(run.request.cancel.clone());
            // A crashed run of this host leaves its lock; cairn ignores it, restic 0.14 would
            // refuse to touch the repository until someone ran unlock.
            let removed = if run.request.dry_run {
                Vec::new()
            } else {
                cairn_repo::lock::remove_dead_local_locks(&repo)?
            };
            for id in &removed {
                run.log(
                    "cairn",
                    &format!("removed lock {id} of a process of this host that died"),
                );
            }
            Ok((repo, format!("{}", entry.location)))
        })
    }

    /// One maintenance step on the plan's repository (`cairn jobs start PLAN --kind …`).
    fn single(&mut self, plan: &Plan, kind: JobKind) -> Result<()> {
        let repo = self.open_repository(plan)?;
        match kind {
            JobKind::Forget => {
                let policy = plan.retention.as_ref().ok_or_else(|| {
                    JobError::InvalidInput(format!(
                        "plan {} has no retention to forget by",
                        plan.name
                    ))
                })?;
                self.step("forget", |run| run.forget(&repo, plan, policy))
                    .map(|_| ())
            }
            JobKind::Prune => self.step("prune", |run| run.prune(&repo)),
            JobKind::Check => {
                let policy = plan.check.clone().unwrap_or_default();
                self.step("check", |run| run.check(&repo, &policy, "asked for".into()))
            }
            JobKind::Mirror => {
                let entry = self.request.config.repository_of(plan);
                let offsite = entry.offsite.clone().ok_or_else(|| {
                    JobError::InvalidInput(format!(
                        "repository {} of plan {} has no offsite to mirror to",
                        plan.repository, plan.name
                    ))
                })?;
                let name = entry.name.clone();
                self.step("offsite", |run| run.offsite(&repo, &name, &offsite))
            }
            other => Err(JobError::InvalidInput(format!(
                "a {other} job is not a step of plan {}",
                plan.name
            ))),
        }
    }

    /// The links of the chain, in order; the first failure ends it. A maintenance plan (no
    /// sources, on a repository restic clients fill through the REST endpoint) has no backup
    /// link: it takes no backup lock and picks no parent; its forget covers every snapshot.
    fn chain(&mut self, plan: &Plan) -> Result<()> {
        let repo = if plan.is_maintenance() {
            let repo = self.open_repository(plan)?;
            self.skipped(
                "backup",
                "maintenance plan: clients back up through the REST endpoint",
            )?;
            repo
        } else {
            self.hooks("before_backup", &plan.hooks.before_backup, plan)?;
            let repo = self.open_repository(plan)?;
            self.step("backup", |run| run.backup(&repo, plan))?;
            self.hooks("after_backup", &plan.hooks.after_backup, plan)?;
            repo
        };
        let removed = match &plan.retention {
            Some(policy) => self.step("forget", |run| run.forget(&repo, plan, policy))?,
            None => 0,
        };
        if removed > 0 {
            self.step("prune", |run| run.prune(&repo))?;
        }
        if let Some(policy) = &plan.check {
            if let Some(reason) = self.check_due(plan, policy)? {
                self.step("check", |run| run.check(&repo, policy, reason))?;
            }
        }
        let entry = self.request.config.repository_of(plan);
        if let Some(offsite) = &entry.offsite {
            self.step("offsite", |run| run.offsite(&repo, &entry.name, offsite))?;
        }
        Ok(())
    }

    /// Runs one step, recording its start, end and detail. `body` returns its value and a
    /// line saying what it did.
    fn step<T>(
        &mut self,
        name: &str,
        body: impl FnOnce(&mut Self) -> Result<(T, String)>,
    ) -> Result<T> {
        let seq = self.state.begin_step(self.job, name, self.now())?;
        self.observer.step_started(name);
        let result = body(self);
        let (state, detail, error) = match &result {
            Ok((_, detail)) => (StepState::Succeeded, detail.clone(), None),
            Err(e) => (StepState::Failed, String::new(), Some(e.to_string())),
        };
        self.state.finish_step(
            self.job,
            seq,
            state,
            Some(&detail).filter(|d| !d.is_empty()).map(String::as_str),
            error.as_deref(),
            self.now(),
        )?;
        self.observer
            .step_finished(name, state, error.as_deref().unwrap_or(&detail));
        result.map(|(value, _)| value)
    }

    /// Records a step that did not need to run, with why.
    fn skipped(&mut self, name: &str, why: &str) -> Result<()> {
        let seq = self.state.begin_step(self.job, name, self.now())?;
        self.state.finish_step(
            self.job,
            seq,
            StepState::Skipped,
            Some(why),
            None,
            self.now(),
        )?;
        self.observer.step_finished(name, StepState::Skipped, why);
        Ok(())
    }

    /// Records a line of the job's log and tells the observer, with its position.
    fn log(&self, source: &str, line: &str) {
        match self.state.append_log(self.job, source, &[line], self.now()) {
            Ok(seq) => self.observer.log(seq, source, line),
            Err(e) => tracing::warn!("cannot record a log line of job {}: {e}", self.job),
        }
    }

    /// One step running a list of hook commands in order; the first failure ends it.
    fn hooks(&mut self, name: &str, commands: &[String], plan: &Plan) -> Result<()> {
        if commands.is_empty() {
            return Ok(());
        }
        if self.request.dry_run {
            return self.skipped(name, &format!("dry run: would run {}", commands.join("; ")));
        }
        let timeout = plan.hooks.timeout.as_std();
        self.step(name, |run| {
            for command in commands {
                let source = format!("hook {name}");
                let never = AtomicBool::new(false);
                let cancel = run.request.cancel.as_deref().unwrap_or(&never);
                // Each line is recorded as it comes, so `cairn jobs log` shows a running hook.
                let outcome = run_hook(command, &run.environment, timeout, cancel, &mut |line| {
                    run.log(&source, line)
                });
                outcome.map_err(|failure| JobError::Hook {
                    step: name.to_string(),
                    command: command.clone(),
                    reason: failure.to_string(),
                })?;
            }
            Ok(((), format!("{} command(s)", commands.len())))
        })
    }

    /// Whether the check is due, and why; `None` when it ran recently enough.
    fn check_due(
        &mut self,
        plan: &Plan,
        policy: &cairn_config::CheckPolicy,
    ) -> Result<Option<String>> {
        let Some(every) = policy.every else {
            return Ok(Some("every run".into()));
        };
        let last = self.state.last_step_success(&plan.name, "check")?;
        match last {
            None => Ok(Some("never checked".into())),
            Some(at) => {
                let age = self
                    .now()
                    .signed_duration_since(at)
                    .to_std()
                    .unwrap_or_default();
                if age >= every.as_std() {
                    Ok(Some(format!("last check {} ago", steps::format_age(age))))
                } else {
                    let next = at + chrono::Duration::from_std(every.as_std()).unwrap_or_default();
                    self.skipped(
                        "check",
                        &format!("not due until {}", next.format("%Y-%m-%d %H:%M UTC")),
                    )?;
                    Ok(None)
                }
            }
        }
    }

    /// A scratch directory for this run's temporary files (SQLite copies, option files),
    /// private, under the state directory.
    fn scratch_dir(&self) -> Result<PathBuf> {
        let dir = self
            .request
            .config
            .state_dir
            .join("tmp")
            .join(format!("job-{}", self.job));
        crate::dumps::private_dir(&dir)?;
        Ok(dir)
    }
}

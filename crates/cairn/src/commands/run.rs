//! `cairn run PLAN`: a plan's whole chain in the foreground, recorded in the state database.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;
use cairn_config::Plan;
use cairn_jobs::open::OpenOptions;
use cairn_jobs::runner::{run_plan, RunObserver, RunRequest};
use cairn_repo::backup::StreamEntry;
use cairn_repo::progress::{Operation, Progress};
use cairn_state::{JobKind, JobState, NewJob, StateStore, StepState, Trigger};
use serde_json::json;

use crate::cli::{GlobalArgs, RunArgs};
use crate::progress::ProgressDisplay;

pub fn run(global: &GlobalArgs, args: RunArgs) -> Result<u8> {
    run_job(global, &args.plan, JobKind::Backup, args.dry_run)
}

/// Runs job `kind` of `plan_name` in the foreground (a backup is the plan's chain) and prints
/// how it went: one line, or the job with its steps and log as JSON.
pub fn run_job(global: &GlobalArgs, plan_name: &str, kind: JobKind, dry_run: bool) -> Result<u8> {
    let config = super::load_config(global)?;
    let state = StateStore::open(&config.state_dir)?;
    let observer = Printer {
        lines: !global.quiet && !global.json,
        // A bar on a terminal; JSON status lines would mix with the run's JSON.
        display: ProgressDisplay::start(Operation::Backup, false, global.quiet || global.json),
    };
    // The job is recorded here rather than by the runner, so an interrupt can mark it.
    let plan = config.plan(plan_name).map_err(anyhow::Error::msg)?;
    let new_job = NewJob {
        dry_run,
        ..NewJob::first(
            kind,
            Some(plan.name.clone()),
            Some(plan.repository.clone()),
            Trigger::Manual,
            chrono::Utc::now(),
        )
    };
    let job = state.create_job(&new_job, Some(chrono::Utc::now()))?;
    crate::interrupt::cancel_job_on_interrupt(config.state_dir.clone(), job);
    let request = RunRequest {
        config: &config,
        plan: plan_name,
        kind,
        job: Some(job),
        cancel: None,
        trigger: Trigger::Manual,
        dry_run,
        open: OpenOptions {
            cache_base: global.cache_dir.clone(),
            no_cache: global.no_cache,
        },
        streams_of: &STREAMS_OF,
        now: &chrono::Utc::now,
    };
    let outcome = run_plan(&request, &state, &observer);
    observer.display.finish();
    let outcome = outcome?;
    let job = &outcome.job;
    if global.json {
        let steps = state.steps(job.id)?;
        let log = state.log(job.id)?;
        let drill = state.drill_report(job.id)?.map(|d| d.report);
        super::print_json(&json!({ "job": job, "steps": steps, "log": log, "drill": drill }))?;
    } else if !global.quiet {
        match (&job.state, &job.error) {
            (JobState::Succeeded, _) => println!(
                "plan {} {}{}: job {}{}",
                plan_name,
                if kind == JobKind::Drill { "drill " } else { "" },
                if job.dry_run { "dry run done" } else { "done" },
                job.id,
                job.snapshot
                    .as_deref()
                    .map(|s| format!(", snapshot {}", &s[..8.min(s.len())]))
                    .unwrap_or_default()
            ),
            (_, error) => eprintln!(
                "cairn: plan {} {}failed (job {}): {}",
                plan_name,
                if kind == JobKind::Drill { "drill " } else { "" },
                job.id,
                error.as_deref().unwrap_or("unknown error")
            ),
        }
    }
    Ok(match job.state {
        JobState::Succeeded if outcome.unreadable_files > 0 => crate::EXIT_PARTIAL_BACKUP,
        JobState::Succeeded => 0,
        _ => crate::EXIT_FAILURE,
    })
}

/// Prints one line per step (and hook output) on standard error; on a terminal, a bar of the
/// step under way (backup, prune, check, offsite).
struct Printer {
    lines: bool,
    display: ProgressDisplay,
}

impl RunObserver for Printer {
    fn step_finished(&self, name: &str, state: StepState, detail: &str) {
        if self.lines {
            let mark = match state {
                StepState::Succeeded => "ok",
                StepState::Failed => "FAILED",
                StepState::Skipped => "skipped",
                StepState::Running => "running",
            };
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            };
            self.display.eprintln(&format!("{name}: {mark}{detail}"));
        }
    }

    fn log(&self, _seq: u32, source: &str, line: &str) {
        if self.lines && source != "cairn" {
            self.display.eprintln(&format!("  {source}: {line}"));
        }
    }

    fn progress(&self) -> Option<&Progress> {
        self.display.shown().then(|| self.display.progress())
    }
}

/// The signature of [`cairn_jobs::dumps::streams_of`].
type StreamsFn = fn(&Plan, &Path, Option<Arc<AtomicBool>>) -> cairn_jobs::Result<Vec<StreamEntry>>;

/// Where a plan's database dumps come from, for `cairn run` and the daemon alike.
pub static STREAMS_OF: StreamsFn = cairn_jobs::dumps::streams_of;

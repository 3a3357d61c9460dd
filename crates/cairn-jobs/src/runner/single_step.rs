//! A job that is one step (a restore, a mirror verify or restore): the step begun and ended
//! in the state, its result or error logged, the observer told, and the job's end decided
//! (succeeded, failed, or cancelled when the cancel flag was set) — the same record a plan's
//! chain writes, so every face shows these jobs as it shows the others.

use std::sync::atomic::{AtomicBool, Ordering};

use cairn_state::{JobEnd, JobRecord, JobState, StateStore, StepState};
use chrono::{DateTime, Utc};

use super::RunObserver;
use crate::Result;

/// Runs `body` as the one step `step` of `job`; `body` gets a function that appends a line to
/// the job's log and returns the step's detail. The end has no snapshot or bytes: the caller
/// adds what its job produced.
pub fn run_single_step(
    state: &StateStore,
    job: &JobRecord,
    step: &str,
    cancel: &AtomicBool,
    observer: &dyn RunObserver,
    now: &dyn Fn() -> DateTime<Utc>,
    body: impl FnOnce(&dyn Fn(&str)) -> Result<String>,
) -> Result<JobEnd> {
    let log = |line: &str| match state.append_log(job.id, "cairn", &[line], now()) {
        Ok(seq) => observer.log(seq, "cairn", line),
        Err(e) => tracing::warn!("cannot record a log line of job {}: {e}", job.id),
    };
    let seq = state.begin_step(job.id, step, now())?;
    observer.step_started(step);
    let result = body(&log);
    let cancelled = cancel.load(Ordering::Relaxed);
    let (step_state, detail, error) = match &result {
        Ok(detail) => (StepState::Succeeded, Some(detail.clone()), None),
        Err(_) if cancelled => (StepState::Failed, None, Some("cancelled".to_string())),
        Err(e) => (StepState::Failed, None, Some(e.to_string())),
    };
    state.finish_step(
        job.id,
        seq,
        step_state,
        detail.as_deref(),
        error.as_deref(),
        now(),
    )?;
    observer.step_finished(
        step,
        step_state,
        error.as_deref().or(detail.as_deref()).unwrap_or(""),
    );
    match &result {
        Ok(detail) => log(detail),
        Err(_) if cancelled => log("cancelled"),
        Err(e) => log(&format!("error: {e}")),
    }
    Ok(JobEnd {
        state: match (&result, cancelled) {
            (Ok(_), _) => JobState::Succeeded,
            (Err(_), true) => JobState::Cancelled,
            (Err(_), false) => JobState::Failed,
        },
        snapshot: None,
        bytes_added: None,
        error,
    })
}

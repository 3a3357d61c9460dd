//! `/queue`: running and queued jobs with live progress (Server-Sent Events), cancel and
//! retry; `/jobs/{id}`: one job with its steps and log.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Redirect;
use cairn_access::Action;
use cairn_jobs::daemon::Daemon;
use cairn_state::{JobId, JobRecord, JobState};
use maud::{html, Markup};

use super::context::PageContext;
use super::format::{bytes, relative, state_badge};
use super::layout::{page, Section};
use super::{blocking_page, redirect_error, redirect_ok, WebError};
use crate::auth::job_resource;

const RECENT_JOBS: usize = 50;

pub async fn queue(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let (jobs, now) = blocking_page(&daemon, {
        let context = context.clone();
        move |daemon| {
            let mut jobs = daemon.state().jobs(None, RECENT_JOBS)?;
            jobs.retain(|job| context.may(Action::Read, job_resource(job)));
            Ok((jobs, daemon.now()))
        }
    })
    .await?;
    let (active, done): (Vec<&JobRecord>, Vec<&JobRecord>) =
        jobs.iter().partition(|job| !job.state.is_final());
    let body = html! {
        h2 { "Running and queued" }
        @if active.is_empty() {
            p.muted { "Nothing is running." }
        } @else {
            (job_table(&context, &active, now, true))
        }
        h2 { "Recent" }
        (job_table(&context, &done, now, false))
    };
    Ok(page(&context, Section::Queue, "Queue", body))
}

fn job_table(
    context: &PageContext,
    jobs: &[&JobRecord],
    now: chrono::DateTime<chrono::Utc>,
    live: bool,
) -> Markup {
    html! {
        div.table-scroll {
            table {
                thead { tr {
                    th scope="col" { "Job" }
                    th scope="col" { "Plan" }
                    th scope="col" { "State" }
                    th scope="col" { @if live { "Progress" } @else { "Finished" } }
                    th scope="col" { span.skip { "Actions" } }
                } }
                tbody {
                    @for job in jobs {
                        tr data-job=(job.id) {
                            td { a href={ "/jobs/" (job.id) } { "#" (job.id) " " (job.kind.as_str()) } }
                            td { (job.plan.as_deref().unwrap_or("-")) }
                            td { span class={ "badge " (job.state.as_str()) } data-job-state=(job.id) { (job.state.as_str()) } }
                            td {
                                @if live {
                                    (progress_bar(job))
                                } @else {
                                    (relative(job.finished_at, now))
                                    @if let Some(added) = job.bytes_added { " · " (bytes(added)) " added" }
                                }
                            }
                            td { (job_actions(context, job)) }
                        }
                    }
                }
            }
        }
    }
}

/// A progress bar the script keeps up to date while the job runs.
pub fn progress_bar(job: &JobRecord) -> Markup {
    html! {
        div data-job-events=(job.id) {
            progress max="100" value="0" aria-label={ "Progress of job " (job.id) } { "0%" }
            div.progress-text aria-live="polite" { @if job.state == JobState::Queued { "waiting" } @else { "starting" } }
        }
    }
}

fn job_actions(context: &PageContext, job: &JobRecord) -> Markup {
    let may_run = context.may(Action::Run, job_resource(job));
    html! {
        @if may_run && !job.state.is_final() {
            form.inline method="post" action={ "/jobs/" (job.id) "/cancel" } data-confirm={ "Cancel job " (job.id) "?" } {
                (context.csrf_field())
                button.secondary type="submit" { "Cancel" }
            }
        }
        @if may_run && matches!(job.state, JobState::Failed | JobState::Cancelled | JobState::Interrupted) {
            form.inline method="post" action={ "/jobs/" (job.id) "/retry" } {
                (context.csrf_field())
                button.secondary type="submit" { "Retry" }
            }
        }
    }
}

pub async fn job(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(id): Path<JobId>,
) -> Result<Markup, WebError> {
    let (job, steps, log, now) = blocking_page(&daemon, {
        let context = context.clone();
        move |daemon| {
            let job = daemon.state().job(id)?;
            context
                .principal
                .require(Action::Read, job_resource(&job))
                .map_err(crate::ApiError::from)?;
            Ok((
                job,
                daemon.state().steps(id)?,
                daemon.state().log(id)?,
                daemon.now(),
            ))
        }
    })
    .await?;
    let title = format!("Job {} · {}", job.id, job.kind.as_str());
    let body = html! {
        div.panel {
            p { "State " span class={ "badge " (job.state.as_str()) } data-job-state=(job.id) { (job.state.as_str()) } }
            @if !job.state.is_final() { (progress_bar(&job)) }
            p { "Plan " strong { (job.plan.as_deref().unwrap_or("-")) } " · repository " (job.repository.as_deref().unwrap_or("-")) " · " (job.trigger.as_str()) }
            p { "Created " (relative(Some(job.created_at), now)) " · started " (relative(job.started_at, now)) " · finished " (relative(job.finished_at, now)) }
            @if let Some(snapshot) = &job.snapshot { p { "Snapshot " code { (snapshot) } } }
            @if let Some(error) = &job.error { p.error-text { (error) } }
            div.actions { (job_actions(&context, &job)) }
        }
        h2 { "Steps" }
        @if steps.is_empty() { p.muted { "No steps yet." } } @else {
            table {
                thead { tr { th scope="col" { "Step" } th scope="col" { "State" } th scope="col" { "Detail" } } }
                tbody { @for step in &steps { tr {
                    td { (step.name) }
                    td { (state_badge(step.state.as_str())) }
                    td { (step.detail.as_deref().unwrap_or("")) @if let Some(e) = &step.error { span.error-text { (e) } } }
                } } }
            }
        }
        h2 { "Log" }
        pre.log { @for line in &log { (line.source) ": " (line.line) "\n" } }
    };
    Ok(page(&context, Section::Queue, &title, body))
}

pub async fn cancel(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(id): Path<JobId>,
) -> Redirect {
    let result = blocking_page(&daemon, move |daemon| {
        context
            .principal
            .require(Action::Run, job_resource(&daemon.state().job(id)?))
            .map_err(crate::ApiError::from)?;
        Ok(daemon.cancel(id)?)
    })
    .await;
    match result {
        Ok(job) => redirect_ok(
            "/queue",
            &format!("job {} is {}", job.id, job.state.as_str()),
        ),
        Err(error) => redirect_error("/queue", &error.to_string()),
    }
}

pub async fn retry(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(id): Path<JobId>,
) -> Redirect {
    let result = blocking_page(&daemon, move |daemon| {
        context
            .principal
            .require(Action::Run, job_resource(&daemon.state().job(id)?))
            .map_err(crate::ApiError::from)?;
        Ok(daemon.retry(id)?)
    })
    .await;
    match result {
        Ok(job) => redirect_ok("/queue", &format!("job {} queued to try again", job.id)),
        Err(error) => redirect_error("/queue", &error.to_string()),
    }
}

//! `/api/v1/jobs`: list, show (with steps), log, live events, cancel, retry.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use cairn_jobs::daemon::{Daemon, DaemonEvent};
use cairn_state::{JobId, JobRecord, LogLine};
use futures::Stream;
use serde::Deserialize;
use serde_json::{json, Value};

use cairn_access::Action;

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub limit: Option<usize>,
    pub plan: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    params(("limit" = Option<usize>, Query, description = "at most this many, newest first (default 100)"),
           ("plan" = Option<String>, Query, description = "only this plan's jobs")),
    responses((status = 200, description = "jobs the caller may read", body = Vec<Object>)))]
pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<JobRecord>>, ApiError> {
    let limit = query.limit.unwrap_or(100).min(10_000);
    blocking(&daemon, move |daemon| {
        let mut jobs = daemon.state().jobs(query.plan.as_deref(), limit)?;
        jobs.retain(|job| caller.may_see_job(job));
        Ok(Json(jobs))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the job and its steps", body = Object), (status = 404, description = "no such job")))]
pub async fn show(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<JobId>,
) -> Result<Json<Value>, ApiError> {
    blocking(&daemon, move |daemon| {
        let job = daemon.state().job(id)?;
        caller.require_job(Action::Read, &job)?;
        let steps = daemon.state().steps(id)?;
        Ok(Json(json!({ "job": job, "steps": steps })))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/log", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the job's log lines", body = Vec<Object>)))]
pub async fn log(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<JobId>,
) -> Result<Json<Vec<LogLine>>, ApiError> {
    blocking(&daemon, move |daemon| {
        caller.require_job(Action::Read, &daemon.state().job(id)?)?;
        Ok(Json(daemon.state().log(id)?))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the job, cancelled or being cancelled", body = Object), (status = 403, description = "the caller may not run jobs of this plan")))]
pub async fn cancel(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<JobId>,
) -> Result<Json<JobRecord>, ApiError> {
    blocking(&daemon, move |daemon| {
        caller.require_job(Action::Run, &daemon.state().job(id)?)?;
        Ok(Json(daemon.cancel(id)?))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the new job", body = Object), (status = 403, description = "the caller may not run jobs of this plan")))]
pub async fn retry(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<JobId>,
) -> Result<Json<JobRecord>, ApiError> {
    blocking(&daemon, move |daemon| {
        caller.require_job(Action::Run, &daemon.state().job(id)?)?;
        Ok(Json(daemon.retry(id)?))
    })
    .await
}

/// Server-Sent Events of one job: the job as it is now, then its changes, progress and log
/// lines as they happen; the stream ends once the job has ended.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "Server-Sent Events: `job`, `progress` and `log` events until the job ends", content_type = "text/event-stream", body = String)))]
pub async fn events(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<JobId>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Subscribe before reading the job, so no change falls between the two.
    let mut receiver = daemon.subscribe();
    let current = blocking(&daemon, move |daemon| {
        let job = daemon.state().job(id)?;
        caller.require_job(Action::Read, &job)?;
        Ok(job)
    })
    .await?;
    let stream = async_stream(move |sender| async move {
        let done = current.state.is_final();
        if sender
            .send(event(&DaemonEvent::Job { job: current }))
            .await
            .is_err()
            || done
        {
            return;
        }
        loop {
            let next = match receiver.recv().await {
                Ok(next) => next,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let (mine, finished) = match &next {
                DaemonEvent::Job { job } => (job.id == id, job.id == id && job.state.is_final()),
                DaemonEvent::Progress { job, .. } | DaemonEvent::Log { job, .. } => {
                    (*job == id, false)
                }
            };
            if mine && sender.send(event(&next)).await.is_err() {
                return;
            }
            if finished {
                return;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn event(event: &DaemonEvent) -> Result<Event, Infallible> {
    let name = match event {
        DaemonEvent::Job { .. } => "job",
        DaemonEvent::Progress { .. } => "progress",
        DaemonEvent::Log { .. } => "log",
    };
    Ok(Event::default()
        .event(name)
        .data(serde_json::to_string(event).unwrap_or_default()))
}

/// A stream fed by a task through a small channel (no extra crate for `async-stream`).
fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(sender));
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

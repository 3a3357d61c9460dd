//! `GET /api/v1/health` and `GET /metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use cairn_jobs::daemon::Daemon;
use serde_json::{json, Value};

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

/// Open to every principal (a viewer, a scoped token): it names no plan.
#[utoipa::path(get, path = "/api/v1/health", tag = "meta",
    responses((status = 200, description = "the daemon's state: version, start time, running and queued jobs, failing channels", body = Object)))]
pub async fn health(
    State(daemon): State<Arc<Daemon>>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    blocking(&daemon, |daemon| {
        let running = daemon
            .state()
            .jobs_in(cairn_state::JobState::Running)?
            .len();
        let queued = daemon.state().queued_jobs()?.len();
        let failing_channels = daemon
            .state()
            .failing_channels(cairn_jobs::daemon::FAILING_CHANNEL_RUN)?;
        Ok(Json(json!({
            "status": if daemon.is_stopping() { "stopping" } else { "ok" },
            "version": env!("CARGO_PKG_VERSION"),
            "started": daemon.started(),
            "running_jobs": running,
            "queued_jobs": queued,
            "failing_channels": failing_channels,
        })))
    })
    .await
}

pub async fn metrics(State(daemon): State<Arc<Daemon>>) -> Result<impl IntoResponse, ApiError> {
    let text = blocking(&daemon, |daemon| Ok(daemon.metrics()?)).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

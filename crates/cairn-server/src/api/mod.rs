//! The API tree mirrors the URL tree: `/api/v1/health`, `/api/v1/jobs…`, `/api/v1/plans…`
//! (`plans`: status and run; `plan_edit`: the plan form), `/api/v1/repositories/{repo}/offsite…`,
//! and `/metrics` at the root, as Prometheus expects it.

mod config_commit;
mod health;
mod jobs;
mod offsite;
pub mod openapi;
mod plan_edit;
mod plans;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use cairn_jobs::daemon::Daemon;

use crate::ApiError;

/// The API as the daemon's unix socket serves it: every request is the local user's.
pub fn router(daemon: Arc<Daemon>) -> Router {
    routes(daemon).layer(axum::Extension(cairn_access::Principal::local()))
}

/// Every API route over `daemon`, without a principal: a layer in front must say who calls
/// ([`crate::auth::Caller`] refuses a request without one).
pub fn routes(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health::health))
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .route("/api/v1/jobs", get(jobs::list))
        .route("/api/v1/jobs/{id}", get(jobs::show))
        .route("/api/v1/jobs/{id}/log", get(jobs::log))
        .route("/api/v1/jobs/{id}/events", get(jobs::events))
        .route("/api/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/v1/jobs/{id}/retry", post(jobs::retry))
        .route("/api/v1/plans", get(plans::list).post(plan_edit::create))
        .route(
            "/api/v1/plans/{name}",
            get(plan_edit::show)
                .put(plan_edit::update)
                .delete(plan_edit::delete),
        )
        .route("/api/v1/plans/{name}/validate", post(plan_edit::validate))
        .route("/api/v1/plans/{name}/run", post(plans::run))
        .route(
            "/api/v1/repositories/{repo}/offsite",
            get(offsite::show).put(offsite::update),
        )
        .route(
            "/api/v1/repositories/{repo}/offsite/test",
            post(offsite::test),
        )
        .route(
            "/api/v1/repositories/{repo}/offsite/sync",
            post(offsite::sync),
        )
        .route("/api/v1/offsite/orphans", get(offsite::orphans))
        .route("/metrics", get(health::metrics))
        .with_state(daemon)
}

/// Runs a daemon call (SQLite, perhaps a listing) off the async threads.
async fn blocking<T: Send + 'static>(
    daemon: &Arc<Daemon>,
    call: impl FnOnce(&Daemon) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let daemon = daemon.clone();
    tokio::task::spawn_blocking(move || call(&daemon))
        .await
        .map_err(|e| ApiError::BadRequest(format!("the request was dropped: {e}")))?
}

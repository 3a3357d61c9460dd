//! The API tree mirrors the URL tree: `/api/v1/health`, `/api/v1/jobs…`, `/api/v1/plans…`
//! (`plans`: status and run; `plan_edit`: the plan form), `/api/v1/repositories…`
//! (`repositories`, `browse`, `download`, `restore`, `offsite`), and `/metrics` at the root, as
//! Prometheus expects it.

pub mod accounts;
mod browse;
mod config_commit;
mod download;
pub mod drills;
mod health;
mod jobs;
pub mod notifications;
mod offsite;
mod offsite_jobs;
pub mod openapi;
mod plan_edit;
mod plans;
mod repositories;
mod restore;
mod server_backup;
pub mod settings;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use cairn_jobs::daemon::Daemon;

use crate::ApiError;

/// The API as the daemon's unix socket serves it: every request is the local user's.
pub fn router(daemon: Arc<Daemon>) -> Router {
    router_with(daemon, Router::new())
}

/// [`router`] with more routes (the `peer` API), under the same audit and principal.
pub fn router_with(daemon: Arc<Daemon>, more: Router) -> Router {
    routes(daemon.clone())
        .merge(more)
        .layer(axum::middleware::from_fn_with_state(
            daemon,
            crate::auth::socket_audit::audit_socket,
        ))
        .layer(axum::Extension(cairn_access::Principal::local()))
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
        .route(
            "/api/v1/offsite/orphans/restore",
            post(offsite_jobs::restore_orphan),
        )
        .route(
            "/api/v1/repositories/{repo}/offsite/verify",
            post(offsite_jobs::verify),
        )
        .route(
            "/api/v1/repositories/{repo}/offsite/restore",
            post(offsite_jobs::restore),
        )
        .route("/api/v1/drills", get(drills::list))
        .route("/api/v1/server-backup", post(server_backup::run))
        .route("/api/v1/notifications", get(notifications::list))
        .route(
            "/api/v1/notifications/{name}/test",
            post(notifications::test),
        )
        .route("/api/v1/settings", get(settings::get))
        .route("/api/v1/repositories", get(repositories::list))
        .route(
            "/api/v1/repositories/{repo}/snapshots",
            get(repositories::snapshots),
        )
        .route(
            "/api/v1/repositories/{repo}/snapshots/{snapshot}/tree",
            get(browse::tree),
        )
        .route(
            "/api/v1/repositories/{repo}/snapshots/{snapshot}/download",
            get(download::download),
        )
        .route(
            "/api/v1/repositories/{repo}/snapshots/{snapshot}/archive",
            get(download::archive),
        )
        .route("/api/v1/repositories/{repo}/history", get(browse::history))
        .route("/api/v1/repositories/{repo}/search", get(browse::search))
        .route(
            "/api/v1/repositories/{repo}/restore",
            post(restore::restore),
        )
        .route("/metrics", get(health::metrics))
        .with_state(daemon)
}

/// Runs a daemon call (SQLite, perhaps a listing) off the async threads.
async fn blocking<T: Send + 'static>(
    daemon: &Arc<Daemon>,
    call: impl FnOnce(&Daemon) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    off_async_threads(daemon, call).await
}

/// Runs a synchronous call on `shared` (the daemon, the accounts, the server state) on a
/// blocking thread: SQLite, argon2 and repository reads must not hold up the async threads.
/// Every handler and page that calls the library goes through here.
pub(crate) async fn off_async_threads<S: Send + Sync + 'static, T: Send + 'static>(
    shared: &Arc<S>,
    call: impl FnOnce(&S) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || call(&shared))
        .await
        .map_err(|e| ApiError::BadRequest(format!("the request was dropped: {e}")))?
}

//! `POST /api/v1/repositories/{repo}/restore`: a restore queued as a daemon job.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_jobs::browse::restore::RestoreRequest;
use cairn_jobs::daemon::Daemon;
use cairn_state::JobRecord;

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

#[utoipa::path(post, path = "/api/v1/repositories/{repo}/restore", tag = "browse",
    params(("repo" = String, Path, description = "repository name")),
    request_body(content = Object, description = "`{snapshot, path?, target, include: [], exclude: []}`; `target` is relative to the restore root (or absolute inside it)", content_type = "application/json"),
    responses((status = 202, description = "the queued restore job", body = Object),
              (status = 400, description = "a target outside the restore root, a bad path or pattern"),
              (status = 403, description = "the caller may not restore from this repository")))]
pub async fn restore(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repo): Path<String>,
    Json(request): Json<RestoreRequest>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    let job = blocking(&daemon, move |daemon| {
        caller.require(Action::Restore, Resource::Repository(&repo))?;
        Ok(daemon.queue_restore(&repo, &request)?)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

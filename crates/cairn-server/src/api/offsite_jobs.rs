//! `POST /api/v1/repositories/{repo}/offsite/verify`, `…/offsite/restore` and
//! `POST /api/v1/offsite/orphans/restore`: the offsite's jobs beside sync (see
//! `cairn_jobs::offsite_jobs`). Each answers 202 with the queued job, or 400 naming what is
//! wrong with the request before anything runs.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::Daemon;
use cairn_jobs::offsite_jobs::{prepare_restore, prepare_verify, MirrorRestoreKind};
use cairn_state::{JobKind, JobRecord};
use serde::Deserialize;

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The share of objects read back and re-hashed, e.g. `"5%"` (default).
    pub read_sample: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/repositories/{repo}/offsite/verify", tag = "offsite",
    params(("repo" = String, Path, description = "repository name")),
    request_body(content = Object, description = "`{\"read_sample\": \"5%\"}` (optional)", content_type = "application/json"),
    responses((status = 202, description = "the queued mirror-verify job", body = Object), (status = 400, description = "no offsite, or a bad sample")))]
pub async fn verify(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repo): Path<String>,
    body: Option<Json<VerifyBody>>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    caller.require(Action::Run, Resource::Repository(&repo))?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let job = blocking(&daemon, move |daemon| {
        let request = prepare_verify(&daemon.config(), &repo, body.read_sample.as_deref())?;
        Ok(daemon.queue_offsite_job(&repo, JobKind::MirrorVerify, to_value(&request)?)?)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// `replace` (the repository's own directory) or `copy` (a new one below the restore root).
    pub mode: MirrorRestoreKind,
    /// For a copy: relative to the restore root.
    pub target: Option<String>,
    /// The mirror as it was at this time (RFC 3339, or `2026-11-29 10:00` local), from its
    /// object versions; none: as it is now.
    pub at: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/repositories/{repo}/offsite/restore", tag = "offsite",
    params(("repo" = String, Path, description = "repository name")),
    request_body(content = Object, description = "`{\"mode\": \"copy\", \"target\": \"main-copy\"}` or `{\"mode\": \"replace\"}`, optionally with `\"at\": \"2026-11-29T10:00:00Z\"`", content_type = "application/json"),
    responses((status = 202, description = "the queued mirror-restore job", body = Object), (status = 400, description = "a bad mode or target"), (status = 403, description = "replace needs an admin")))]
pub async fn restore(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repo): Path<String>,
    Json(body): Json<RestoreBody>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    // Replacing overwrites the repository itself: the config's owners decide that.
    let action = match body.mode {
        MirrorRestoreKind::Replace => Action::EditConfig,
        MirrorRestoreKind::Copy => Action::Restore,
    };
    caller.require(action, Resource::Repository(&repo))?;
    let job = blocking(&daemon, move |daemon| {
        let request = prepare_restore(
            &daemon.config(),
            &repo,
            body.mode,
            body.target.as_deref(),
            None,
            body.at.as_deref(),
        )?;
        Ok(daemon.queue_offsite_job(&repo, JobKind::MirrorRestore, to_value(&request)?)?)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrphanRestoreBody {
    /// The repository whose offsite bucket holds the orphan (its credentials reach it).
    pub repository: String,
    /// The orphan's location, as `GET /api/v1/offsite/orphans` lists it.
    pub source: String,
    /// Relative to the restore root.
    pub target: String,
}

#[utoipa::path(post, path = "/api/v1/offsite/orphans/restore", tag = "offsite",
    request_body(content = Object, description = "`{\"repository\": \"main\", \"source\": \"s3:…/old-host\", \"target\": \"old-host\"}`", content_type = "application/json"),
    responses((status = 202, description = "the queued mirror-restore job (a copy)", body = Object), (status = 400, description = "not under the offsite's bucket, or a bad target")))]
pub async fn restore_orphan(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Json(body): Json<OrphanRestoreBody>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    caller.require(Action::Restore, Resource::Repository(&body.repository))?;
    let job = blocking(&daemon, move |daemon| {
        let request = prepare_restore(
            &daemon.config(),
            &body.repository,
            MirrorRestoreKind::Copy,
            Some(&body.target),
            Some(&body.source),
            None,
        )?;
        Ok(daemon.queue_offsite_job(
            &body.repository,
            JobKind::MirrorRestore,
            to_value(&request)?,
        )?)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

fn to_value<T: serde::Serialize>(request: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(request)
        .map_err(|e| ApiError::BadRequest(format!("cannot record the request: {e}")))
}

//! `GET /api/v1/plans` (each with its status) and `POST /api/v1/plans/{name}/run`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_jobs::daemon::status::PlanStatus;
use cairn_jobs::daemon::Daemon;
use cairn_state::{JobKind, JobRecord, Trigger};
use serde::Deserialize;

use super::blocking;
use crate::ApiError;

pub async fn list(State(daemon): State<Arc<Daemon>>) -> Result<Json<Vec<PlanStatus>>, ApiError> {
    blocking(&daemon, |daemon| Ok(Json(daemon.plan_statuses()?))).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// `backup` (the plan's chain, the default), `check`, `prune`, `forget`, `mirror`, `drill`.
    pub kind: Option<String>,
}

pub async fn run(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    body: Option<Json<RunBody>>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    let kind = match body.and_then(|Json(b)| b.kind) {
        None => JobKind::Backup,
        Some(text) => match text.parse::<JobKind>() {
            Ok(kind @ (JobKind::Backup
            | JobKind::Check
            | JobKind::Prune
            | JobKind::Forget
            | JobKind::Mirror
            | JobKind::Drill)) => kind,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "{text:?} is not a kind a plan runs; use backup, check, prune, forget, mirror or drill"
                )))
            }
        },
    };
    let job = blocking(&daemon, move |daemon| {
        Ok(daemon.queue_plan(&name, kind, Trigger::Manual)?)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

//! `GET /api/v1/plans` (each with its status) and `POST /api/v1/plans/{name}/run`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_jobs::daemon::status::PlanStatus;
use cairn_jobs::daemon::Daemon;
use cairn_state::{JobKind, JobRecord, Trigger};
use serde::Deserialize;

use cairn_access::{Action, Resource};

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

#[utoipa::path(get, path = "/api/v1/plans", tag = "plans",
    responses((status = 200, description = "plans the caller may read, each with its status", body = Vec<Object>)))]
pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
) -> Result<Json<Vec<PlanStatus>>, ApiError> {
    blocking(&daemon, move |daemon| {
        let mut plans = daemon.plan_statuses()?;
        plans.retain(|plan| {
            caller.0.may(
                Action::Read,
                Resource::Plan {
                    name: &plan.name,
                    repository: &plan.repository,
                },
            )
        });
        Ok(Json(plans))
    })
    .await
}

/// The plan's resource, from the config the daemon runs with; an unknown plan is 404.
pub(crate) fn require_plan(
    daemon: &Daemon,
    caller: &Caller,
    action: Action,
    name: &str,
) -> Result<(), ApiError> {
    let config = daemon.config();
    let plan = config.plan(name).map_err(ApiError::NotFound)?;
    caller.require(
        action,
        Resource::Plan {
            name,
            repository: &plan.repository,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// `backup` (the plan's chain, the default), `check`, `prune`, `forget`, `mirror`, `drill`.
    pub kind: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/plans/{name}/run", tag = "plans",
    params(("name" = String, Path, description = "plan name")),
    request_body(content = Object, description = "`{\"kind\": \"backup\"}` (default), check, prune, forget, mirror or drill", content_type = "application/json"),
    responses((status = 202, description = "the queued job", body = Object), (status = 403, description = "the caller may not run this plan"), (status = 404, description = "no such plan")))]
pub async fn run(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
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
        require_plan(daemon, &caller, Action::Run, &name)?;
        Ok(daemon.queue_plan(&name, kind, Trigger::Manual)?)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

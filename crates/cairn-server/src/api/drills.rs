//! `GET /api/v1/drills`: recent restore drills with their reports (what `cairn drills` shows).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use cairn_access::Action;
use cairn_jobs::daemon::Daemon;
use cairn_state::{JobKind, JobRecord};
use serde::{Deserialize, Serialize};

use super::blocking;
use crate::auth::{job_resource, Caller};
use crate::ApiError;

/// How many recent jobs are searched for drills.
const RECENT_JOBS: usize = 2000;

#[derive(Debug, Serialize)]
pub struct DrillEntry {
    pub job: JobRecord,
    /// The drill's report (files, bytes, rate, RTO, databases), when it got as far as restoring.
    pub report: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct DrillQuery {
    pub limit: Option<usize>,
}

/// The drills the caller may read, newest first.
pub fn recent_drills(
    daemon: &Daemon,
    caller: &Caller,
    limit: usize,
) -> Result<Vec<DrillEntry>, ApiError> {
    let mut out = Vec::new();
    for job in daemon.state().jobs(None, RECENT_JOBS)? {
        if job.kind != JobKind::Drill || !caller.0.may(Action::Read, job_resource(&job)) {
            continue;
        }
        let report = daemon.state().drill_report(job.id)?.map(|r| r.report);
        out.push(DrillEntry { job, report });
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/v1/drills", tag = "drills",
    params(("limit" = Option<usize>, Query, description = "at most this many (default 50)")),
    responses((status = 200, description = "recent drills with their reports", body = Vec<Object>)))]
pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Query(query): Query<DrillQuery>,
) -> Result<Json<Vec<DrillEntry>>, ApiError> {
    let limit = query.limit.unwrap_or(50).min(1000);
    blocking(&daemon, move |daemon| {
        Ok(Json(recent_drills(daemon, &caller, limit)?))
    })
    .await
}

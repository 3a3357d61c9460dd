//! `POST /api/v1/server-backup`: queues a backup of the server's own state (admins only; the
//! audit layer records it like every other change).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::Daemon;
use cairn_state::{JobRecord, Trigger};

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

#[utoipa::path(post, path = "/api/v1/server-backup", tag = "jobs",
    responses((status = 202, description = "the queued server-backup job", body = Object),
        (status = 400, description = "no server backup destination"),
        (status = 403, description = "admins only")))]
pub async fn run(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    caller.require(Action::Administer, Resource::Global)?;
    let job = blocking(&daemon, move |daemon| {
        Ok(daemon.queue_server_backup(Trigger::Manual)?)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

//! `GET /api/v1/settings` (admins): how the server runs: its `[server]` settings as the
//! config has them, the daemon's limits, the version. Changing them is a config edit.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::Daemon;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::ApiError;

pub fn settings(daemon: &Daemon) -> Value {
    let config = daemon.config();
    let server = config.server.as_ref().map(|server| {
        json!({
            "listen": server.listen.to_string(),
            "public_url": server.public_url,
            "tls": server.tls.is_some(),
            "metrics_public": server.metrics_public,
            "require_totp": server.require_totp,
            "session_idle_timeout_seconds": server.session_idle_timeout.as_std().as_secs(),
            "session_max_age_seconds": server.session_max_age.as_std().as_secs(),
            "restore_root": server.restore_root(&config.state_dir),
        })
    });
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "config_file": config.source().path(),
        "state_dir": config.state_dir,
        "max_concurrent_jobs": config.daemon.max_concurrent_jobs,
        "server": server,
    })
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "accounts",
    responses((status = 200, description = "the server's settings and version", body = Object), (status = 403, description = "not an admin")))]
pub async fn get(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Action::Administer, Resource::Global)?;
    Ok(Json(settings(&daemon)))
}

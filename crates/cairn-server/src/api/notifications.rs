//! `GET /api/v1/notifications` (channels, without their URLs or secrets, and whether they are
//! failing) and `POST /api/v1/notifications/{name}/test` (what `cairn notify test` does).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::{Daemon, FAILING_CHANNEL_RUN};
use cairn_jobs::notify::retry::RetryPolicy;
use cairn_jobs::notify::{kind_name, Notifier};
use serde::Serialize;
use serde_json::{json, Value};

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

#[derive(Debug, Serialize)]
pub struct ChannelSummary {
    pub name: String,
    pub kind: &'static str,
    pub on: Vec<String>,
    pub plans: Vec<String>,
    /// Its last deliveries all failed (see `cairn status`).
    pub failing: bool,
}

pub fn channels(daemon: &Daemon) -> Result<Vec<ChannelSummary>, ApiError> {
    let failing = daemon.state().failing_channels(FAILING_CHANNEL_RUN)?;
    Ok(daemon
        .config()
        .notify
        .iter()
        .map(|channel| ChannelSummary {
            name: channel.name.clone(),
            kind: kind_name(&channel.kind),
            on: channel.on.iter().map(ToString::to_string).collect(),
            plans: channel.plans.clone(),
            failing: failing.iter().any(|f| f.channel == channel.name),
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    responses((status = 200, description = "notification channels (no URLs, no secrets) and whether each is failing", body = Vec<Object>)))]
pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
) -> Result<Json<Vec<ChannelSummary>>, ApiError> {
    caller.require(Action::Read, Resource::Global)?;
    blocking(&daemon, |daemon| Ok(Json(channels(daemon)?))).await
}

/// Sends the test event to one channel, once (no retries), and says what the receiver answered.
pub async fn send_test(daemon: &Arc<Daemon>, name: &str) -> Result<Value, ApiError> {
    let config = daemon.config();
    let notifier = Notifier::new(config.notify.clone(), daemon.state_handle())
        .with_policy(RetryPolicy::once());
    let delivery = notifier.test(name).await?;
    Ok(json!({
        "channel": delivery.channel,
        "kind": delivery.kind,
        "delivered": delivery.is_delivered(),
        "attempts": delivery.attempts,
        "answer": delivery.result.as_ref().ok(),
        "error": delivery.result.as_ref().err().map(ToString::to_string),
    }))
}

#[utoipa::path(post, path = "/api/v1/notifications/{name}/test", tag = "notifications",
    params(("name" = String, Path, description = "channel name")),
    responses((status = 200, description = "`{channel, kind, delivered, attempts, answer, error}`", body = Object), (status = 404, description = "no such channel")))]
pub async fn test(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Action::Run, Resource::Global)?;
    Ok(Json(send_test(&daemon, &name).await?))
}

//! What `cairn peer …` asks the daemon, on its unix socket (audited there like every other
//! change): `/api/v1/peers…`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_access::Scopes;
use cairn_sync::{CommandKind, PeerGrant};
use serde::Deserialize;
use serde_json::{json, Value};

use super::hub::{Multihost, MultihostError};
use crate::ApiError;

pub fn routes(hub: Arc<Multihost>) -> Router {
    Router::new()
        .route("/api/v1/peers", get(list))
        .route("/api/v1/peers/tokens", get(tokens).post(create_token))
        .route("/api/v1/peers/pair", post(pair))
        .route("/api/v1/peers/{id}/revoke", post(revoke))
        .route("/api/v1/peers/{id}/jobs", get(jobs))
        .route("/api/v1/peers/{id}/run", post(run))
        .route("/api/v1/peers/{id}/ls", post(ls))
        .route("/api/v1/peers/{id}/restore", post(restore))
        .route("/api/v1/peers/{id}/jobs/{job}/cancel", post(cancel))
        .route("/api/v1/peers/{id}/jobs/{job}/log", get(log))
        .route(
            "/api/v1/peers/{id}/config",
            get(config_show).post(config_push),
        )
        .with_state(hub)
}

fn api_error(error: MultihostError) -> ApiError {
    match error {
        MultihostError::Refused(message) => ApiError::BadRequest(message),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Runs a `Multihost` call off the async threads; a refusal is a 400 with its reason (the API
/// and the Peers pages share it).
pub(crate) async fn blocking<T: Send + 'static>(
    hub: &Arc<Multihost>,
    call: impl FnOnce(&Multihost) -> Result<T, MultihostError> + Send + 'static,
) -> Result<T, ApiError> {
    crate::api::off_async_threads(hub, move |hub| call(hub).map_err(api_error)).await
}

async fn list(State(hub): State<Arc<Multihost>>) -> Result<Json<Value>, ApiError> {
    let peers = blocking(&hub, |hub| hub.peers()).await?;
    Ok(Json(json!(peers)))
}

async fn tokens(State(hub): State<Arc<Multihost>>) -> Result<Json<Value>, ApiError> {
    let tokens = blocking(&hub, |hub| hub.tokens()).await?;
    Ok(Json(json!(tokens)))
}

#[derive(Deserialize)]
struct TokenRequest {
    label: String,
    ttl_seconds: u64,
    max_uses: u32,
    permissions: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

async fn create_token(
    State(hub): State<Arc<Multihost>>,
    Json(request): Json<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    let permissions = PeerGrant::parse_permissions(&request.permissions.join(","))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let scopes = if request.scopes.is_empty() {
        Scopes::all()
    } else {
        Scopes::parse_all(request.scopes.iter().map(String::as_str))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?
    };
    if request.max_uses == 0 {
        return Err(ApiError::BadRequest(
            "--max-uses 0 would make a token that never works".into(),
        ));
    }
    let grant = PeerGrant::new(permissions, scopes);
    let token = blocking(&hub, move |hub| {
        hub.create_token(
            &request.label,
            Duration::from_secs(request.ttl_seconds),
            request.max_uses,
            &grant,
        )
    })
    .await?;
    Ok(Json(json!({ "token": token })))
}

#[derive(Deserialize)]
struct PairRequest {
    token: String,
}

async fn pair(
    State(hub): State<Arc<Multihost>>,
    Json(request): Json<PairRequest>,
) -> Result<Json<Value>, ApiError> {
    let peer = hub
        .pair(&request.token)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok(Json(json!(peer)))
}

async fn revoke(
    State(hub): State<Arc<Multihost>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(&hub, move |hub| hub.revoke(&id)).await?;
    Ok(Json(json!({})))
}

async fn jobs(
    State(hub): State<Arc<Multihost>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let jobs = blocking(&hub, move |hub| hub.peer_jobs(&id)).await?;
    Ok(Json(json!(jobs)))
}

#[derive(Deserialize)]
struct RunRequest {
    plan: String,
}

/// Runs a plan now on a connected client; answers with the job it queued.
async fn run(
    State(hub): State<Arc<Multihost>>,
    Path(id): Path<String>,
    Json(request): Json<RunRequest>,
) -> Result<Json<Value>, ApiError> {
    let kind = CommandKind::RunPlan { plan: request.plan };
    Ok(Json(json_command(&hub, &id, kind).await?))
}

#[derive(Deserialize)]
struct LsRequest {
    repository: String,
    snapshot: String,
    #[serde(default)]
    path: Option<String>,
}

/// Lists a directory of a snapshot on a connected client.
async fn ls(
    State(hub): State<Arc<Multihost>>,
    Path(id): Path<String>,
    Json(request): Json<LsRequest>,
) -> Result<Json<Value>, ApiError> {
    let kind = CommandKind::Browse {
        repository: request.repository,
        snapshot: request.snapshot,
        path: request.path.unwrap_or_else(|| "/".into()),
    };
    Ok(Json(json_command(&hub, &id, kind).await?))
}

/// Sends `kind` to a connected client and parses its JSON answer (the API and the Peers pages
/// share it).
pub(crate) async fn json_command(
    hub: &Multihost,
    id: &str,
    kind: CommandKind,
) -> Result<Value, ApiError> {
    let answer = hub.command(id, kind).await.map_err(ApiError::BadRequest)?;
    serde_json::from_slice(&answer)
        .map_err(|e| ApiError::Internal(format!("the peer's answer is not JSON: {e}")))
}

#[derive(Deserialize)]
struct RestoreRequest {
    repository: String,
    snapshot: String,
    target: String,
    #[serde(default)]
    include: Vec<String>,
}

/// Queues a restore on a connected client, to a target on the client; answers with the
/// queued job.
async fn restore(
    State(hub): State<Arc<Multihost>>,
    Path(id): Path<String>,
    Json(request): Json<RestoreRequest>,
) -> Result<Json<Value>, ApiError> {
    let kind = CommandKind::Restore {
        repository: request.repository,
        snapshot: request.snapshot,
        target: request.target,
        include: request.include,
    };
    Ok(Json(json_command(&hub, &id, kind).await?))
}

/// Cancels a queued or running job on a connected client; answers with the job.
async fn cancel(
    State(hub): State<Arc<Multihost>>,
    Path((id, job)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let kind = CommandKind::CancelJob { job_id: job };
    Ok(Json(json_command(&hub, &id, kind).await?))
}

/// A job's log on a connected client (the lines `GET /api/v1/jobs/{id}/log` answers there).
async fn log(
    State(hub): State<Arc<Multihost>>,
    Path((id, job)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let kind = CommandKind::FetchLog { job_id: job };
    Ok(Json(json_command(&hub, &id, kind).await?))
}

#[derive(Deserialize)]
struct ConfigPushRequest {
    /// The fragment's TOML text (`[repositories.X]` and `[plans.Y]` tables).
    fragment: String,
}

/// Stores a client's desired config (a new generation), sent now or on its next connection.
async fn config_push(
    State(hub): State<Arc<Multihost>>,
    Path(id): Path<String>,
    Json(request): Json<ConfigPushRequest>,
) -> Result<Json<Value>, ApiError> {
    let generation = blocking(&hub, move |hub| hub.push_config(&id, &request.fragment)).await?;
    Ok(Json(json!({ "generation": generation })))
}

/// What was pushed to a client, how it went, and the client's reported config.
async fn config_show(
    State(hub): State<Arc<Multihost>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&hub, move |hub| hub.peer_config(&id)).await?))
}

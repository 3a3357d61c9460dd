//! `/api/v1/users…`, `/api/v1/tokens…`, `/api/v1/audit`, `/api/v1/me`: the accounts, for
//! admins (a principal sees itself through `/me`). Passwords are write-only; a token's
//! secret is in the answer to its creation and nowhere else.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_access::{Accounts, Action, Principal, Resource, Role, Scopes};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::ApiError;

pub fn routes(accounts: Arc<Accounts>) -> Router {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", get(users).post(add_user))
        .route(
            "/api/v1/users/{name}",
            axum::routing::patch(change_user).delete(remove_user),
        )
        .route("/api/v1/users/{name}/reset-2fa", post(reset_second_factor))
        .route("/api/v1/tokens", get(tokens).post(create_token))
        .route("/api/v1/tokens/{name}", axum::routing::delete(revoke_token))
        .route("/api/v1/audit", get(audit))
        .with_state(accounts)
}

async fn run<T: Send + 'static>(
    accounts: &Arc<Accounts>,
    call: impl FnOnce(&Accounts) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    super::off_async_threads(accounts, call).await
}

fn admin(caller: &Caller) -> Result<(), ApiError> {
    caller.require(Action::Administer, Resource::Global)
}

/// Who the caller is: identity, role and scopes.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, description = "the caller's identity, role and scopes", body = Object)))]
pub async fn me(caller: Caller) -> Json<Principal> {
    Json(caller.0)
}

#[utoipa::path(get, path = "/api/v1/users", tag = "accounts",
    responses((status = 200, description = "users (never a password hash or a TOTP seed)", body = Vec<Object>), (status = 403, description = "not an admin")))]
pub async fn users(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    run(&accounts, |a| Ok(Json(json!(a.users()?)))).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    /// Write-only.
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "accounts",
    request_body(content = Object, description = "`{name, role, password}`; the password is write-only", content_type = "application/json"),
    responses((status = 201, description = "the new user", body = Object), (status = 400, description = "a bad name, role or password"), (status = 409, description = "the name is taken")))]
pub async fn add_user(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&caller)?;
    let user = run(&accounts, move |a| {
        Ok(a.add_user(&body.name, body.role, &body.password)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(user))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub role: Option<Role>,
    /// Write-only.
    pub password: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "accounts",
    params(("name" = String, Path, description = "user name")),
    request_body(content = Object, description = "`{role?, password?}`", content_type = "application/json"),
    responses((status = 200, description = "the user", body = Object)))]
pub async fn change_user(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<UserChange>,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    run(&accounts, move |a| {
        if let Some(role) = body.role {
            a.set_role(&name, role)?;
        }
        if let Some(password) = &body.password {
            a.set_password(&name, password)?;
        }
        Ok(Json(json!(a.user(&name)?)))
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "accounts",
    params(("name" = String, Path, description = "user name")),
    responses((status = 204, description = "removed; its sessions ended"), (status = 409, description = "the last admin")))]
pub async fn remove_user(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller)?;
    run(&accounts, move |a| Ok(a.remove_user(&name)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/users/{name}/reset-2fa", tag = "accounts",
    params(("name" = String, Path, description = "user name")),
    responses((status = 204, description = "the user's second factor and recovery codes are gone")))]
pub async fn reset_second_factor(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller)?;
    run(&accounts, move |a| Ok(a.reset_second_factor(&name)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts",
    responses((status = 200, description = "API tokens (never the token itself)", body = Vec<Object>)))]
pub async fn tokens(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    run(&accounts, |a| Ok(Json(json!(a.tokens()?)))).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub scopes: Scopes,
    /// Days until it stops working; none: never.
    pub expires_in_days: Option<u32>,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts",
    request_body(content = Object, description = "`{name, role, scopes: [\"repo:main\", \"!plan:db\"], expires_in_days?}`", content_type = "application/json"),
    responses((status = 201, description = "`{token: {…}, secret}`: the secret is shown this once", body = Object)))]
pub async fn create_token(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&caller)?;
    let created_by = caller.0.actor();
    let expires = body
        .expires_in_days
        .map(|days| Utc::now() + chrono::Duration::days(i64::from(days)));
    let (record, secret) = run(&accounts, move |a| {
        Ok(a.create_token(&body.name, body.role, body.scopes, expires, &created_by)?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": record, "secret": secret })),
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "accounts",
    params(("name" = String, Path, description = "token name")),
    responses((status = 204, description = "revoked: it stops working at once")))]
pub async fn revoke_token(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller)?;
    run(&accounts, move |a| Ok(a.revoke_token(&name)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    pub limit: Option<usize>,
    /// Records older than this id (paging backwards).
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "accounts",
    params(("limit" = Option<usize>, Query, description = "at most this many, newest first (default 100)"),
           ("before" = Option<i64>, Query, description = "records older than this id")),
    responses((status = 200, description = "audit records: who, when, from where, what, result", body = Vec<Object>)))]
pub async fn audit(
    State(accounts): State<Arc<Accounts>>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    let limit = query.limit.unwrap_or(100).min(10_000);
    run(&accounts, move |a| {
        Ok(Json(json!(a.audit_log(limit, query.before)?)))
    })
    .await
}

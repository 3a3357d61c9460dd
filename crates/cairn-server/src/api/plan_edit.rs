//! Plans as the web UI's form sees them: `GET /api/v1/plans/{name}` (status and the fields
//! as the file writes them), `PUT` (set and remove fields), `POST …/validate` (the same,
//! nothing written), `POST /api/v1/plans` (a new plan), `DELETE` (remove one). Every change
//! goes through [`super::config_commit::commit`]: validated, written, reloaded.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_config::edit::{ConfigEdit, EditError, EditValue};
use cairn_config::{Config, KeyPath};
use cairn_jobs::daemon::status::PlanStatus;
use cairn_jobs::daemon::Daemon;
use serde::{Deserialize, Serialize};

use super::blocking;
use super::config_commit::{commit, edit_error, Commit};
use super::plans::require_plan;
use crate::auth::Caller;
use crate::ApiError;

/// `{"set": {"schedule": "0 4 * * *", "retention.keep_daily": 7}, "remove": ["exclude"]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEdit {
    #[serde(default)]
    pub set: BTreeMap<String, EditValue>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `{"name": "db", "set": {"repository": "main", "sources": ["/var/lib/db"]}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub name: String,
    #[serde(default)]
    pub set: BTreeMap<String, EditValue>,
}

/// A plan for the form: its status and its fields as written in the file.
#[derive(Debug, Serialize)]
pub struct PlanView {
    pub name: String,
    pub status: Option<PlanStatus>,
    pub config: BTreeMap<String, EditValue>,
}

fn plan_path(name: &str) -> KeyPath {
    KeyPath::of(&["plans", name])
}

fn apply(edit: &mut ConfigEdit, name: &str, body: &PlanEdit) -> Result<(), EditError> {
    for field in &body.remove {
        edit.remove_plan_field(name, field)?;
    }
    for (field, value) in &body.set {
        edit.set_plan_field(name, field, value)?;
    }
    Ok(())
}

fn view(daemon: &Daemon, config: &Config, name: &str) -> Result<PlanView, ApiError> {
    let edit = ConfigEdit::new(config).map_err(edit_error)?;
    let fields = edit
        .plan_fields(name)
        .ok_or_else(|| ApiError::NotFound(format!("the config has no plan {name:?}")))?;
    let status = daemon
        .plan_statuses()?
        .into_iter()
        .find(|status| status.name == name);
    Ok(PlanView {
        name: name.to_string(),
        status,
        config: fields,
    })
}

#[utoipa::path(get, path = "/api/v1/plans/{name}", tag = "plans",
    params(("name" = String, Path, description = "plan name")),
    responses((status = 200, description = "`{name, status, config}`: the plan's status and its fields as the file writes them", body = Object),
               (status = 404, description = "no such plan")))]
pub async fn show(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PlanView>, ApiError> {
    blocking(&daemon, move |daemon| {
        require_plan(daemon, &caller, Action::Read, &name)?;
        Ok(Json(view(daemon, &daemon.config(), &name)?))
    })
    .await
}

#[utoipa::path(put, path = "/api/v1/plans/{name}", tag = "plans",
    params(("name" = String, Path, description = "plan name")),
    request_body(content = Object, description = "`{\"set\": {\"schedule\": \"0 4 * * *\", \"retention.keep_daily\": 7}, \"remove\": [\"exclude\"]}`", content_type = "application/json"),
    responses((status = 200, description = "the plan after the file was written and the daemon reloaded", body = Object),
               (status = 403, description = "the caller may not edit the config"),
               (status = 404, description = "no such plan"),
               (status = 409, description = "the file changed on disk since the daemon read it"),
               (status = 422, description = "`{\"errors\": [{\"field\", \"message\"}]}`; nothing written")))]
pub async fn update(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<PlanEdit>,
) -> Result<Json<PlanView>, ApiError> {
    blocking(&daemon, move |daemon| {
        require_plan(daemon, &caller, Action::EditConfig, &name)?;
        let config = commit(daemon, &plan_path(&name), Commit::Write, |edit| {
            apply(edit, &name, &body)
        })?;
        Ok(Json(view(daemon, &config, &name)?))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/plans/{name}/validate", tag = "plans",
    params(("name" = String, Path, description = "plan name")),
    request_body(content = Object, description = "as for PUT", content_type = "application/json"),
    responses((status = 200, description = "`{\"ok\": true}`; nothing written", body = Object),
               (status = 422, description = "`{\"errors\": [{\"field\", \"message\"}]}`")))]
pub async fn validate(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<PlanEdit>,
) -> Result<Json<serde_json::Value>, ApiError> {
    blocking(&daemon, move |daemon| {
        require_plan(daemon, &caller, Action::EditConfig, &name)?;
        commit(daemon, &plan_path(&name), Commit::ValidateOnly, |edit| {
            apply(edit, &name, &body)
        })?;
        Ok(Json(serde_json::json!({ "ok": true })))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/plans", tag = "plans",
    request_body(content = Object, description = "`{\"name\": \"db\", \"set\": {\"repository\": \"main\", \"sources\": [\"/var/lib/db\"]}}`", content_type = "application/json"),
    responses((status = 201, description = "the new plan, written and loaded", body = Object),
               (status = 409, description = "a plan of that name exists"),
               (status = 422, description = "`{\"errors\": [{\"field\", \"message\"}]}`; nothing written")))]
pub async fn create(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Json(body): Json<NewPlan>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    blocking(&daemon, move |daemon| {
        let repository = match body.set.get("repository") {
            Some(EditValue::String(name)) => name.clone(),
            _ => String::new(),
        };
        caller.require(
            Action::EditConfig,
            Resource::Plan {
                name: &body.name,
                repository: &repository,
            },
        )?;
        let name = body.name.clone();
        let config = commit(daemon, &plan_path(&name), Commit::Write, |edit| {
            edit.add_plan(&name)?;
            apply(
                edit,
                &name,
                &PlanEdit {
                    set: body.set,
                    remove: Vec::new(),
                },
            )
        })?;
        Ok((StatusCode::CREATED, Json(view(daemon, &config, &name)?)))
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/plans/{name}", tag = "plans",
    params(("name" = String, Path, description = "plan name")),
    responses((status = 204, description = "removed from the file; the daemon reloaded"),
               (status = 404, description = "no such plan"),
               (status = 422, description = "something else names the plan (a notification channel)")))]
pub async fn delete(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(&daemon, move |daemon| {
        require_plan(daemon, &caller, Action::EditConfig, &name)?;
        commit(daemon, &plan_path(&name), Commit::Write, |edit| {
            edit.remove_plan(&name)
        })?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

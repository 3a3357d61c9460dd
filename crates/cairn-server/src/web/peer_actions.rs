//! What the server's users do on a connected client from its page: read a job's log, cancel a
//! job, list a snapshot's directory, restore to a directory on the client. Each is a remote
//! command over the client's stream (`Multihost::command`), allowed here by the user's role and
//! judged again by the client against the pairing's grant; a refusal comes back as one line.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::Form;
use cairn_access::Action;
use cairn_sync::CommandKind;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::context::{percent_encode, PageContext};
use super::format::bytes;
use super::layout::{page, Section};
use super::peers::require;
use super::{redirect_error, redirect_ok, WebError};
use crate::sync::Multihost;

fn peer_page(id: &str) -> String {
    format!("/peers/{}", percent_encode(id))
}

/// Sends `kind` and parses the client's JSON answer; a refusal is a 400 with its reason.
async fn ask(hub: &Multihost, id: &str, kind: CommandKind) -> Result<Value, WebError> {
    Ok(crate::sync::api::json_command(hub, id, kind).await?)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub async fn log(
    State(hub): State<Arc<Multihost>>,
    context: PageContext,
    Path((id, job)): Path<(String, i64)>,
) -> Result<Markup, WebError> {
    require(&context, Action::Read)?;
    let lines = ask(&hub, &id, CommandKind::FetchLog { job_id: job }).await?;
    let body = html! {
        p { a href=(peer_page(&id)) { "Back to the peer" } }
        pre.log {
            @for line in lines.as_array().into_iter().flatten() {
                (text(&line["at"])) " " (text(&line["source"])) ": " (text(&line["line"])) "\n"
            }
        }
    };
    Ok(page(
        &context,
        Section::Peers,
        &format!("Job {job} on {id}"),
        body,
    ))
}

pub async fn cancel(
    State(hub): State<Arc<Multihost>>,
    context: PageContext,
    Path((id, job)): Path<(String, i64)>,
) -> Result<Redirect, WebError> {
    require(&context, Action::Run)?;
    Ok(
        match ask(&hub, &id, CommandKind::CancelJob { job_id: job }).await {
            Ok(_) => redirect_ok(&peer_page(&id), &format!("job {job} on {id} cancelled")),
            Err(WebError(error)) => redirect_error(&peer_page(&id), &error.to_string()),
        },
    )
}

#[derive(Deserialize)]
pub struct BrowseQuery {
    repository: String,
    snapshot: String,
    #[serde(default)]
    path: Option<String>,
}

pub async fn browse(
    State(hub): State<Arc<Multihost>>,
    context: PageContext,
    Path(id): Path<String>,
    Query(query): Query<BrowseQuery>,
) -> Result<Markup, WebError> {
    require(&context, Action::Read)?;
    let path = query
        .path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    let kind = CommandKind::Browse {
        repository: query.repository.clone(),
        snapshot: query.snapshot.clone(),
        path: path.clone(),
    };
    let listing = ask(&hub, &id, kind).await?;
    let link = |name: &str| {
        let child = format!("{}/{name}", path.trim_end_matches('/'));
        format!(
            "/peers/{}/browse?repository={}&snapshot={}&path={}",
            percent_encode(&id),
            percent_encode(&query.repository),
            percent_encode(&query.snapshot),
            percent_encode(&child)
        )
    };
    let body = html! {
        p { a href=(peer_page(&id)) { "Back to the peer" } " · " code { (query.repository) } " · snapshot " code { (query.snapshot) } }
        table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Size" } th scope="col" { "Modified" } } }
            tbody { @for entry in listing["entries"].as_array().into_iter().flatten() {
                @let name = text(&entry["name"]);
                tr {
                    td { @if entry["type"] == "dir" { a href=(link(&name)) { (name) "/" } } @else { (name) } }
                    td { (text(&entry["type"])) }
                    td { @if let Some(size) = entry["size"].as_u64() { (bytes(size)) } }
                    td { (text(&entry["mtime"])) }
                }
            } }
        }
    };
    Ok(page(
        &context,
        Section::Peers,
        &format!("{path} on {id}"),
        body,
    ))
}

#[derive(Deserialize)]
pub struct RestoreForm {
    repository: String,
    snapshot: String,
    target: String,
    #[serde(default)]
    include: String,
}

pub async fn restore(
    State(hub): State<Arc<Multihost>>,
    context: PageContext,
    Path(id): Path<String>,
    Form(form): Form<RestoreForm>,
) -> Result<Redirect, WebError> {
    require(&context, Action::Restore)?;
    let include = form
        .include
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    let kind = CommandKind::Restore {
        repository: form.repository.trim().to_string(),
        snapshot: form.snapshot.trim().to_string(),
        target: form.target.trim().to_string(),
        include,
    };
    Ok(match ask(&hub, &id, kind).await {
        Ok(job) => redirect_ok(
            &peer_page(&id),
            &format!("restore queued on {id} as job {}", text(&job["id"])),
        ),
        Err(WebError(error)) => redirect_error(&peer_page(&id), &error.to_string()),
    })
}

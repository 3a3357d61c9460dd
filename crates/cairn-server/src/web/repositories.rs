//! `/repositories`: every repository the caller may read, with its snapshot count, last
//! snapshot and offsite state; `/repositories/{name}`: its snapshots (filtered by host, tag,
//! path) and a search by name across them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::Daemon;
use cairn_repo::snapshots::SnapshotFilter;
use maud::{html, Markup};
use serde::Deserialize;

use super::context::{percent_encode, PageContext};
use super::format::{bytes, time};
use super::layout::{page, Section};
use super::{blocking_page, WebError};
use crate::ApiError;

pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let repositories = blocking_page(&daemon, {
        let context = context.clone();
        move |daemon| {
            let config = daemon.config();
            let visible = |name: &str| context.may(Action::Read, Resource::Repository(name));
            Ok(daemon
                .browser()
                .repositories(&config, daemon.state(), &visible)?)
        }
    })
    .await?;
    let body = html! {
        div.table-scroll { table id="repositories" {
            thead { tr {
                th scope="col" { "Repository" } th scope="col" class="num" { "Snapshots" } th scope="col" class="num" { "Size" }
                th scope="col" { "Last snapshot" } th scope="col" { "Offsite" }
            } }
            tbody { @for repository in &repositories { tr data-repository=(repository.name) {
                td { a href={ "/repositories/" (repository.name) } { (repository.name) } br; span.muted { (repository.location) } }
                td.num { @if let Some(count) = repository.snapshot_count { (count) } }
                td.num { @if let Some(size) = repository.size_bytes { (bytes(size)) } @else { span.muted { "not measured yet" } } }
                td {
                    @if let Some(error) = &repository.error { span.error-text { (error) } }
                    @else { (time(repository.last_snapshot.map(|t| t.with_timezone(&chrono::Utc)))) }
                }
                td {
                    @match &repository.offsite {
                        Some(offsite) => { (offsite.destination) br; span.muted { "synced " (time(offsite.last_sync)) } br; },
                        None => { span.muted { "none" } " " },
                    }
                    a href={ "/repositories/" (repository.name) "/offsite" } { "Offsite settings" }
                }
            } } }
        } }
    };
    Ok(page(&context, Section::Repositories, "Repositories", body))
}

#[derive(Debug, Default, Deserialize)]
pub struct SnapshotQuery {
    #[serde(default)]
    host: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    path: String,
}

pub async fn snapshots(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(name): Path<String>,
    Query(query): Query<SnapshotQuery>,
) -> Result<Markup, WebError> {
    require_read(&context, &name)?;
    let filter = SnapshotFilter {
        hosts: non_empty(&query.host),
        tags: non_empty(&query.tag),
        paths: non_empty(&query.path),
    };
    let snapshots = blocking_page(&daemon, {
        let name = name.clone();
        move |daemon| {
            Ok(daemon
                .browser()
                .snapshots(&daemon.config(), &name, &filter)?)
        }
    })
    .await?;
    let body = html! {
        form.panel method="get" action={ "/repositories/" (name) "/search" } role="search" {
            label for="pattern" { "Find files by name in every snapshot" }
            div.actions {
                input id="pattern" name="pattern" type="text" placeholder="*.conf" required;
                button type="submit" { "Search" }
            }
        }
        form method="get" class="actions" aria-label="Filter snapshots" {
            label for="host" { "Host" } input id="host" name="host" type="text" value=(query.host);
            label for="tag" { "Tag" } input id="tag" name="tag" type="text" value=(query.tag);
            label for="path" { "Path" } input id="path" name="path" type="text" value=(query.path);
            button.secondary type="submit" { "Filter" }
        }
        h2 { (snapshots.len()) " snapshots" }
        div.table-scroll { table id="snapshots" {
            thead { tr { th scope="col" { "Time" } th scope="col" { "Id" } th scope="col" { "Host" } th scope="col" { "Paths" } th scope="col" { "Tags" } } }
            tbody { @for snapshot in &snapshots { tr data-snapshot=(snapshot.id) {
                td { a href={ "/repositories/" (name) "/snapshots/" (snapshot.id) "/browse?path=/" } { (snapshot.time.format("%Y-%m-%d %H:%M")) } }
                td { code { (snapshot.short_id) } }
                td { (snapshot.hostname) }
                td { (snapshot.paths.join(", ")) }
                td { (snapshot.tags.join(", ")) }
            } } }
        } }
    };
    Ok(page(
        &context,
        Section::Repositories,
        &format!("Repository {name}"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pattern: String,
}

pub async fn search(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(name): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Result<Markup, WebError> {
    require_read(&context, &name)?;
    let result = blocking_page(&daemon, {
        let (name, pattern) = (name.clone(), query.pattern.clone());
        move |daemon| {
            Ok(daemon
                .browser()
                .search(&daemon.config(), &name, &pattern, 200)?)
        }
    })
    .await?;
    let body = html! {
        p { (result.matches.len()) " matches for " code { (query.pattern) } @if result.truncated { " (the first 200; narrow the pattern)" } }
        div.table-scroll { table id="matches" {
            thead { tr { th scope="col" { "Path" } th scope="col" { "Snapshot" } th scope="col" class="num" { "Size" } th scope="col" { span.skip { "Actions" } } } }
            tbody { @for found in &result.matches { tr {
                td { code { (found.path) } }
                td { (found.time.format("%Y-%m-%d %H:%M")) " " code { (&found.snapshot[..found.snapshot.len().min(8)]) } }
                td.num { (bytes(found.size)) }
                td { a href={ "/repositories/" (name) "/history?path=" (percent_encode(&found.path)) } { "Versions" } }
            } } }
        } }
    };
    Ok(page(
        &context,
        Section::Repositories,
        &format!("Search in {name}"),
        body,
    ))
}

fn non_empty(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() {
        Vec::new()
    } else {
        vec![text.to_string()]
    }
}

pub(crate) fn require_read(context: &PageContext, repository: &str) -> Result<(), WebError> {
    context
        .principal
        .require(Action::Read, Resource::Repository(repository))
        .map_err(|e| WebError(ApiError::from(e)))
}

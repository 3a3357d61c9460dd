//! The file browser: `/repositories/{name}/snapshots/{id}/browse?path=/etc` lists one
//! directory (breadcrumbs, sizes, times), links a file to its versions across snapshots and
//! to its download, a directory to its archive, and offers a restore of what is shown;
//! `/repositories/{name}/history?path=…` lists a path's versions. Downloads are the API's
//! streamed routes; a restore is a job (`POST /repositories/{name}/restore`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::Form;
use cairn_access::{Action, Resource};
use cairn_jobs::browse::restore::RestoreRequest;
use cairn_jobs::daemon::Daemon;
use cairn_repo::browse::EntryType;
use maud::{html, Markup};
use serde::Deserialize;

use super::context::{percent_encode, PageContext};
use super::format::bytes;
use super::layout::{page, Section};
use super::repositories::require_read;
use super::{blocking_page, redirect_ok, WebError};

#[derive(Debug, Deserialize)]
pub struct PathQuery {
    #[serde(default = "root")]
    path: String,
}

fn root() -> String {
    "/".to_string()
}

/// `/a/b/c` → `[("/", "/"), ("a", "/a"), ("b", "/a/b"), ("c", "/a/b/c")]`.
pub fn breadcrumbs(path: &str) -> Vec<(String, String)> {
    let mut crumbs = vec![("/".to_string(), "/".to_string())];
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push('/');
        at.push_str(part);
        crumbs.push((part.to_string(), at.clone()));
    }
    crumbs
}

fn child(path: &str, name: &str) -> String {
    format!("{}/{name}", path.trim_end_matches('/'))
}

pub async fn directory(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path((name, snapshot)): Path<(String, String)>,
    Query(query): Query<PathQuery>,
) -> Result<Markup, WebError> {
    require_read(&context, &name)?;
    let listing = blocking_page(&daemon, {
        let (name, snapshot, path) = (name.clone(), snapshot.clone(), query.path.clone());
        move |daemon| {
            Ok(daemon
                .browser()
                .tree(&daemon.config(), &name, &snapshot, &path)?)
        }
    })
    .await?;
    let may_download = context.may(Action::Download, Resource::Repository(&name));
    let may_restore = context.may(Action::Restore, Resource::Repository(&name));
    let api = format!("/api/v1/repositories/{name}/snapshots/{snapshot}");
    let here = format!("/repositories/{name}/snapshots/{snapshot}/browse");
    let path = listing.path.clone();
    let body = html! {
        nav aria-label="Path" {
            ol.crumbs {
                li { a href={ "/repositories/" (name) } { (name) } }
                @for (label, at) in breadcrumbs(&path) {
                    li { a href={ (here) "?path=" (percent_encode(&at)) } { (label) } }
                }
            }
        }
        div.actions {
            @if may_download {
                a.button.secondary href={ (api) "/archive?format=tar.gz&path=" (percent_encode(&path)) } { "Download .tar.gz" }
                a.button.secondary href={ (api) "/archive?format=zip&path=" (percent_encode(&path)) } { "Download .zip" }
            }
        }
        div.table-scroll { table id="entries" {
            thead { tr { th scope="col" { "Name" } th scope="col" class="num" { "Size" } th scope="col" class="hide-narrow" { "Modified" } th scope="col" class="hide-narrow" { "Mode" } th scope="col" { span.skip { "Actions" } } } }
            tbody { @for entry in &listing.entries {
                @let full = child(&path, &entry.name);
                tr data-entry=(entry.name) {
                    td {
                        @match entry.entry_type {
                            EntryType::Dir => a href={ (here) "?path=" (percent_encode(&full)) } { (entry.name) "/" },
                            EntryType::Symlink => { (entry.name) " → " span.muted { (entry.link_target.as_deref().unwrap_or("")) } },
                            _ => (entry.name),
                        }
                    }
                    td.num { @if entry.entry_type == EntryType::File { (bytes(entry.size)) } }
                    td.hide-narrow { @if let Some(mtime) = entry.mtime { (mtime.format("%Y-%m-%d %H:%M")) } }
                    td.hide-narrow { code { (format!("{:o}", entry.mode & 0o7777)) } }
                    td.actions {
                        @if entry.entry_type == EntryType::File {
                            a href={ "/repositories/" (name) "/history?path=" (percent_encode(&full)) } aria-label={ "Versions of " (entry.name) } { "Versions" }
                            @if may_download {
                                " " a href={ (api) "/download?path=" (percent_encode(&full)) } download aria-label={ "Download " (entry.name) } { "Download" }
                            }
                        }
                    }
                }
            } }
        } }
        @if may_restore {
            details.panel id="restore" {
                summary { "Restore " code { (path) } " to the server…" }
                form method="post" action={ "/repositories/" (name) "/restore" } {
                    (context.csrf_field())
                    input type="hidden" name="snapshot" value=(snapshot);
                    input type="hidden" name="path" value=(path);
                    label for="target" { "Target directory" }
                    input id="target" name="target" type="text" required placeholder="restore-1" aria-describedby="target-hint";
                    p.hint id="target-hint" { "Relative to the server's restore directory (" code { "[server] restore_root" } "); nothing outside it." }
                    label for="include" { "Only these (patterns, one per line)" }
                    textarea id="include" name="include" rows="2" {}
                    label for="exclude" { "Leave out (patterns, one per line)" }
                    textarea id="exclude" name="exclude" rows="2" {}
                    p { button type="submit" { "Start restore" } }
                }
            }
        }
    };
    Ok(page(
        &context,
        Section::Repositories,
        &format!("Snapshot {} of {name}", &snapshot[..snapshot.len().min(8)]),
        body,
    ))
}

pub async fn history(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(name): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Markup, WebError> {
    require_read(&context, &name)?;
    let history = blocking_page(&daemon, {
        let (name, path) = (name.clone(), query.path.clone());
        move |daemon| Ok(daemon.browser().history(&daemon.config(), &name, &path)?)
    })
    .await?;
    let may_download = context.may(Action::Download, Resource::Repository(&name));
    let body = html! {
        p { "Every snapshot of " a href={ "/repositories/" (name) } { (name) } " that holds " code { (history.path) } ", newest first." }
        div.table-scroll { table id="versions" {
            thead { tr { th scope="col" { "Snapshot" } th scope="col" class="num" { "Size" } th scope="col" { "Modified" } th scope="col" { "Content" } th scope="col" { span.skip { "Actions" } } } }
            tbody { @for version in &history.versions { tr data-snapshot=(version.snapshot) {
                td { (version.time.format("%Y-%m-%d %H:%M")) " " code { (&version.snapshot[..version.snapshot.len().min(8)]) } }
                td.num { (bytes(version.size)) }
                td { @if let Some(mtime) = version.mtime { (mtime.format("%Y-%m-%d %H:%M")) } }
                td { @if version.changed { span.badge.running { "changed" } } @else { span.muted { "same as before" } } }
                td { @if may_download && version.entry_type == EntryType::File {
                    a href={ "/api/v1/repositories/" (name) "/snapshots/" (version.snapshot) "/download?path=" (percent_encode(&history.path)) } download { "Download" }
                } }
            } } }
        } }
    };
    Ok(page(&context, Section::Repositories, "File versions", body))
}

#[derive(Debug, Deserialize)]
pub struct RestoreForm {
    snapshot: String,
    path: String,
    target: String,
    #[serde(default)]
    include: String,
    #[serde(default)]
    exclude: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn restore(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(name): Path<String>,
    Form(form): Form<RestoreForm>,
) -> Result<Redirect, WebError> {
    context
        .principal
        .require(Action::Restore, Resource::Repository(&name))
        .map_err(|e| WebError(e.into()))?;
    let back = format!(
        "/repositories/{name}/snapshots/{}/browse?path={}",
        form.snapshot,
        percent_encode(&form.path)
    );
    let request = RestoreRequest {
        snapshot: form.snapshot,
        path: Some(form.path).filter(|p| p != "/"),
        target: form.target,
        include: lines(&form.include),
        exclude: lines(&form.exclude),
    };
    let result = blocking_page(&daemon, {
        let name = name.clone();
        move |daemon| Ok(daemon.queue_restore(&name, &request)?)
    })
    .await;
    Ok(match result {
        Ok(job) => redirect_ok(
            &format!("/jobs/{}", job.id),
            &format!("restore queued as job {}", job.id),
        ),
        Err(error) => {
            // `back` already has a query; the message goes after it.
            let message = percent_encode(&error.to_string());
            Redirect::to(&format!("{back}&error={message}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::breadcrumbs;

    #[test]
    fn breadcrumbs_lead_from_the_root() {
        let crumbs = breadcrumbs("/etc/nginx/");
        assert_eq!(
            crumbs,
            [
                ("/".into(), "/".into()),
                ("etc".into(), "/etc".into()),
                ("nginx".into(), "/etc/nginx".into())
            ]
        );
        assert_eq!(breadcrumbs("/").len(), 1);
    }
}

//! `GET /api/v1/repositories` and `GET /api/v1/repositories/{repo}/snapshots`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_jobs::browse::{RepositorySummary, SnapshotSummary};
use cairn_jobs::daemon::Daemon;
use cairn_repo::snapshots::SnapshotFilter;
use serde::Deserialize;

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

#[utoipa::path(get, path = "/api/v1/repositories", tag = "repositories",
    responses((status = 200, description = "repositories the caller may read: `[{name, location, snapshot_count, last_snapshot, offsite: null | {destination, last_sync}}]`", body = Vec<Object>)))]
pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
) -> Result<Json<Vec<RepositorySummary>>, ApiError> {
    blocking(&daemon, move |daemon| {
        let visible = |name: &str| caller.0.may(Action::Read, Resource::Repository(name));
        Ok(Json(daemon.browser().repositories(
            &daemon.config(),
            daemon.state(),
            &visible,
        )?))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct SnapshotsQuery {
    pub host: Option<String>,
    pub tag: Option<String>,
    pub path: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/repositories/{repo}/snapshots", tag = "repositories",
    params(("repo" = String, Path, description = "repository name"),
           ("host" = Option<String>, Query, description = "only this host's snapshots"),
           ("tag" = Option<String>, Query, description = "only snapshots with these tags (comma-separated, all must match)"),
           ("path" = Option<String>, Query, description = "only snapshots holding this path")),
    responses((status = 200, description = "`[{id, short_id, time, hostname, paths, tags}]`, newest first", body = Vec<Object>),
              (status = 404, description = "no such repository")))]
pub async fn snapshots(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repo): Path<String>,
    Query(query): Query<SnapshotsQuery>,
) -> Result<Json<Vec<SnapshotSummary>>, ApiError> {
    blocking(&daemon, move |daemon| {
        caller.require(Action::Read, Resource::Repository(&repo))?;
        let filter = SnapshotFilter {
            hosts: query.host.into_iter().collect(),
            tags: query.tag.into_iter().collect(),
            paths: query.path.into_iter().collect(),
        };
        Ok(Json(daemon.browser().snapshots(
            &daemon.config(),
            &repo,
            &filter,
        )?))
    })
    .await
}

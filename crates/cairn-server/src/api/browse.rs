//! Browsing one repository: a directory of a snapshot, one path's history, a name search.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_jobs::browse::History;
use cairn_jobs::daemon::Daemon;
use cairn_repo::browse::{Listing, SearchResult};
use serde::Deserialize;

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

/// Search results when the caller names no limit, and the most it may ask for.
const SEARCH_LIMIT_DEFAULT: usize = 200;
const SEARCH_LIMIT_MAX: usize = 10_000;

#[derive(Debug, Deserialize)]
pub struct PathQuery {
    pub path: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/repositories/{repo}/snapshots/{snapshot}/tree", tag = "browse",
    params(("repo" = String, Path, description = "repository name"),
           ("snapshot" = String, Path, description = "snapshot id, unique prefix, or `latest`"),
           ("path" = Option<String>, Query, description = "snapshot-absolute directory (default `/`)")),
    responses((status = 200, description = "`{path, entries: [{name, type, size, mtime, mode, link_target?}]}`", body = Object),
              (status = 400, description = "a path with `.`, `..` or empty components, or not a directory"),
              (status = 404, description = "no such repository or path")))]
pub async fn tree(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path((repo, snapshot)): Path<(String, String)>,
    Query(query): Query<PathQuery>,
) -> Result<Json<Listing>, ApiError> {
    blocking(&daemon, move |daemon| {
        caller.require(Action::Read, Resource::Repository(&repo))?;
        let path = query.path.as_deref().unwrap_or("/");
        Ok(Json(daemon.browser().tree(
            &daemon.config(),
            &repo,
            &snapshot,
            path,
        )?))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/repositories/{repo}/history", tag = "browse",
    params(("repo" = String, Path, description = "repository name"),
           ("path" = String, Query, description = "snapshot-absolute path")),
    responses((status = 200, description = "`{path, versions: [{snapshot, time, type, size, mtime, changed}]}`, newest first", body = Object),
              (status = 400, description = "a path with `.`, `..` or empty components")))]
pub async fn history(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repo): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Json<History>, ApiError> {
    blocking(&daemon, move |daemon| {
        caller.require(Action::Read, Resource::Repository(&repo))?;
        let path = query.path.ok_or_else(|| {
            ApiError::BadRequest("give the path whose history to show: ?path=/etc/hosts".into())
        })?;
        Ok(Json(daemon.browser().history(
            &daemon.config(),
            &repo,
            &path,
        )?))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub pattern: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/repositories/{repo}/search", tag = "browse",
    params(("repo" = String, Path, description = "repository name"),
           ("pattern" = String, Query, description = "a name or glob, as `cairn find` takes it (`*.conf`, `/etc/**/hosts`)"),
           ("limit" = Option<usize>, Query, description = "at most this many matches (default 200, at most 10000)")),
    responses((status = 200, description = "`{matches: [{snapshot, time, path, type, size, mtime}], truncated}`, newest snapshot first", body = Object),
              (status = 400, description = "an empty or invalid pattern")))]
pub async fn search(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repo): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResult>, ApiError> {
    blocking(&daemon, move |daemon| {
        caller.require(Action::Read, Resource::Repository(&repo))?;
        let pattern = query.pattern.ok_or_else(|| {
            ApiError::BadRequest("give a pattern to search for: ?pattern=*.conf".into())
        })?;
        let limit = query
            .limit
            .unwrap_or(SEARCH_LIMIT_DEFAULT)
            .clamp(1, SEARCH_LIMIT_MAX);
        Ok(Json(daemon.browser().search(
            &daemon.config(),
            &repo,
            &pattern,
            limit,
        )?))
    })
    .await
}

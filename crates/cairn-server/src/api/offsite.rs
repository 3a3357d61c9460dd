//! A repository's offsite as the web UI's form sees it: `GET|PUT
//! /api/v1/repositories/{repo}/offsite`, Test Connection with unsaved values (`POST …/test`,
//! the probe `cairn mirror test` runs), a sync now (`POST …/sync`), and the repositories
//! beside the mirror that no configured repository owns (`GET /api/v1/offsite/orphans`).
//!
//! The S3 key pair is write-only: a PUT may carry `access_key_id` and `secret_access_key`,
//! which are sealed with the instance key before they reach the file; no answer ever
//! contains them, only where the credentials come from (`credentials: {source, set}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_access::{Action, InstanceKey, Resource};
use cairn_config::edit::{fields::OFFSITE_FIELDS, ConfigEdit, EditValue};
use cairn_config::{Config, KeyPath, SealedCredentials};
use cairn_jobs::daemon::Daemon;
use cairn_state::{JobKind, JobRecord, Trigger};
use cairn_storage::s3::probe::{probe, probe_object_lock, ProbeStep};
use cairn_storage::s3::{Addressing, S3Credentials, S3Location, S3Options};
use serde::{Deserialize, Serialize};

use super::blocking;
use super::config_commit::{commit, edit_error, Commit};
use crate::auth::Caller;
use crate::{ApiError, FieldError};

/// A secret from a request body: never printed, never serialized.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct WriteOnly(String);

impl std::fmt::Debug for WriteOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where an offsite's S3 key pair comes from.
#[derive(Debug, Serialize)]
pub struct CredentialsView {
    /// `file` (credentials_file), `sealed` (typed into the UI) or `environment`.
    pub source: &'static str,
    /// Whether that source holds a key pair (for the environment: both variables are set).
    pub set: bool,
}

#[derive(Debug, Serialize)]
pub struct OffsiteView {
    #[serde(flatten)]
    pub fields: BTreeMap<String, EditValue>,
    pub credentials: CredentialsView,
}

/// The form's fields; those left out are removed (PUT replaces the settings). The key pair
/// is write-only: left out, the stored one stays.
#[derive(Debug, Deserialize)]
pub struct OffsiteUpdate {
    #[serde(flatten)]
    pub fields: BTreeMap<String, EditValue>,
    pub access_key_id: Option<WriteOnly>,
    pub secret_access_key: Option<WriteOnly>,
}

/// Unsaved values to test; a key pair left out is the saved one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsiteTest {
    pub destination: String,
    pub region: Option<String>,
    /// `true`: path-style requests, `false`: virtual-host; absent: chosen by the endpoint.
    pub path_style: Option<bool>,
    pub access_key_id: Option<WriteOnly>,
    pub secret_access_key: Option<WriteOnly>,
}

#[derive(Debug, Serialize)]
pub struct TestResult {
    pub ok: bool,
    pub steps: Vec<ProbeStep>,
}

fn require_repository(
    config: &Config,
    caller: &Caller,
    action: Action,
    repository: &str,
) -> Result<(), ApiError> {
    if !config.repositories.contains_key(repository) {
        return Err(ApiError::NotFound(format!(
            "the config has no repository {repository:?}"
        )));
    }
    caller.require(action, Resource::Repository(repository))
}

fn offsite_path(repository: &str) -> KeyPath {
    KeyPath::of(&["repositories", repository, "offsite"])
}

fn view(config: &Config, repository: &str) -> Result<OffsiteView, ApiError> {
    let edit = ConfigEdit::new(config).map_err(edit_error)?;
    let not_found = || ApiError::NotFound(format!("repository {repository:?} has no offsite"));
    let fields = edit.offsite_fields(repository).ok_or_else(not_found)?;
    let offsite = config.repositories[repository]
        .offsite
        .as_ref()
        .ok_or_else(not_found)?;
    let credentials = if offsite.sealed_credentials.is_some() {
        CredentialsView {
            source: "sealed",
            set: true,
        }
    } else if let Some(file) = &offsite.credentials_file {
        CredentialsView {
            source: "file",
            set: file.exists(),
        }
    } else {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        CredentialsView {
            source: "environment",
            set: set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"),
        }
    };
    Ok(OffsiteView {
        fields,
        credentials,
    })
}

/// The key pair of a request: both halves or neither.
fn key_pair(
    access_key_id: Option<WriteOnly>,
    secret_access_key: Option<WriteOnly>,
) -> Result<Option<(String, String)>, ApiError> {
    match (access_key_id, secret_access_key) {
        (Some(WriteOnly(id)), Some(WriteOnly(secret))) => Ok(Some((id, secret))),
        (None, None) => Ok(None),
        (id, _) => {
            let missing = if id.is_none() {
                "access_key_id"
            } else {
                "secret_access_key"
            };
            Err(ApiError::Invalid(vec![FieldError {
                field: missing.to_string(),
                message: format!("{missing} is missing; enter both halves of the key pair"),
            }]))
        }
    }
}

#[utoipa::path(get, path = "/api/v1/repositories/{repo}/offsite", tag = "offsite",
    params(("repo" = String, Path, description = "repository name")),
    responses((status = 200, description = "the offsite's fields as the file writes them, and `credentials: {source, set}`; never a secret", body = Object),
               (status = 404, description = "no such repository, or it has no offsite")))]
pub async fn show(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repository): Path<String>,
) -> Result<Json<OffsiteView>, ApiError> {
    blocking(&daemon, move |daemon| {
        let config = daemon.config();
        require_repository(&config, &caller, Action::Read, &repository)?;
        Ok(Json(view(&config, &repository)?))
    })
    .await
}

#[utoipa::path(put, path = "/api/v1/repositories/{repo}/offsite", tag = "offsite",
    params(("repo" = String, Path, description = "repository name")),
    request_body(content = Object, description = "the GET shape (fields left out are removed) plus write-only `access_key_id` and `secret_access_key`, sealed before they are stored", content_type = "application/json"),
    responses((status = 200, description = "the offsite after the file was written and the daemon reloaded", body = Object),
               (status = 403, description = "the caller may not edit the config"),
               (status = 422, description = "`{\"errors\": [{\"field\", \"message\"}]}`; nothing written")))]
pub async fn update(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repository): Path<String>,
    Json(body): Json<OffsiteUpdate>,
) -> Result<Json<OffsiteView>, ApiError> {
    blocking(&daemon, move |daemon| {
        let running = daemon.config();
        require_repository(&running, &caller, Action::EditConfig, &repository)?;
        let OffsiteUpdate {
            mut fields,
            access_key_id,
            secret_access_key,
        } = body;
        // The GET shape carries it; it is not a field of the file.
        fields.remove("credentials");
        let sealed = match key_pair(access_key_id, secret_access_key)? {
            Some((id, secret)) => {
                let key = InstanceKey::load_or_create(&running.state_dir)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                let (id_purpose, secret_purpose) = SealedCredentials::purposes(&repository);
                Some((
                    key.seal(&id_purpose, id.as_bytes()),
                    key.seal(&secret_purpose, secret.as_bytes()),
                ))
            }
            None => None,
        };
        let config = commit(daemon, &offsite_path(&repository), Commit::Write, |edit| {
            for field in OFFSITE_FIELDS {
                if !fields.contains_key(field.name) {
                    edit.remove_offsite_field(&repository, field.name)?;
                }
            }
            for (field, value) in &fields {
                edit.set_offsite_field(&repository, field, value)?;
            }
            if let Some((id, secret)) = &sealed {
                edit.set_offsite_sealed_credentials(&repository, id, secret)?;
            }
            Ok(())
        })?;
        Ok(Json(view(&config, &repository)?))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/repositories/{repo}/offsite/test", tag = "offsite",
    params(("repo" = String, Path, description = "repository name")),
    request_body(content = Object, description = "unsaved `{destination, region, path_style, access_key_id, secret_access_key}`; a key pair left out is the saved one", content_type = "application/json"),
    responses((status = 200, description = "`{ok, steps: [{step, ok, detail, fix}]}`, the steps of `cairn mirror test`", body = Object),
               (status = 422, description = "the destination is not an s3: URL")))]
pub async fn test(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repository): Path<String>,
    Json(body): Json<OffsiteTest>,
) -> Result<Json<TestResult>, ApiError> {
    blocking(&daemon, move |daemon| {
        let config = daemon.config();
        require_repository(&config, &caller, Action::EditConfig, &repository)?;
        let invalid = |field: &str, message: String| {
            ApiError::Invalid(vec![FieldError {
                field: field.to_string(),
                message,
            }])
        };
        let location = S3Location::parse(&body.destination).map_err(|e| {
            invalid(
                "destination",
                format!("Test Connection checks S3 destinations: {e}"),
            )
        })?;
        let (credentials, saved_region) =
            match key_pair(body.access_key_id, body.secret_access_key)? {
                Some((access_key_id, secret_access_key)) => (
                    S3Credentials {
                        access_key_id,
                        secret_access_key,
                        session_token: None,
                    },
                    None,
                ),
                None => saved_credentials(&config, &repository)
                    .map_err(|e| invalid("access_key_id", e.to_string()))?,
            };
        let mut options = S3Options::new(credentials);
        if let Some(region) = body.region.filter(|r| !r.is_empty()).or(saved_region) {
            options.region = region;
        }
        options.addressing = match body.path_style {
            Some(true) => Addressing::PathStyle,
            Some(false) => Addressing::VirtualHost,
            None => Addressing::Auto,
        };
        let mut steps = probe(&location, &options);
        // A saved offsite under Object Lock also needs the bucket's versioning and lock.
        let locked = config.repositories[&repository]
            .offsite
            .as_ref()
            .is_some_and(|offsite| offsite.object_lock.is_some());
        if locked && steps.iter().all(|step| step.ok) {
            steps.extend(probe_object_lock(&location, &options));
        }
        Ok(Json(TestResult {
            ok: steps.iter().all(|step| step.ok),
            steps,
        }))
    })
    .await
}

/// The key pair the saved offsite would use.
fn saved_credentials(
    config: &Config,
    repository: &str,
) -> cairn_jobs::Result<(S3Credentials, Option<String>)> {
    let what = format!("offsite of repository {repository}");
    let offsite = config.repositories[repository].offsite.as_ref();
    match offsite.and_then(|o| o.sealed_credentials.as_ref()) {
        Some(sealed) => Ok((
            cairn_jobs::open::open_sealed(repository, sealed, &config.state_dir, &what)?,
            None,
        )),
        None => cairn_jobs::open::s3_credentials(
            offsite.and_then(|o| o.credentials_file.as_deref()),
            &what,
        ),
    }
}

#[utoipa::path(post, path = "/api/v1/repositories/{repo}/offsite/sync", tag = "offsite",
    params(("repo" = String, Path, description = "repository name")),
    responses((status = 202, description = "the queued mirror job (of the first plan, by name, that backs up into the repository)", body = Object),
               (status = 404, description = "no such repository, or it has no offsite"),
               (status = 409, description = "no plan backs up into the repository")))]
pub async fn sync(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(repository): Path<String>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    let job = blocking(&daemon, move |daemon| {
        let config = daemon.config();
        require_repository(&config, &caller, Action::Run, &repository)?;
        if config.repositories[&repository].offsite.is_none() {
            return Err(ApiError::NotFound(format!(
                "repository {repository:?} has no offsite"
            )));
        }
        // The daemon runs a mirror as a step of a plan's job (one job per repository).
        let plan = config
            .plans
            .values()
            .find(|plan| plan.repository == repository)
            .ok_or_else(|| {
                ApiError::Conflict(format!(
                    "no plan backs up into repository {repository:?}; add one, or run `cairn mirror sync`"
                ))
            })?;
        Ok(daemon.queue_plan(&plan.name, JobKind::Mirror, Trigger::Manual)?)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrphansQuery {
    pub repository: String,
    /// How many prefix levels to search (default 6, as `cairn mirror orphans`).
    pub max_depth: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/offsite/orphans", tag = "offsite",
    params(("repository" = String, Query, description = "the repository whose offsite bucket is searched, beside its mirror (the parent of the destination's prefix)"),
           ("max_depth" = Option<usize>, Query, description = "prefix levels to search (default 6)")),
    responses((status = 200, description = "`[{location, prefix, id, snapshots, newest_snapshot, status}]`, status `known`, `orphan` or `unopened`", body = Vec<Object>),
               (status = 404, description = "no such repository, or it has no s3: offsite")))]
pub async fn orphans(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Query(query): Query<OrphansQuery>,
) -> Result<Json<Vec<cairn_jobs::orphans::FoundRepository>>, ApiError> {
    blocking(&daemon, move |daemon| {
        let config = daemon.config();
        let name = &query.repository;
        require_repository(&config, &caller, Action::Read, name)?;
        let entry = &config.repositories[name];
        let Some(cairn_config::StoreLocation::S3(destination)) =
            entry.offsite.as_ref().map(|o| &o.destination)
        else {
            return Err(ApiError::NotFound(format!(
                "repository {name:?} has no s3: offsite to search beside"
            )));
        };
        // Mirrors of several repositories share a bucket side by side: search the level the
        // destination sits in.
        let parent = destination
            .prefix
            .rsplit_once('/')
            .map_or("", |(parent, _)| parent);
        let root = destination.with_prefix(parent);
        let (credentials, region) = saved_credentials(&config, name)?;
        let mut options = S3Options::new(credentials);
        if let Some(region) = region {
            options.region = region;
        }
        let password =
            cairn_jobs::secret::read(&entry.password, &format!("password of repository {name}"))?;
        // Each configured repository that opens: its mirrors are known, not orphans.
        let open = cairn_jobs::open::OpenOptions {
            cache_base: None,
            no_cache: true,
        };
        let mut known_ids = std::collections::BTreeSet::new();
        for other in config.repositories.values() {
            match cairn_jobs::open::repository(other, &open) {
                Ok(repo) => {
                    known_ids.insert(repo.config().id.to_string());
                }
                Err(e) => tracing::warn!("orphans: cannot open repository {}: {e}", other.name),
            }
        }
        let found = cairn_jobs::orphans::find(
            &root,
            options,
            password.expose(),
            &known_ids,
            query.max_depth.unwrap_or(6),
        )?;
        Ok(Json(found))
    })
    .await
}

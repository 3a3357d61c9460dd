//! A configured repository (or offsite destination) as an open store and repository.
//!
//! S3 credentials come from the entry's `credentials_file` (`AWS_ACCESS_KEY_ID=…` lines, as an
//! environment file for systemd or a shell: `export` and quotes allowed), else from the
//! process's environment. The file's mode was checked when the config was loaded. An
//! offsite may instead hold a key pair sealed with the instance key (typed into the web UI);
//! [`offsite_store`] opens it with `STATE_DIR/instance.key`, in memory only.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use cairn_access::InstanceKey;
use cairn_config::{Offsite, SealedCredentials, StoreLocation};
use cairn_repo::Repository;
use cairn_storage::s3::{S3Credentials, S3Options};
use cairn_storage::{LocalStore, S3Store, Storage};

use crate::{secret, JobError, Result};

/// How a job opens repositories.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Where metadata caches of remote repositories live; `None`: `~/.cache/cairn`.
    pub cache_base: Option<std::path::PathBuf>,
    /// Read everything from the store.
    pub no_cache: bool,
}

/// How to write to an S3 store beyond its credentials (an offsite destination's settings).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Requests at once; 0: the store's default.
    pub transfers: usize,
    /// Storage class of data packs (everything else stays STANDARD).
    pub storage_class: Option<String>,
    pub sse: Option<cairn_storage::s3::ServerSideEncryption>,
    /// Bytes per second on the wire, for all transfers together.
    pub bandwidth_limit: Option<u64>,
}

/// The store at `location`, with S3 credentials from `credentials_file` or the environment.
/// `what` names the store in messages (`repository main`, `offsite of repository main`).
pub fn store(
    location: &StoreLocation,
    credentials_file: Option<&Path>,
    what: &str,
    settings: &S3Settings,
) -> Result<Arc<dyn Storage>> {
    match location {
        StoreLocation::Local(path) => Ok(Arc::new(LocalStore::new(path))),
        StoreLocation::S3(location) => {
            let (credentials, region) = s3_credentials(credentials_file, what)?;
            s3_store(location, credentials, region, settings)
        }
        StoreLocation::Rest(location) => rest_store(location, credentials_file, what),
    }
}

/// A REST repository; its login from `credentials_file` (`RESTIC_REST_USERNAME=…`,
/// `RESTIC_REST_PASSWORD=…` lines) or the environment (the config refuses one in the URL).
fn rest_store(
    location: &cairn_storage::RestLocation,
    credentials_file: Option<&Path>,
    what: &str,
) -> Result<Arc<dyn Storage>> {
    let variables = match credentials_file {
        Some(file) => read_environment_file(file, what)?,
        None => std::env::vars().collect(),
    };
    let credentials =
        cairn_storage::rest::RestCredentials::from_variables(|name| variables.get(name).cloned())
            .map_err(|e| JobError::Secret {
            what: format!("REST login of {what}"),
            reason: e.to_string(),
        })?;
    let store = cairn_storage::RestStore::open(
        location.clone(),
        credentials,
        cairn_storage::rest::RestRetry::default(),
    )
    .map_err(JobError::Storage)?;
    Ok(Arc::new(store))
}

/// An S3 key pair (and the region, when set) from `credentials_file` or, without one, the
/// environment. `what` names the store in messages; values never appear in them.
pub fn s3_credentials(
    credentials_file: Option<&Path>,
    what: &str,
) -> Result<(S3Credentials, Option<String>)> {
    let variables = match credentials_file {
        Some(file) => read_environment_file(file, what)?,
        None => std::env::vars().collect(),
    };
    let from = || match credentials_file {
        Some(file) => format!("in {}", file.display()),
        None => "in the environment".to_string(),
    };
    let get = |name: &str| variables.get(name).filter(|v| !v.is_empty()).cloned();
    let (Some(access_key_id), Some(secret_access_key)) =
        (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"))
    else {
        return Err(JobError::Secret {
            what: format!("S3 credentials of {what}"),
            reason: format!(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set {}",
                from()
            ),
        });
    };
    let credentials = S3Credentials {
        access_key_id,
        secret_access_key,
        session_token: get("AWS_SESSION_TOKEN"),
    };
    Ok((credentials, get("AWS_DEFAULT_REGION")))
}

/// The store of a repository's offsite with the credentials its config names: the sealed
/// key pair (opened with the instance key in `state_dir`), else as [`store`] finds them.
pub fn offsite_store(
    repository: &str,
    offsite: &Offsite,
    state_dir: &Path,
    settings: &S3Settings,
) -> Result<Arc<dyn Storage>> {
    let what = format!("offsite of repository {repository}");
    match (&offsite.destination, &offsite.sealed_credentials) {
        (StoreLocation::S3(location), Some(sealed)) => {
            let credentials = open_sealed(repository, sealed, state_dir, &what)?;
            // The region still comes from the environment, as for the other sources.
            let region = std::env::var("AWS_DEFAULT_REGION")
                .ok()
                .filter(|r| !r.is_empty());
            s3_store(location, credentials, region, settings)
        }
        _ => store(
            &offsite.destination,
            offsite.credentials_file.as_deref(),
            &what,
            settings,
        ),
    }
}

/// The key pair of an offsite, opened with the instance key. Errors name the purpose, never
/// a value.
pub fn open_sealed(
    repository: &str,
    sealed: &SealedCredentials,
    state_dir: &Path,
    what: &str,
) -> Result<S3Credentials> {
    let failed = |reason: String| JobError::Secret {
        what: format!("S3 credentials of {what}"),
        reason,
    };
    let key = InstanceKey::load_or_create(state_dir).map_err(|e| failed(e.to_string()))?;
    let (id_purpose, secret_purpose) = SealedCredentials::purposes(repository);
    let open = |purpose: &str, text: &str| {
        let bytes = key.open(purpose, text).map_err(|e| failed(e.to_string()))?;
        String::from_utf8(bytes)
            .map_err(|_| failed(format!("the sealed {purpose} is not text; enter it again")))
    };
    Ok(S3Credentials {
        access_key_id: open(&id_purpose, &sealed.access_key_id)?,
        secret_access_key: open(&secret_purpose, &sealed.secret_access_key)?,
        session_token: None,
    })
}

fn s3_store(
    location: &cairn_storage::S3Location,
    credentials: S3Credentials,
    region: Option<String>,
    settings: &S3Settings,
) -> Result<Arc<dyn Storage>> {
    let mut options = S3Options::new(credentials);
    if let Some(region) = region {
        options.region = region;
    }
    if settings.transfers > 0 {
        options.transfers = settings.transfers;
    }
    options.bulk_storage_class = settings.storage_class.clone();
    options.server_side_encryption = settings.sse.clone();
    options.bandwidth_limit_bytes_per_sec = settings.bandwidth_limit;
    Ok(Arc::new(S3Store::open(location.clone(), options)?))
}

/// Opens the repository a config entry describes, with its password and metadata cache.
pub fn repository(entry: &cairn_config::Repository, options: &OpenOptions) -> Result<Repository> {
    let what = format!("repository {}", entry.name);
    let storage = store(
        &entry.location,
        entry.credentials_file.as_deref(),
        &what,
        &S3Settings::default(),
    )?;
    let password = secret::read(&entry.password, &format!("password of {what}"))?;
    let mut repo = Repository::open(storage, password.expose())?;
    if !options.no_cache {
        repo.set_cache(cairn_repo::cache::open_for(
            &repo,
            options.cache_base.as_deref(),
        ));
    }
    Ok(repo)
}

/// `NAME=VALUE` lines; blank lines and `#` comments skipped, `export ` and one level of quotes
/// removed. Values are never shown in messages.
fn read_environment_file(path: &Path, what: &str) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| JobError::Secret {
        what: format!("S3 credentials of {what}"),
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    let mut variables = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(JobError::Secret {
                what: format!("S3 credentials of {what}"),
                reason: format!(
                    "{}:{}: not a NAME=VALUE line; write e.g. AWS_ACCESS_KEY_ID=AKIA…",
                    path.display(),
                    number + 1
                ),
            });
        };
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        variables.insert(name.trim().to_string(), unquoted.to_string());
    }
    Ok(variables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_files_read_as_a_shell_would() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s3.env");
        std::fs::write(
            &file,
            "# offsite\nexport AWS_ACCESS_KEY_ID=AKIAX\nAWS_SECRET_ACCESS_KEY='se cret'\n\nAWS_DEFAULT_REGION=\"eu-1\"\n",
        )
        .unwrap();
        let variables = read_environment_file(&file, "repository main").unwrap();
        assert_eq!(variables["AWS_ACCESS_KEY_ID"], "AKIAX");
        assert_eq!(variables["AWS_SECRET_ACCESS_KEY"], "se cret");
        assert_eq!(variables["AWS_DEFAULT_REGION"], "eu-1");
        std::fs::write(&file, "AWS_ACCESS_KEY_ID AKIAX\n").unwrap();
        let error = read_environment_file(&file, "repository main").unwrap_err();
        assert!(
            error.to_string().contains(":1: not a NAME=VALUE line"),
            "{error}"
        );
    }

    #[test]
    fn missing_credentials_are_named_without_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s3.env");
        std::fs::write(&file, "AWS_SECRET_ACCESS_KEY=very-secret\n").unwrap();
        let location = StoreLocation::parse("s3:http://127.0.0.1:1/bucket/prefix").unwrap();
        let error = store(
            &location,
            Some(&file),
            "repository main",
            &S3Settings::default(),
        )
        .err()
        .expect("refused");
        let text = error.to_string();
        assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
        assert!(!text.contains("very-secret"), "{text}");
    }
}

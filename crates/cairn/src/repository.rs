//! Turning `-r` into a storage and an open repository.

use std::sync::Arc;

use anyhow::{bail, Result};
use cairn_config::StoreLocation;
use cairn_repo::cache::MetadataCache;
use cairn_repo::Repository;
use cairn_storage::{LocalStore, Storage};

use crate::cli::GlobalArgs;
use crate::password;

pub fn storage(global: &GlobalArgs) -> Result<Arc<dyn Storage>> {
    let Some(location) = global.repo.as_deref() else {
        bail!("no repository given: use -r PATH or CAIRN_REPOSITORY");
    };
    if location.is_empty() {
        bail!("the repository location is empty: use -r PATH or CAIRN_REPOSITORY");
    }
    storage_at(global, location)
}

/// The storage a repository location names (a directory, `local:PATH`, an `s3:` or a
/// `rest:` URL).
pub fn storage_at(global: &GlobalArgs, location: &str) -> Result<Arc<dyn Storage>> {
    match StoreLocation::parse(location).map_err(|e| anyhow::anyhow!(e))? {
        StoreLocation::Local(path) => Ok(Arc::new(LocalStore::new(path))),
        StoreLocation::S3(location) => Ok(Arc::new(crate::s3::open_location(global, location)?)),
        StoreLocation::Rest(location) => {
            // A login in the URL wins; else restic's variables.
            let credentials = cairn_storage::rest::RestCredentials::from_env()?;
            Ok(Arc::new(cairn_storage::RestStore::open(
                location,
                credentials,
                cairn_storage::rest::RestRetry::default(),
            )?))
        }
    }
}

pub fn open(global: &GlobalArgs) -> Result<Repository> {
    let storage = storage(global)?;
    // Tell a missing repository apart before asking for a password that cannot help.
    match storage.size(cairn_storage::FileKind::Config, "config") {
        Err(e) if e.is_not_found() => {
            return Err(cairn_repo::RepoError::NotARepository {
                location: storage.location(),
            }
            .into())
        }
        _ => {}
    }
    let password = password::get(global)?;
    let mut repo = Repository::open(storage, password.expose())?;
    apply_lock_options(global, &mut repo)?;
    repo.set_cache(cache_for(global, &repo));
    Ok(repo)
}

/// The metadata cache of a remote repository (none for local ones, or with `--no-cache`).
pub fn cache_for(global: &GlobalArgs, repo: &Repository) -> Option<Arc<MetadataCache>> {
    if global.no_cache {
        return None;
    }
    cairn_repo::cache::open_for(repo, global.cache_dir.as_deref())
}

/// `--retry-lock`, and the lock timings tests shorten.
pub fn apply_lock_options(global: &GlobalArgs, repo: &mut Repository) -> Result<()> {
    if let Some(text) = &global.retry_lock {
        repo.set_lock_retry(parse_duration("--retry-lock", text)?);
    }
    let mut timings = repo.lock_timings();
    if let Some(text) = &global.lock_refresh {
        timings.refresh_every = parse_duration("--lock-refresh", text)?;
        timings.retry_every = timings.retry_every.min(timings.refresh_every / 4);
    }
    if let Some(text) = &global.lock_lost_after {
        timings.lost_after = parse_duration("--lock-lost-after", text)?;
    }
    repo.set_lock_timings(timings);
    Ok(())
}

/// A duration flag's value (`90s`, `5m`, `1h30m`, `500ms`, `7d`): the config's grammar, so a
/// value copied between the command line and the config file means the same.
pub fn parse_duration(flag: &str, text: &str) -> Result<std::time::Duration> {
    text.parse::<cairn_config::Duration>()
        .map(Into::into)
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

//! Turning `-r` into a storage and an open repository.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Result};
use cairn_repo::cache::{MetadataCache, DEFAULT_CACHE_SIZE_BYTES};
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

/// The storage a repository location names (a directory, `local:PATH`, or an `s3:` URL).
pub fn storage_at(global: &GlobalArgs, location: &str) -> Result<Arc<dyn Storage>> {
    if let Some((scheme, _)) = location.split_once(':') {
        match scheme {
            "local" => return Ok(Arc::new(LocalStore::new(&location["local:".len()..]))),
            "s3" => return Ok(Arc::new(crate::s3::open(global, location)?)),
            "rest" | "sftp" | "b2" | "azure" | "gs" | "rclone" | "swift" => {
                bail!("{scheme} repositories are not supported by this version; use a local directory or s3:")
            }
            _ => {}
        }
    }
    Ok(Arc::new(LocalStore::new(location)))
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
/// A cache that cannot be opened is a warning, not an error: it only ever saves requests.
pub fn cache_for(global: &GlobalArgs, repo: &Repository) -> Option<Arc<MetadataCache>> {
    if global.no_cache || !repo.storage().is_remote() {
        return None;
    }
    let base = global.cache_dir.clone().or_else(default_cache_dir)?;
    match MetadataCache::open(&base, &repo.config().id, DEFAULT_CACHE_SIZE_BYTES) {
        Ok(cache) => Some(Arc::new(cache)),
        Err(e) => {
            tracing::warn!(
                "cannot use the cache in {}: {e}; going on without (set --cache-dir or --no-cache)",
                base.display()
            );
            None
        }
    }
}

/// `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`.
fn default_cache_dir() -> Option<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from("XDG_CACHE_HOME")
        .or_else(|| from("HOME").map(|home| home.join(".cache")))
        .map(|dir| dir.join("cairn"))
}

/// `--retry-lock`, and the lock timings tests shorten.
pub fn apply_lock_options(global: &GlobalArgs, repo: &mut Repository) -> Result<()> {
    if let Some(text) = &global.retry_lock {
        repo.set_lock_retry(parse_duration(text)?);
    }
    let mut timings = repo.lock_timings();
    if let Some(text) = &global.lock_refresh {
        timings.refresh_every = parse_duration(text)?;
        timings.retry_every = timings.retry_every.min(timings.refresh_every / 4);
    }
    if let Some(text) = &global.lock_lost_after {
        timings.lost_after = parse_duration(text)?;
    }
    repo.set_lock_timings(timings);
    Ok(())
}

/// A Go-style duration: `90s`, `5m`, `1h30m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    const UNITS: [(&str, f64); 4] = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    parse_units(text, &UNITS)
        .ok_or_else(|| anyhow::anyhow!("invalid duration {text:?}: use e.g. 30s, 5m, 1h30m"))
}

/// A grace period: `7d`, `36h`, `90m`, `1w2d`, or `0`.
pub fn parse_grace(text: &str) -> Result<std::time::Duration> {
    const UNITS: [(&str, f64); 5] = [
        ("w", 7.0 * 86_400.0),
        ("d", 86_400.0),
        ("h", 3_600.0),
        ("m", 60.0),
        ("s", 1.0),
    ];
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    parse_units(text, &UNITS).ok_or_else(|| {
        anyhow::anyhow!("invalid --delete-after {text:?}: use e.g. 7d, 36h, 90m, or 0")
    })
}

/// A sum of `NUMBER UNIT` terms (`1h30m`) with the units given as (name, seconds).
fn parse_units(text: &str, units: &[(&str, f64)]) -> Option<std::time::Duration> {
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (_, seconds) = units.iter().find(|(name, _)| *name == &rest[..unit_len])?;
        total = total
            .checked_add(std::time::Duration::try_from_secs_f64(value as f64 * seconds).ok()?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

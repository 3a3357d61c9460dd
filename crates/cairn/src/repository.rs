//! Turning `-r` into a storage and an open repository.

use std::sync::Arc;

use anyhow::{bail, Result};
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
    if let Some(text) = &global.retry_lock {
        repo.set_lock_retry(parse_duration(text)?);
    }
    Ok(repo)
}

/// A Go-style duration: `90s`, `5m`, `1h30m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    let invalid = || anyhow::anyhow!("invalid duration {text:?}: use e.g. 30s, 5m, 1h30m");
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => value as f64 / 1000.0,
            "s" => value as f64,
            "m" => value as f64 * 60.0,
            "h" => value as f64 * 3600.0,
            _ => return Err(invalid()),
        };
        total += std::time::Duration::from_secs_f64(seconds);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

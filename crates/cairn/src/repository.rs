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
    if let Some((scheme, _)) = location.split_once(':') {
        match scheme {
            "local" => return Ok(Arc::new(LocalStore::new(&location["local:".len()..]))),
            "s3" | "rest" | "sftp" | "b2" | "azure" | "gs" | "rclone" | "swift" => {
                bail!("{scheme} repositories are not supported by this version; use a local directory")
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
    Ok(Repository::open(storage, password.expose())?)
}

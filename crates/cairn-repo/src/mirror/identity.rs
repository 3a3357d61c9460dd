//! Whether a mirror holds the repository `mirror restore --mode replace` is about to
//! overwrite, and the key that reads the mirror's index.
//!
//! `config` is sealed with the master key, so ids are compared by decrypting: the target opened
//! with the password gives its master key, which must open the mirror's config, and the id
//! inside must be the target's. A mirror whose config that key cannot open is another
//! repository. (A target whose key files are lost or damaged is compared the other way round:
//! the mirror's key, from the password, must open the target's config.)
//!
//! A target without a config (what disaster recovery meets: a repository that lost it) is
//! judged by its other sealed files instead: the password must open the mirror, and the
//! target's index or snapshot files must open with the mirror's master key (the first few
//! whose bytes match their name are tried; one that opens is proof enough). A target with no
//! such file holds no snapshot a replace could destroy; it is accepted.
//!
//! `force` compares nothing; the password must still open the mirror, whose index decides
//! which local packs a replace keeps.

use std::sync::Arc;

use cairn_format::{Id, RepoConfig};
use cairn_storage::{FileKind, Storage};
use serde::Serialize;

use crate::error::{ErrorKind, RepoError, Result};
use crate::repository::Repository;

/// How the target was found to hold the mirror's repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepositoryMatch {
    /// The target's master key opens the mirror's config, and the ids are equal.
    SameId,
    /// The target has no config; its sealed files open with the mirror's master key.
    SealedFilesOpen,
    /// The target has no config and no index or snapshot file to compare.
    NothingToCompare,
    /// Not compared (`--force-other-repository`).
    Forced,
}

/// Sealed files of a target without config tried against the mirror's key; a few, so that one
/// damaged file does not decide, and a large repository is not read whole.
const SEALED_FILES_TRIED_MAX: usize = 8;

/// The repository whose master key reads the mirror (the target's own when it has a config),
/// after checking the mirror holds the target's repository unless `force`.
pub fn check_same_repository(
    mirror: &Arc<dyn Storage>,
    target: &Arc<dyn Storage>,
    password: &[u8],
    force: bool,
) -> Result<(Repository, RepositoryMatch)> {
    if force {
        return Ok((
            Repository::open(mirror.clone(), password)?,
            RepositoryMatch::Forced,
        ));
    }
    if !target.list(FileKind::Config)?.is_empty() {
        let (keyed, other) = match Repository::open(target.clone(), password) {
            Ok(local) => (local, mirror),
            // The target's key files are gone or damaged: judge its config with the mirror's
            // key instead.
            Err(e) if e.kind() == ErrorKind::Corrupt => {
                (Repository::open(mirror.clone(), password)?, target)
            }
            Err(e) => return Err(e),
        };
        let sealed = other.get(FileKind::Config, "config")?;
        let opened = keyed
            .key()
            .open(&sealed)
            .ok()
            .and_then(|json| RepoConfig::from_json(&json).ok());
        let ours = &keyed.config().id;
        return match opened {
            Some(config) if config.id == *ours => Ok((keyed, RepositoryMatch::SameId)),
            Some(config) => Err(other_repository(
                mirror.as_ref(),
                target.as_ref(),
                &format!("ids {} and {} differ", short(&config.id), short(ours)),
            )),
            None => Err(other_repository(
                mirror.as_ref(),
                target.as_ref(),
                &format!(
                    "the config of {} does not open with the key of {}",
                    other.location(),
                    keyed.location()
                ),
            )),
        };
    }
    let remote = Repository::open(mirror.clone(), password)?;
    let mut tried = Vec::new();
    for kind in [FileKind::Index, FileKind::Snapshot] {
        for object in target.list(kind)? {
            if tried.len() == SEALED_FILES_TRIED_MAX {
                break;
            }
            let bytes = target.get(kind, &object.name)?;
            // A file damaged on disk proves nothing either way.
            if object.name.parse::<Id>().ok() != Some(Id::hash(&bytes)) {
                continue;
            }
            if remote.key().open(&bytes).is_ok() {
                return Ok((remote, RepositoryMatch::SealedFilesOpen));
            }
            tried.push(format!("{kind} {}", short(&object.name)));
        }
    }
    if tried.is_empty() {
        return Ok((remote, RepositoryMatch::NothingToCompare));
    }
    Err(other_repository(
        mirror.as_ref(),
        target.as_ref(),
        &format!(
            "{} has no config, and none of its files tried ({}) opens with the mirror's key",
            target.location(),
            tried.join(", ")
        ),
    ))
}

fn other_repository(mirror: &dyn Storage, target: &dyn Storage, why: &str) -> RepoError {
    RepoError::InvalidInput(format!(
        "{} holds another repository than {} ({why}); check the mirror's location, or replace \
         {} with that repository anyway with --force-other-repository",
        mirror.location(),
        target.location(),
        target.location()
    ))
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

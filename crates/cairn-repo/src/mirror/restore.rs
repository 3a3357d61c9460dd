//! `mirror restore`: bring a repository back from its mirror.
//!
//! `Replace` makes an existing local repository identical to the mirror (fetching what is
//! missing or differs, removing what the mirror lacks); `Copy` fills a new, empty one. Objects
//! arrive in commit order (config and keys, packs, index, snapshots) and extras leave in the
//! reverse order, so the target is a consistent repository whenever the restore stops. Every
//! object's SHA-256 is checked against its name on the way. The mirror's own grace-period
//! state stays behind; other sidecars (the manifest) come along.

use std::sync::Arc;

use cairn_storage::{FileKind, Storage};
use serde::Serialize;

use super::pending::STATE_NAME;
use super::sync::{listing, Listing, MIRRORED};
use super::transfer::{self, Transfer};
use crate::error::{RepoError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    Replace,
    Copy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MirrorRestoreSummary {
    pub fetched_objects: u64,
    pub fetched_bytes: u64,
    pub kept_objects: u64,
    pub removed_objects: u64,
}

pub fn restore_from_mirror(
    mirror: &Arc<dyn Storage>,
    target: &Arc<dyn Storage>,
    mode: RestoreMode,
    transfers: usize,
    sent: &(dyn Fn(u64) + Sync),
) -> Result<MirrorRestoreSummary> {
    if mirror.list(FileKind::Config)?.is_empty() {
        return Err(RepoError::NotARepository {
            location: mirror.location(),
        });
    }
    let locks = target.list(FileKind::Lock)?;
    match mode {
        RestoreMode::Replace if !locks.is_empty() => {
            return Err(RepoError::InvalidInput(format!(
                "{} is locked ({} lock file{}); a backup, prune or check may be running. Wait \
                 for it, or remove stale locks with `cairn -r {} unlock`, then restore",
                target.location(),
                locks.len(),
                if locks.len() == 1 { "" } else { "s" },
                target.location()
            )))
        }
        RestoreMode::Copy => {
            let any = locks.len()
                + FileKind::ALL
                    .iter()
                    .map(|k| target.list(*k).map(|l| l.len()))
                    .sum::<std::result::Result<usize, _>>()?;
            if any > 0 {
                return Err(RepoError::InvalidInput(format!(
                    "{} is not empty; --mode copy makes a new repository (use --mode replace to \
                     overwrite one)",
                    target.location()
                )));
            }
            target.create()?;
        }
        RestoreMode::Replace => {}
    }

    let mut summary = MirrorRestoreSummary::default();
    let mut stages: Vec<Vec<Transfer>> = vec![Vec::new(); 5];
    let mut extras: Vec<(FileKind, String)> = Vec::new();
    let kinds = MIRRORED.into_iter().chain([FileKind::Sidecar]);
    for kind in kinds {
        let stage = match kind {
            FileKind::Config | FileKind::Key => 0,
            FileKind::Pack => 1,
            FileKind::Index => 2,
            FileKind::Snapshot => 3,
            _ => 4,
        };
        let theirs = listing_of(mirror.as_ref(), kind)?;
        let ours = listing_of(target.as_ref(), kind)?;
        for (name, &size) in &theirs {
            let same = match kind {
                // config is not named by its hash: compare the bytes.
                FileKind::Config => {
                    ours.contains_key(name) && target.get(kind, name)? == mirror.get(kind, name)?
                }
                _ => ours.get(name) == Some(&size),
            };
            if same {
                summary.kept_objects += 1;
            } else {
                stages[stage].push(Transfer {
                    kind,
                    name: name.clone(),
                    size,
                    bulk: false,
                });
            }
        }
        for name in ours.keys().filter(|n| !theirs.contains_key(*n)) {
            extras.push((kind, name.clone()));
        }
    }

    let done = |bytes: u64| sent(bytes);
    for stage in &stages {
        if stage.is_empty() {
            continue;
        }
        transfer::run(mirror.as_ref(), target.as_ref(), stage, transfers, &done)?;
        summary.fetched_objects += stage.len() as u64;
        summary.fetched_bytes += stage.iter().map(|t| t.size).sum::<u64>();
        target.sync()?;
    }
    // What names other objects leaves first.
    let order = |kind: FileKind| match kind {
        FileKind::Snapshot => 0,
        FileKind::Index => 1,
        FileKind::Key => 2,
        FileKind::Sidecar => 3,
        _ => 4,
    };
    extras.sort_by_key(|(kind, _)| order(*kind));
    for (kind, name) in extras {
        target.remove(kind, &name)?;
        summary.removed_objects += 1;
    }
    target.sync()?;
    Ok(summary)
}

/// A store's objects of `kind`, without the mirror's own grace state.
fn listing_of(store: &dyn Storage, kind: FileKind) -> Result<Listing> {
    let mut objects = listing(store.list(kind)?);
    objects.remove(STATE_NAME);
    Ok(objects)
}

//! `mirror restore`: bring a repository back from its mirror.
//!
//! `Replace` makes an existing local repository identical to the mirror (fetching what is
//! missing or differs, removing what the mirror lacks); `Copy` fills a new, empty one. Objects
//! arrive in commit order (config and keys, packs, index, snapshots) and extras leave in the
//! reverse order (snapshots, index, keys, packs), so the target is a consistent repository
//! whenever the restore stops. Every object's SHA-256 is checked against its name on the way.
//! The mirror's own grace-period state and retention dates stay behind; other sidecars (the
//! manifest) come along. `mirror restore --at` passes the mirror as it was at a past instant
//! (`cairn_storage::PointInTimeStore` over the mirror's object versions) and restores it the
//! same way.
//!
//! Replace first checks that the mirror holds the target's repository ([`identity`]), which
//! needs the password. It never removes a local pack that an index file of the restored
//! repository (the mirror's index files) names, even when the mirror lacks it (a mirror
//! within a grace period, or damaged): removing it would leave that index pointing at nothing.
//! Nor does it remove the key file the password opened, so the password still opens the
//! restored repository. A dry run plans the same way and lists what it would fetch and remove.
//!
//! [`identity`]: super::identity

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use cairn_format::{Id, IndexFile};
use cairn_storage::{FileKind, Storage};
use serde::Serialize;

use super::identity::{check_same_repository, RepositoryMatch};
use super::pending::STATE_NAME;
use super::retention::RETENTION_NAME;
use super::sync::{listing, Listing, PlannedObject, MIRRORED};
use super::transfer::{self, Transfer};
use crate::error::{RepoError, Result};
use crate::progress::{Phase, Progress};
use crate::repository::Repository;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    Replace,
    Copy,
}

#[derive(Debug, Clone, Copy)]
pub struct MirrorRestoreOptions<'a> {
    pub mode: RestoreMode,
    /// Objects fetched at once.
    pub transfers: usize,
    /// Plan and report; change nothing.
    pub dry_run: bool,
    /// The repository's password: replace needs it (to compare repository ids and read the
    /// mirror's index); copy does not.
    pub password: Option<&'a [u8]>,
    /// Replace even when the mirror holds another repository.
    pub force_other_repository: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MirrorRestoreSummary {
    pub dry_run: bool,
    /// Replace: how the mirror was found to hold the target's repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_match: Option<RepositoryMatch>,
    /// Replace: the id of the repository restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_id: Option<String>,
    /// Fetched (in a dry run: to fetch).
    pub fetched_objects: u64,
    pub fetched_bytes: u64,
    /// Already in the target, identical.
    pub kept_objects: u64,
    /// Removed from the target (in a dry run: to remove).
    pub removed_objects: u64,
    pub removed_bytes: u64,
    /// Local packs the mirror lacks but an index file of the restored repository names: kept.
    pub kept_indexed_packs: u64,
    /// The key file the password opened, when the mirror lacks it: kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_key: Option<String>,
    /// Packs the restored index names that neither the mirror nor the target holds: the
    /// restored repository lacks their data (`check` names what is affected).
    pub missing_packs: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_fetch: Vec<PlannedObject>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_delete: Vec<PlannedObject>,
}

/// What a restore moves: fetches stage by stage, then removals in order.
struct RestorePlan {
    /// config and keys, packs, index, snapshots, sidecars.
    stages: Vec<Vec<Transfer>>,
    /// (kind, name, size) in removal order.
    extras: Vec<(FileKind, String, u64)>,
    mirror_packs: Listing,
    mirror_index: Listing,
    target_packs: Listing,
    target_index: Listing,
}

const STAGE_INDEX: usize = 2;

pub fn restore_from_mirror(
    mirror: &Arc<dyn Storage>,
    target: &Arc<dyn Storage>,
    options: &MirrorRestoreOptions,
    progress: &Progress,
) -> Result<MirrorRestoreSummary> {
    let summary = restore_reporting(mirror, target, options, progress)?;
    progress.set_current(None);
    progress.set_phase(Phase::Done);
    Ok(summary)
}

/// [`restore_from_mirror`], reporting to `progress`: files are the objects fetched, bytes
/// their sizes.
fn restore_reporting(
    mirror: &Arc<dyn Storage>,
    target: &Arc<dyn Storage>,
    options: &MirrorRestoreOptions,
    progress: &Progress,
) -> Result<MirrorRestoreSummary> {
    progress.set_phase(Phase::Listing);
    if mirror.list(FileKind::Config)?.is_empty() {
        return Err(RepoError::NotARepository {
            location: mirror.location(),
        });
    }
    let mut summary = MirrorRestoreSummary {
        dry_run: options.dry_run,
        ..MirrorRestoreSummary::default()
    };
    let locks = target.list(FileKind::Lock)?;
    let keyed = match options.mode {
        RestoreMode::Replace => {
            if !locks.is_empty() {
                return Err(RepoError::InvalidInput(format!(
                    "{} is locked ({} lock file{}); a backup, prune or check may be running. \
                     Wait for it, or remove stale locks with `cairn -r {} unlock`, then restore",
                    target.location(),
                    locks.len(),
                    if locks.len() == 1 { "" } else { "s" },
                    target.location()
                )));
            }
            let password = options.password.ok_or_else(|| {
                RepoError::InvalidInput(format!(
                    "--mode replace needs the password of the repository in {} (to check that \
                     the mirror holds it); use --password-file, --password-command or \
                     CAIRN_PASSWORD",
                    mirror.location()
                ))
            })?;
            let (keyed, matched) =
                check_same_repository(mirror, target, password, options.force_other_repository)?;
            summary.repository_match = Some(matched);
            summary.repository_id = Some(keyed.config().id.clone());
            Some(keyed)
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
            if !options.dry_run {
                target.create()?;
            }
            None
        }
    };

    let mut plan = plan(mirror.as_ref(), target.as_ref(), &mut summary)?;
    let keep = |plan: &mut RestorePlan, summary: &mut MirrorRestoreSummary| -> Result<()> {
        if let Some(keyed) = &keyed {
            keep_what_the_restored_repository_needs(keyed, mirror, target, options, plan, summary)?;
        }
        Ok(())
    };

    if options.dry_run {
        keep(&mut plan, &mut summary)?;
        let planned = |kind: FileKind, name: &str, size: u64| PlannedObject {
            kind: kind.to_string(),
            name: name.to_string(),
            size,
        };
        summary.would_fetch = plan
            .stages
            .iter()
            .flatten()
            .map(|t| planned(t.kind, &t.name, t.size))
            .collect();
        summary.would_delete = plan
            .extras
            .iter()
            .map(|(kind, name, size)| planned(*kind, name, *size))
            .collect();
        summary.fetched_objects = summary.would_fetch.len() as u64;
        summary.fetched_bytes = summary.would_fetch.iter().map(|o| o.size).sum();
        summary.removed_objects = summary.would_delete.len() as u64;
        summary.removed_bytes = summary.would_delete.iter().map(|o| o.size).sum();
        return Ok(summary);
    }

    let stages = std::mem::take(&mut plan.stages);
    let fetches = stages.iter().flatten();
    progress.set_totals(
        Some(fetches.clone().count() as u64),
        Some(fetches.map(|t| t.size).sum()),
    );
    progress.set_phase(Phase::Downloading);
    for (i, stage) in stages.iter().enumerate() {
        if !stage.is_empty() {
            transfer::run(
                mirror.as_ref(),
                target.as_ref(),
                stage,
                options.transfers,
                None,
                progress,
            )?;
            summary.fetched_objects += stage.len() as u64;
            summary.fetched_bytes += stage.iter().map(|t| t.size).sum::<u64>();
            target.sync()?;
        }
        if i == STAGE_INDEX {
            // The replacement index is in place: decide from it what stays.
            keep(&mut plan, &mut summary)?;
        }
    }
    progress.set_phase(Phase::Deleting);
    for (kind, name, size) in &plan.extras {
        progress.set_current(Some(&kind.path(name)));
        target.remove(*kind, name)?;
        summary.removed_objects += 1;
        summary.removed_bytes += size;
    }
    target.sync()?;
    Ok(summary)
}

/// Compares listings: what the target lacks or holds differently, and what it holds beyond
/// the mirror.
fn plan(
    mirror: &dyn Storage,
    target: &dyn Storage,
    summary: &mut MirrorRestoreSummary,
) -> Result<RestorePlan> {
    let mut plan = RestorePlan {
        stages: vec![Vec::new(); 5],
        extras: Vec::new(),
        mirror_packs: Listing::new(),
        mirror_index: Listing::new(),
        target_packs: Listing::new(),
        target_index: Listing::new(),
    };
    for kind in MIRRORED.into_iter().chain([FileKind::Sidecar]) {
        let stage = match kind {
            FileKind::Config | FileKind::Key => 0,
            FileKind::Pack => 1,
            FileKind::Index => STAGE_INDEX,
            FileKind::Snapshot => 3,
            _ => 4,
        };
        let theirs = listing_of(mirror, kind)?;
        let ours = listing_of(target, kind)?;
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
                plan.stages[stage].push(Transfer {
                    kind,
                    name: name.clone(),
                    size,
                    bulk: false,
                });
            }
        }
        for (name, &size) in ours.iter().filter(|(n, _)| !theirs.contains_key(*n)) {
            plan.extras.push((kind, name.clone(), size));
        }
        match kind {
            FileKind::Pack => (plan.mirror_packs, plan.target_packs) = (theirs, ours),
            FileKind::Index => (plan.mirror_index, plan.target_index) = (theirs, ours),
            _ => {}
        }
    }
    // What names other objects leaves first.
    let order = |kind: FileKind| match kind {
        FileKind::Snapshot => 0,
        FileKind::Index => 1,
        FileKind::Key => 2,
        FileKind::Sidecar => 3,
        _ => 4,
    };
    plan.extras.sort_by_key(|(kind, _, _)| order(*kind));
    Ok(plan)
}

/// Takes out of the removals the local packs the restored index names and the key file the
/// password opened; counts packs the restored index names that no side holds.
fn keep_what_the_restored_repository_needs(
    keyed: &Repository,
    mirror: &Arc<dyn Storage>,
    target: &Arc<dyn Storage>,
    options: &MirrorRestoreOptions,
    plan: &mut RestorePlan,
    summary: &mut MirrorRestoreSummary,
) -> Result<()> {
    let named = packs_named_by(keyed, mirror, target, plan, options.transfers)?;
    let key = keyed.key_id().to_hex();
    plan.extras.retain(|(kind, name, _)| match kind {
        FileKind::Pack if named.contains(name) => {
            summary.kept_indexed_packs += 1;
            false
        }
        FileKind::Key if *name == key => {
            summary.kept_key = Some(key.clone());
            false
        }
        _ => true,
    });
    summary.missing_packs = named
        .iter()
        .filter(|p| !plan.mirror_packs.contains_key(*p) && !plan.target_packs.contains_key(*p))
        .count() as u64;
    Ok(())
}

/// Every pack the mirror's index files name. Each file is read from the target when it holds
/// it already (after the index stage, all of them), else from the mirror; either way checked
/// against its name and MAC. One that cannot be read stops the restore before anything is
/// removed: what is safe to remove is then unknown.
fn packs_named_by(
    keyed: &Repository,
    mirror: &Arc<dyn Storage>,
    target: &Arc<dyn Storage>,
    plan: &RestorePlan,
    workers: usize,
) -> Result<HashSet<String>> {
    let files: Vec<(&String, &dyn Storage)> = plan
        .mirror_index
        .iter()
        .map(|(name, size)| {
            let from: &dyn Storage = if plan.target_index.get(name) == Some(size) {
                target.as_ref()
            } else {
                mirror.as_ref()
            };
            (name, from)
        })
        .collect();
    let next = Mutex::new(files.iter());
    let named = Mutex::new(HashSet::new());
    let first_error: Mutex<Option<RepoError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, files.len().max(1)) {
            scope.spawn(|| loop {
                if first_error.lock().expect("error slot").is_some() {
                    return;
                }
                let Some((name, from)) = next.lock().expect("queue").next() else {
                    return;
                };
                match index_packs(keyed, *from, name) {
                    Ok(packs) => named.lock().expect("packs").extend(packs),
                    Err(e) => {
                        first_error.lock().expect("error slot").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match first_error.into_inner().expect("error slot") {
        Some(e) => Err(e),
        None => Ok(named.into_inner().expect("packs")),
    }
}

fn index_packs(keyed: &Repository, from: &dyn Storage, name: &str) -> Result<Vec<String>> {
    let id: Id = name
        .parse()
        .map_err(|_| RepoError::corrupt(format!("index/{name}"), "not a valid index file name"))?;
    let json = keyed.decode_unpacked(FileKind::Index, &id, &from.get(FileKind::Index, name)?)?;
    let file = IndexFile::from_json(&json)
        .map_err(|e| RepoError::corrupt(format!("index {id}"), e.to_string()))?;
    Ok(file.packs.iter().map(|p| p.id.to_string()).collect())
}

/// A store's objects of `kind`, without the mirror's own grace state and retention dates.
fn listing_of(store: &dyn Storage, kind: FileKind) -> Result<Listing> {
    let mut objects = listing(store.list(kind)?);
    objects.remove(STATE_NAME);
    objects.remove(RETENTION_NAME);
    Ok(objects)
}

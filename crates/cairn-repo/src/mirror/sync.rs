//! `mirror sync`: make the destination hold what the local repository holds.
//!
//! Listings are taken snapshots → index → packs, so every listed snapshot's index and every
//! listed index's packs are in the listings (the engine writes packs → index → snapshot).
//! Uploads follow the engine's commit order: config and keys, then packs, then index, then
//! snapshots, each stage finished before the next starts, so the mirror is a consistent
//! repository at every instant. Deletions run the other way (snapshots, index, keys, packs)
//! and only for objects gone locally for longer than the grace period.
//!
//! With an Object Lock policy ([`SyncOptions::object_lock`], see [`super::retention`]) every
//! upload carries a retention date, the date of every object still used is extended once less
//! than half the period remains, and deletions stay plain deletes (on a versioned bucket, a
//! delete marker; the locked versions stay until their date).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cairn_format::{BlobType, Id};
use cairn_storage::{FileKind, ObjectInfo, Storage};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::manifest::{write_manifest, MANIFEST_NAME};
use super::pending::{object_key, PendingDeletions};
use super::retention::{self, LockPolicy, RetentionDates};
use super::transfer::{self, Transfer};
use crate::error::{RepoError, Result};
use crate::index::load_index_files_of;
use crate::progress::{Phase, Progress};
use crate::repository::Repository;

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Objects moved at once.
    pub transfers: usize,
    /// `None`: never delete. `Some(d)`: delete what has been gone locally for at least `d`
    /// (zero: at once).
    pub delete_after: Option<Duration>,
    pub dry_run: bool,
    /// The time grace periods and retention dates are judged by.
    pub now: DateTime<Utc>,
    /// Object Lock: every object uploaded is kept by the store for the policy's days, and
    /// the objects still used are extended as the dates come near.
    pub object_lock: Option<LockPolicy>,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            transfers: 8,
            delete_after: Some(Duration::from_secs(7 * 24 * 3600)),
            dry_run: false,
            now: Utc::now(),
            object_lock: None,
        }
    }
}

/// An object of a plan, for `--dry-run` listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedObject {
    pub kind: String,
    pub name: String,
    pub size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    pub dry_run: bool,
    pub uploaded_objects: u64,
    pub uploaded_bytes: u64,
    /// Already at the destination with the right size.
    pub skipped_objects: u64,
    pub skipped_bytes: u64,
    pub deleted_objects: u64,
    pub deleted_bytes: u64,
    /// Gone locally but within the grace period (or kept by `--no-delete`).
    pub pending_deletions: u64,
    /// Local packs no index names yet (a backup under way, or garbage for prune): not sent.
    pub unindexed_packs: u64,
    /// Stored size of the manifest written after this sync (0: unchanged, not rewritten).
    pub manifest_bytes: u64,
    /// Object Lock: objects whose retention date was unknown and read from the store.
    pub retention_read: u64,
    /// Object Lock: objects already in the mirror whose retention was extended.
    pub retention_extended: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_upload: Vec<PlannedObject>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_delete: Vec<PlannedObject>,
}

/// Objects of one kind by name → size.
pub(super) type Listing = BTreeMap<String, u64>;

pub(super) fn listing(objects: Vec<ObjectInfo>) -> Listing {
    objects.into_iter().map(|o| (o.name, o.size)).collect()
}

/// The kinds a mirror holds, in upload order. Locks are never mirrored.
pub(super) const MIRRORED: [FileKind; 5] = [
    FileKind::Config,
    FileKind::Key,
    FileKind::Pack,
    FileKind::Index,
    FileKind::Snapshot,
];

pub fn sync(
    repo: &Repository,
    dest: &Arc<dyn Storage>,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<SyncSummary> {
    let summary = sync_reporting(repo, dest, options, progress)?;
    progress.set_current(None);
    progress.set_phase(Phase::Done);
    Ok(summary)
}

/// [`sync`], reporting to `progress`: files are the objects sent, bytes their sizes.
fn sync_reporting(
    repo: &Repository,
    dest: &Arc<dyn Storage>,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<SyncSummary> {
    progress.set_phase(Phase::Listing);
    // A shared lock keeps a local prune from deleting packs while they are being sent; writes
    // to the mirror stop, as the repository's own do, if that lock is lost.
    let _lock = repo.lock(false)?;
    let dest = &repo.guard_writes(dest.clone());
    let source = repo.storage();
    let mut local: HashMap<FileKind, Listing> = HashMap::new();
    for kind in [
        FileKind::Snapshot,
        FileKind::Index,
        FileKind::Pack,
        FileKind::Key,
        FileKind::Config,
    ] {
        local.insert(kind, listing(source.list(kind)?));
    }
    let mut remote: HashMap<FileKind, Listing> = HashMap::new();
    for kind in MIRRORED {
        remote.insert(kind, listing(dest.list(kind)?));
    }
    check_same_repository(repo, dest.as_ref(), &remote[&FileKind::Config])?;
    if options.object_lock.is_some() {
        // Before anything is sent: lock headers on a bucket without Object Lock are refused
        // (or, by some stores, ignored, which would leave the mirror unprotected unnoticed).
        dest.check_object_lock()?;
    }
    let has_manifest = dest
        .list(FileKind::Sidecar)?
        .iter()
        .any(|o| o.name == MANIFEST_NAME);

    let tree_packs = indexed_packs(repo, local[&FileKind::Index].keys())?;
    let mut summary = SyncSummary {
        dry_run: options.dry_run,
        ..SyncSummary::default()
    };

    // What to send, stage by stage.
    let mut stages: Vec<Vec<Transfer>> = vec![Vec::new(); 4];
    for kind in MIRRORED {
        let stage = match kind {
            FileKind::Config | FileKind::Key => 0,
            FileKind::Pack => 1,
            FileKind::Index => 2,
            _ => 3,
        };
        for (name, &size) in &local[&kind] {
            let has_tree = match kind {
                FileKind::Pack => match tree_packs.get(name.as_str()) {
                    Some(&has_tree) => Some(has_tree),
                    None => {
                        summary.unindexed_packs += 1;
                        continue;
                    }
                },
                _ => None,
            };
            if remote[&kind].get(name) == Some(&size) {
                summary.skipped_objects += 1;
                summary.skipped_bytes += size;
                continue;
            }
            stages[stage].push(Transfer {
                kind,
                name: name.clone(),
                size,
                // Data packs only go to the bulk storage class; tree packs stay readable.
                bulk: has_tree == Some(false),
            });
        }
    }
    let planned: Vec<&Transfer> = stages.iter().flatten().collect();
    let planned_bytes: u64 = planned.iter().map(|t| t.size).sum();
    progress.set_totals(Some(planned.len() as u64), Some(planned_bytes));

    let deletions = plan_deletions(dest.as_ref(), &local, &remote, options, &mut summary)?;

    if options.dry_run {
        summary.would_upload = planned
            .iter()
            .map(|t| PlannedObject {
                kind: t.kind.to_string(),
                name: t.name.clone(),
                size: t.size,
            })
            .collect();
        summary.uploaded_objects = planned.len() as u64;
        summary.uploaded_bytes = planned_bytes;
        summary.would_delete = deletions
            .due
            .iter()
            .map(|(kind, name, size)| PlannedObject {
                kind: kind.to_string(),
                name: name.clone(),
                size: *size,
            })
            .collect();
        summary.deleted_objects = deletions.due.len() as u64;
        summary.deleted_bytes = deletions.due.iter().map(|(_, _, size)| size).sum();
        return Ok(summary);
    }

    progress.set_phase(Phase::Uploading);
    // What this sync sent, failed stages included, whatever the tracker counted before.
    let (files_before, bytes_before) = (progress.files_done(), progress.bytes_done());
    let retention = options
        .object_lock
        .map(|policy| policy.retention_at(options.now));
    for stage in &stages {
        if stage.is_empty() {
            continue;
        }
        let result = transfer::run(
            source.as_ref(),
            dest.as_ref(),
            stage,
            options.transfers,
            retention.as_ref(),
            progress,
        );
        summary.uploaded_objects = progress.files_done() - files_before;
        summary.uploaded_bytes = progress.bytes_done() - bytes_before;
        result?;
        // What the next stage's objects name must be durable first.
        dest.sync()?;
    }

    if let Some(policy) = &options.object_lock {
        keep_retention(
            dest.as_ref(),
            &local,
            &stages,
            &tree_packs,
            policy,
            options,
            &mut summary,
        )?;
    }

    progress.set_phase(Phase::Deleting);
    // On a locked mirror a delete is a delete marker: the versions stay until their date.
    for (kind, name, size) in &deletions.due {
        progress.set_current(Some(&kind.path(name)));
        match dest.remove(*kind, name) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        summary.deleted_objects += 1;
        summary.deleted_bytes += size;
    }
    dest.sync()?;
    if deletions.state_changed {
        deletions.state.save(dest.as_ref())?;
    }
    // The manifest follows the snapshots: rewritten when the mirror changed, or missing.
    if summary.uploaded_objects > 0 || summary.deleted_objects > 0 || !has_manifest {
        summary.manifest_bytes = write_manifest(repo, dest.as_ref())?;
    }
    Ok(summary)
}

/// Records the dates of what this sync uploaded and extends the retention of the objects the
/// repository still uses (every mirrored object but packs no index names).
fn keep_retention(
    dest: &dyn Storage,
    local: &HashMap<FileKind, Listing>,
    stages: &[Vec<Transfer>],
    tree_packs: &HashMap<String, bool>,
    policy: &LockPolicy,
    options: &SyncOptions,
    summary: &mut SyncSummary,
) -> Result<()> {
    let mut dates = RetentionDates::load(dest)?;
    let before = dates.clone();
    let uploaded_until = policy.retention_at(options.now).retain_until;
    for transfer in stages.iter().flatten() {
        dates
            .retain_until
            .insert(object_key(transfer.kind, &transfer.name), uploaded_until);
    }
    let used = used_objects(local, tree_packs);
    let result = retention::keep_retention(
        dest,
        &mut dates,
        &used,
        policy,
        options.now,
        options.transfers,
    );
    // Dates learnt before a failure are true: keep them for the next sync.
    if dates != before {
        dates.save(dest)?;
    }
    let count = result?;
    summary.retention_read = count.read;
    summary.retention_extended = count.extended;
    Ok(())
}

/// The objects of a mirror the repository uses: every local object of a mirrored kind but
/// packs no index names (they are not sent).
fn used_objects(
    local: &HashMap<FileKind, Listing>,
    tree_packs: &HashMap<String, bool>,
) -> Vec<(FileKind, String)> {
    MIRRORED
        .iter()
        .flat_map(|kind| {
            local[kind]
                .keys()
                .filter(|name| *kind != FileKind::Pack || tree_packs.contains_key(name.as_str()))
                .map(|name| (*kind, name.clone()))
        })
        .collect()
}

/// The summary of a sync with nothing to do, when the listings alone show it: every local
/// object is at the destination with its size, the manifest is there, and every extra object
/// is already waiting out a grace period that has not run out; under Object Lock, every
/// object's recorded retention also has at least half its period left. Needs no password and takes
/// no lock (it writes nothing), so an unchanged nightly sync costs a few listings. `None`:
/// run [`sync`].
pub fn nothing_to_do(
    source: &dyn Storage,
    dest: &dyn Storage,
    options: &SyncOptions,
) -> Result<Option<SyncSummary>> {
    let mut summary = SyncSummary {
        dry_run: options.dry_run,
        ..SyncSummary::default()
    };
    let mut extras = Vec::new();
    let mut present = Vec::new();
    for kind in MIRRORED {
        let local = listing(source.list(kind)?);
        let remote = listing(dest.list(kind)?);
        for (name, size) in &local {
            if remote.get(name) != Some(size) {
                return Ok(None);
            }
            summary.skipped_objects += 1;
            summary.skipped_bytes += size;
            present.push((kind, name.clone()));
        }
        if kind != FileKind::Config {
            extras.extend(
                remote
                    .keys()
                    .filter(|n| !local.contains_key(*n))
                    .map(|n| object_key(kind, n)),
            );
        }
    }
    if !dest
        .list(FileKind::Sidecar)?
        .iter()
        .any(|o| o.name == MANIFEST_NAME)
    {
        return Ok(None);
    }
    if !extras.is_empty() {
        let state = PendingDeletions::load(dest)?;
        for key in &extras {
            let Some(since) = state.missing_since.get(key) else {
                return Ok(None);
            };
            let waited = (options.now - *since).to_std().unwrap_or_default();
            if options.delete_after.is_some_and(|grace| waited >= grace) {
                return Ok(None);
            }
        }
        summary.pending_deletions = extras.len() as u64;
    }
    if let Some(policy) = &options.object_lock {
        let dates = RetentionDates::load(dest)?;
        if !retention::all_protected(&dates, &present, policy, options.now) {
            return Ok(None);
        }
    }
    Ok(Some(summary))
}

/// Refuses a destination that holds another repository.
fn check_same_repository(
    repo: &Repository,
    dest: &dyn Storage,
    remote_config: &Listing,
) -> Result<()> {
    if remote_config.is_empty() {
        return Ok(());
    }
    let ours = repo.storage().get(FileKind::Config, "config")?;
    let theirs = dest.get(FileKind::Config, "config")?;
    if ours != theirs {
        return Err(RepoError::InvalidInput(format!(
            "{} holds another repository (its config differs from {}'s); mirror to an empty \
             bucket or prefix",
            dest.location(),
            repo.location()
        )));
    }
    Ok(())
}

/// Every pack the listed index files name → whether it holds tree blobs.
pub(super) fn indexed_packs<'a>(
    repo: &Repository,
    index_files: impl Iterator<Item = &'a String>,
) -> Result<HashMap<String, bool>> {
    let mut ids = Vec::new();
    for name in index_files {
        ids.push(name.parse::<Id>().map_err(|_| {
            RepoError::corrupt(format!("index/{name}"), "not a valid index file name")
        })?);
    }
    let mut packs = HashMap::new();
    for (_, file) in load_index_files_of(repo, &ids)? {
        for pack in file?.packs {
            let has_tree = pack.blobs.iter().any(|b| b.blob_type == BlobType::Tree);
            *packs.entry(pack.id.to_string()).or_insert(false) |= has_tree;
        }
    }
    Ok(packs)
}

struct DeletionPlan {
    /// Objects (kind, name, size) whose grace period is over, in deletion order.
    due: Vec<(FileKind, String, u64)>,
    state: PendingDeletions,
    state_changed: bool,
}

fn plan_deletions(
    dest: &dyn Storage,
    local: &HashMap<FileKind, Listing>,
    remote: &HashMap<FileKind, Listing>,
    options: &SyncOptions,
    summary: &mut SyncSummary,
) -> Result<DeletionPlan> {
    let mut state = PendingDeletions::load(dest)?;
    let before = state.clone();
    let mut due = Vec::new();
    let mut extra_keys = HashSet::new();
    // Deletion order: what names other objects goes first.
    for kind in [
        FileKind::Snapshot,
        FileKind::Index,
        FileKind::Key,
        FileKind::Pack,
    ] {
        for (name, &size) in &remote[&kind] {
            if local[&kind].contains_key(name) {
                continue;
            }
            let key = object_key(kind, name);
            extra_keys.insert(key.clone());
            let since = *state.missing_since.entry(key).or_insert(options.now);
            let waited = (options.now - since).to_std().unwrap_or_default();
            match options.delete_after {
                Some(grace) if waited >= grace => due.push((kind, name.clone(), size)),
                _ => summary.pending_deletions += 1,
            }
        }
    }
    // Objects back locally, or already gone from the mirror, wait no more.
    state
        .missing_since
        .retain(|key, _| extra_keys.contains(key));
    for (kind, name, _) in &due {
        state.missing_since.remove(&object_key(*kind, name));
    }
    let state_changed = state != before;
    Ok(DeletionPlan {
        due,
        state,
        state_changed,
    })
}

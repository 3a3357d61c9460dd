//! Finding snapshots: listing, loading, resolving `latest` and id prefixes, filtering.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cairn_format::{Id, Snapshot};
use cairn_storage::FileKind;

use crate::{RepoError, Repository, Result};

/// Threads that fetch snapshot files at once.
const SNAPSHOT_LOADERS: usize = 4;

pub fn load_snapshot(repo: &Repository, id: &Id) -> Result<Snapshot> {
    let json = repo.load_unpacked(FileKind::Snapshot, id)?;
    Snapshot::from_json(&json)
        .map_err(|e| RepoError::corrupt(format!("snapshot {id}"), e.to_string()))
}

/// Every snapshot with its id, oldest first, or an error naming the first snapshot that could
/// not be read, damaged ones included. For `forget`, which decides by the whole set what to
/// delete: a policy applied to a partial set could remove snapshots it would have kept.
pub fn load_all_snapshots(repo: &Repository) -> Result<Vec<(Id, Snapshot)>> {
    load_all_snapshots_lenient(repo)?
        .into_iter()
        .map(|(id, snapshot)| snapshot.map(|s| (id, s)))
        .collect()
}

/// Every snapshot whose bytes can be read, oldest first; damaged ones are left out with a
/// warning naming them, so one damaged snapshot does not make the others unusable
/// (`snapshots`, `latest`, `find`, `copy`, a backup's parent search). Any other failure (the
/// store unreachable, a snapshot vanished) fails the whole command: a snapshot that could not
/// be fetched is never taken for one that does not exist.
pub fn load_readable_snapshots(repo: &Repository) -> Result<Vec<(Id, Snapshot)>> {
    let mut out = Vec::new();
    for (id, snapshot) in load_all_snapshots_lenient(repo)? {
        match snapshot {
            Ok(s) => out.push((id, s)),
            Err(e) => tracing::warn!("skipping snapshot {id}: {e}; see `cairn check`"),
        }
    }
    Ok(out)
}

/// Every snapshot, each with its own result, oldest (readable) first. Only damage (bytes
/// present that fail authentication or do not parse) is returned per snapshot; a failure to
/// list or fetch (unreachable store, timeout after retries, a file gone) is an error of the
/// whole call, so no caller can mistake an unreachable snapshot for a damaged one.
pub fn load_all_snapshots_lenient(repo: &Repository) -> Result<Vec<(Id, Result<Snapshot>)>> {
    let ids: Vec<Id> = repo
        .list_ids(FileKind::Snapshot)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(ids.len()));
    std::thread::scope(|scope| {
        for _ in 0..SNAPSHOT_LOADERS.min(ids.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { break };
                let snapshot = load_snapshot(repo, id);
                results
                    .lock()
                    .expect("snapshot results")
                    .push((*id, snapshot));
            });
        }
    });
    let mut results = results.into_inner().expect("snapshot results");
    if let Some(position) = results
        .iter()
        .position(|(_, s)| s.as_ref().is_err_and(|e| !e.is_damage()))
    {
        if let (_, Err(e)) = results.swap_remove(position) {
            return Err(e);
        }
    }
    results.sort_by(|(a_id, a), (b_id, b)| {
        let time = |s: &Result<Snapshot>| s.as_ref().ok().map(|s| s.time);
        time(a).cmp(&time(b)).then(a_id.cmp(b_id))
    });
    Ok(results)
}

/// Which snapshots a command looks at (`--host`, `--tag`, `--path`).
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub hosts: Vec<String>,
    /// Each entry is a comma-separated list of tags that must all be present; a snapshot
    /// matches when any entry matches (restic's `--tag a,b --tag c`).
    pub tags: Vec<String>,
    /// The snapshot must hold all of these paths (restic's `--path`).
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    pub fn matches(&self, snapshot: &Snapshot) -> bool {
        if !self.hosts.is_empty() && !self.hosts.contains(&snapshot.hostname) {
            return false;
        }
        if !self.tags.is_empty()
            && !self.tags.iter().any(|group| {
                group
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .all(|t| snapshot.has_tag(t))
            })
        {
            return false;
        }
        // restic's rule: the snapshot holds every given path (it may hold others too).
        let trimmed = |p: &str| p.trim_end_matches('/').to_string();
        if !self.paths.iter().all(|want| {
            snapshot
                .paths
                .iter()
                .any(|have| trimmed(have) == trimmed(want))
        }) {
            return false;
        }
        true
    }
}

/// Resolves `latest`, a full id or a unique id prefix to one snapshot.
pub fn find_snapshot(
    repo: &Repository,
    text: &str,
    filter: &SnapshotFilter,
) -> Result<(Id, Snapshot)> {
    if text == "latest" {
        return load_readable_snapshots(repo)?
            .into_iter()
            .rfind(|(_, s)| filter.matches(s))
            .ok_or_else(|| {
                RepoError::InvalidInput("no snapshot matches; see `cairn snapshots`".to_string())
            });
    }
    let id = resolve_snapshot_id(repo, text)?;
    Ok((id, load_snapshot(repo, &id)?))
}

/// Resolves a full id or a unique id prefix to a snapshot id without reading the snapshot, so
/// that a damaged snapshot can still be named (and forgotten).
pub fn resolve_snapshot_id(repo: &Repository, text: &str) -> Result<Id> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RepoError::InvalidInput(format!(
            "{text:?} is not a snapshot id; give an id, a unique prefix of one, or `latest`"
        )));
    }
    let text = text.to_ascii_lowercase();
    let matches: Vec<Id> = repo
        .list_ids(FileKind::Snapshot)?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id.to_hex().starts_with(&text))
        .collect();
    match matches.as_slice() {
        [id] => Ok(*id),
        [] => Err(RepoError::InvalidInput(format!(
            "no snapshot with id {text}; see `cairn snapshots`"
        ))),
        _ => Err(RepoError::InvalidInput(format!(
            "snapshot prefix {text} is ambiguous ({} snapshots match); give more digits",
            matches.len()
        ))),
    }
}

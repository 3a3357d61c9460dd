//! Forget: apply a retention policy to groups of snapshots and remove the ones it does not keep.
//!
//! Only snapshot files are removed; the data they alone used stays until `prune`.

mod policy;

use std::collections::BTreeMap;

use cairn_format::{Id, Snapshot};
use cairn_storage::FileKind;

pub use policy::{apply, CalendarDuration, Decision, KeepPolicy};

use crate::snapshots::SnapshotFilter;
use crate::{RepoError, Repository, Result};

/// Which snapshot fields make a group (restic's `--group-by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupBy {
    pub host: bool,
    pub paths: bool,
    pub tags: bool,
}

impl Default for GroupBy {
    fn default() -> GroupBy {
        GroupBy {
            host: true,
            paths: true,
            tags: false,
        }
    }
}

impl std::str::FromStr for GroupBy {
    type Err = RepoError;

    fn from_str(text: &str) -> Result<GroupBy> {
        let mut group = GroupBy {
            host: false,
            paths: false,
            tags: false,
        };
        for part in text.split(',').filter(|p| !p.is_empty()) {
            match part {
                "host" => group.host = true,
                "paths" => group.paths = true,
                "tags" => group.tags = true,
                other => {
                    return Err(RepoError::InvalidInput(format!(
                        "invalid --group-by field {other:?}: use host, paths and/or tags, comma-separated"
                    )))
                }
            }
        }
        Ok(group)
    }
}

/// The key of a group, as restic prints it (fields not grouped by stay empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct GroupKey {
    pub host: String,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
}

impl GroupKey {
    fn of(snapshot: &Snapshot, by: GroupBy) -> GroupKey {
        let sorted = |list: &[String]| {
            let mut list = list.to_vec();
            list.sort();
            list
        };
        GroupKey {
            host: if by.host {
                snapshot.hostname.clone()
            } else {
                String::new()
            },
            paths: if by.paths {
                sorted(&snapshot.paths)
            } else {
                Vec::new()
            },
            tags: if by.tags {
                sorted(&snapshot.tags)
            } else {
                Vec::new()
            },
        }
    }
}

/// One group's verdict.
#[derive(Debug, Clone)]
pub struct ForgetGroup {
    pub key: GroupKey,
    /// Kept snapshots, newest first, each with the reasons it is kept and the counts left.
    pub keep: Vec<(Id, Snapshot, Decision)>,
    /// Snapshots to remove, newest first.
    pub remove: Vec<(Id, Snapshot)>,
}

/// Decides, per group, which snapshots the policy keeps. `snapshots` may come in any order;
/// only those matching `filter` are considered.
pub fn plan_forget(
    snapshots: Vec<(Id, Snapshot)>,
    filter: &SnapshotFilter,
    group_by: GroupBy,
    policy: &KeepPolicy,
) -> Vec<ForgetGroup> {
    let mut groups: BTreeMap<GroupKey, Vec<(Id, Snapshot)>> = BTreeMap::new();
    for (id, snapshot) in snapshots.into_iter().filter(|(_, s)| filter.matches(s)) {
        groups
            .entry(GroupKey::of(&snapshot, group_by))
            .or_default()
            .push((id, snapshot));
    }
    groups
        .into_iter()
        .map(|(key, mut members)| {
            // Newest first; equal times keep their listing order, as restic's stable sort does.
            members.sort_by_key(|m| std::cmp::Reverse(m.1.time));
            let times: Vec<(chrono::DateTime<chrono::FixedOffset>, &[String])> = members
                .iter()
                .map(|(_, s)| (s.time, s.tags.as_slice()))
                .collect();
            let decisions = apply(policy, &times);
            let mut group = ForgetGroup {
                key,
                keep: Vec::new(),
                remove: Vec::new(),
            };
            for ((id, snapshot), decision) in members.into_iter().zip(decisions) {
                if decision.keep {
                    group.keep.push((id, snapshot, decision));
                } else {
                    group.remove.push((id, snapshot));
                }
            }
            group
        })
        .collect()
}

/// Removes the snapshot files of `ids` (under an exclusive lock the caller holds).
pub fn remove_snapshots(repo: &Repository, ids: &[Id]) -> Result<()> {
    for id in ids {
        match repo.storage().remove(FileKind::Snapshot, &id.to_hex()) {
            Ok(()) => {}
            // Removed meanwhile by someone else: the goal is reached.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    repo.storage().sync()?;
    Ok(())
}

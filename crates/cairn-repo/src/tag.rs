//! Tag: add, remove or replace the tags of snapshots.
//!
//! A snapshot file is named by the hash of its bytes, so changing a tag means writing a new
//! snapshot file and removing the old one. As restic's `tag` does, the new snapshot keeps every
//! other field and records in `original` the id of the snapshot it replaces (or that
//! snapshot's own `original`), so `copy` still recognises it as the same snapshot.
//!
//! # Order that protects data
//! The new snapshot file is written and synced before the old one is removed: killed in
//! between, the repository holds both (the same tree, different tags), never neither. A
//! snapshot whose tags would not change is left alone, so running the same command twice
//! writes nothing the second time. The whole change runs under an exclusive lock, as restic's.

use cairn_format::{Id, Snapshot};
use cairn_storage::FileKind;

use crate::backup::save_snapshot;
use crate::copy::persistent_id;
use crate::selection::{select_snapshots, SnapshotSelection};
use crate::{RepoError, Repository, Result};

/// How the tags change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagChange {
    /// Replace all tags with these (none: remove every tag).
    Set(Vec<String>),
    /// Add these tags (those not present yet) and remove those.
    AddRemove {
        add: Vec<String>,
        remove: Vec<String>,
    },
}

impl TagChange {
    /// The tags after the change, or `None` when they stay as they are (in any order).
    pub fn apply(&self, tags: &[String]) -> Option<Vec<String>> {
        let mut new: Vec<String> = Vec::with_capacity(tags.len());
        match self {
            TagChange::Set(set) => {
                for tag in set {
                    if !new.contains(tag) {
                        new.push(tag.clone());
                    }
                }
            }
            TagChange::AddRemove { add, remove } => {
                new.extend(tags.iter().filter(|t| !remove.contains(t)).cloned());
                for tag in add {
                    if !remove.contains(tag) && !new.contains(tag) {
                        new.push(tag.clone());
                    }
                }
            }
        }
        let same = new.len() == tags.len() && new.iter().all(|t| tags.contains(t));
        (!same).then_some(new)
    }

    fn is_empty(&self) -> bool {
        matches!(self, TagChange::AddRemove { add, remove } if add.is_empty() && remove.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RetaggedSnapshot {
    /// The snapshot file that was replaced (and is gone).
    pub old: Id,
    pub new: Id,
    pub tags: Vec<String>,
}

/// What a tag run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TagSummary {
    pub changed: Vec<RetaggedSnapshot>,
    /// Selected snapshots whose tags already were as asked.
    pub unchanged: Vec<Id>,
}

/// Changes the tags of the selected snapshots, under an exclusive lock. Every snapshot named
/// is resolved before the first one is changed.
pub fn change_tags(
    repo: &Repository,
    selection: &SnapshotSelection,
    change: &TagChange,
) -> Result<TagSummary> {
    if change.is_empty() {
        return Err(RepoError::InvalidInput(
            "nothing to do: give tags with --add, --remove or --set".to_string(),
        ));
    }
    let _lock = repo.lock(true)?;
    let mut summary = TagSummary::default();
    for (id, snapshot) in select_snapshots(repo, selection)? {
        let Some(tags) = change.apply(&snapshot.tags) else {
            summary.unchanged.push(id);
            continue;
        };
        let new = retag(repo, &id, &snapshot, tags.clone())?;
        summary
            .changed
            .push(RetaggedSnapshot { old: id, new, tags });
    }
    Ok(summary)
}

/// Writes the snapshot `id` again with `tags`, then removes the old file.
fn retag(repo: &Repository, id: &Id, snapshot: &Snapshot, tags: Vec<String>) -> Result<Id> {
    let mut changed = snapshot.clone();
    changed.tags = tags;
    changed.original = Some(persistent_id(id, snapshot));
    let new = save_snapshot(repo, &changed)?;
    if new != *id {
        match repo.storage().remove(FileKind::Snapshot, &id.to_hex()) {
            Ok(()) => {}
            // Removed meanwhile (another tag run that lost the race for the lock cannot be, but
            // a forget by a tool that takes no lock can): the goal is reached.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        repo.storage().sync()?;
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_storage::MemoryStore;

    use super::*;
    use crate::keys::KeyOptions;
    use crate::snapshots::load_snapshot;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn changes_apply_as_restic_and_report_no_change_as_none() {
        let tags = strings(&["a", "b"]);
        let add_remove = |add: &[&str], remove: &[&str]| TagChange::AddRemove {
            add: strings(add),
            remove: strings(remove),
        };
        assert_eq!(
            add_remove(&["c"], &[]).apply(&tags),
            Some(strings(&["a", "b", "c"]))
        );
        assert_eq!(add_remove(&["a"], &[]).apply(&tags), None);
        assert_eq!(add_remove(&[], &["a"]).apply(&tags), Some(strings(&["b"])));
        assert_eq!(add_remove(&[], &["zz"]).apply(&tags), None);
        assert_eq!(
            add_remove(&["c"], &["c"]).apply(&tags),
            None,
            "added and removed: no change"
        );
        assert_eq!(
            TagChange::Set(strings(&["x", "x"])).apply(&tags),
            Some(strings(&["x"]))
        );
        assert_eq!(TagChange::Set(strings(&["b", "a"])).apply(&tags), None);
        assert_eq!(TagChange::Set(Vec::new()).apply(&tags), Some(Vec::new()));
        assert_eq!(TagChange::Set(Vec::new()).apply(&[]), None);
    }

    #[test]
    fn retagging_writes_a_new_snapshot_then_removes_the_old_and_keeps_the_original() {
        let options = KeyOptions {
            kdf: Some(cairn_crypto::KdfParams {
                n: 1024,
                r: 8,
                p: 1,
            }),
            ..KeyOptions::default()
        };
        let repo = Repository::init(Arc::new(MemoryStore::new()), b"pw", &options).unwrap();
        let json = format!(
            r#"{{"time":"2024-01-02T03:04:05Z","tree":"{}","paths":["/a"],"hostname":"h","tags":["a"],"summary":{{"files_new":1}}}}"#,
            Id::hash(b"tree")
        );
        let first = save_snapshot(&repo, &Snapshot::from_json(json.as_bytes()).unwrap()).unwrap();
        let add = TagChange::AddRemove {
            add: strings(&["b"]),
            remove: Vec::new(),
        };
        let summary = change_tags(&repo, &SnapshotSelection::all(), &add).unwrap();
        assert_eq!(summary.changed.len(), 1);
        let second = summary.changed[0].new;
        let ids: Vec<Id> = repo
            .list_ids(FileKind::Snapshot)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, vec![second]);
        let snapshot = load_snapshot(&repo, &second).unwrap();
        assert_eq!(snapshot.tags, strings(&["a", "b"]));
        assert_eq!(snapshot.original, Some(first));
        assert!(
            snapshot.unknown_fields.get("summary") == Some(r#"{"files_new":1}"#),
            "fields this version does not know are kept"
        );

        // Again: nothing changes, nothing is written.
        let again = change_tags(&repo, &SnapshotSelection::all(), &add).unwrap();
        assert_eq!(again.unchanged, vec![second]);
        assert!(again.changed.is_empty());

        // A second change keeps the first original.
        let set = TagChange::Set(strings(&["z"]));
        let third = change_tags(&repo, &SnapshotSelection::all(), &set)
            .unwrap()
            .changed[0]
            .new;
        assert_eq!(load_snapshot(&repo, &third).unwrap().original, Some(first));
        assert!(repo.list_ids(FileKind::Lock).unwrap().is_empty());

        // An unknown id fails before anything changes.
        let selection = SnapshotSelection {
            ids: vec![third.to_hex(), "0123abcd".to_string()],
            ..SnapshotSelection::default()
        };
        assert!(change_tags(&repo, &selection, &add).is_err());
        assert!(load_snapshot(&repo, &third).is_ok());
    }
}

//! The structural part of check, and attributing damaged packs to snapshots and paths.

use std::collections::{HashMap, HashSet};

use cairn_format::tree::NodeType;
use cairn_format::{BlobType, Id, IndexBlob, KeyFile, Snapshot};
use cairn_storage::FileKind;

use super::{short, CheckReport};
use crate::index::{load_index_files, Index};
use crate::progress::{Phase, Progress};
use crate::snapshots::load_all_snapshots_lenient;
use crate::{Repository, Result};

/// Paths listed per damaged object; more would bury the message.
const AFFECTED_MAX: usize = 20;

pub(crate) struct CheckState {
    pub index: Index,
    /// Every pack the storage holds, with its size.
    pub stored_packs: HashMap<Id, u64>,
    /// Index entries per pack, to compare with pack headers.
    pub pack_blobs: HashMap<Id, Vec<IndexBlob>>,
    pub snapshots: Vec<(Id, Snapshot)>,
}

pub(crate) fn check_structure(
    repo: &Repository,
    report: &mut CheckReport,
    progress: &Progress,
) -> Result<CheckState> {
    progress.set_phase(Phase::LoadingIndex);
    check_keys(repo, report)?;

    let mut index = Index::new();
    let mut pack_blobs: HashMap<Id, Vec<IndexBlob>> = HashMap::new();
    for (id, file) in load_index_files(repo)? {
        match file {
            Ok(file) => {
                for pack in &file.packs {
                    index.add_pack(pack);
                    pack_blobs
                        .entry(pack.id)
                        .or_insert_with(|| pack.blobs.clone());
                }
            }
            Err(e) => report.problem(format!("index {id}"), e.to_string()),
        }
    }

    progress.set_phase(Phase::CheckingStructure);
    let stored_packs: HashMap<Id, u64> = repo.list_ids(FileKind::Pack)?.into_iter().collect();
    report.packs = stored_packs.len() as u64;
    let mut damaged = HashSet::new();
    for pack in index.packs() {
        match stored_packs.get(&pack.id) {
            None => {
                report.problem(
                    format!("pack {}", pack.id),
                    "is listed in the index but missing from the storage",
                );
                damaged.insert(pack.id);
            }
            Some(&size) if size != pack.expected_size() => {
                report.problem(
                    format!("pack {}", pack.id),
                    format!(
                        "is {size} bytes, the index implies {}",
                        pack.expected_size()
                    ),
                );
                damaged.insert(pack.id);
            }
            Some(_) => {}
        }
    }
    let unreferenced = stored_packs
        .keys()
        .filter(|id| !index.contains_pack(id))
        .count();
    if unreferenced > 0 {
        report.hints.push(format!(
            "{unreferenced} pack(s) are not referenced by any index (left by an interrupted backup); they hold no data a snapshot uses, and `cairn prune` removes them"
        ));
    }

    let mut snapshots = Vec::new();
    for (id, snapshot) in load_all_snapshots_lenient(repo)? {
        match snapshot {
            Ok(s) => snapshots.push((id, s)),
            Err(e) => report.problem(format!("snapshot {id}"), e.to_string()),
        }
    }
    report.snapshots = snapshots.len() as u64;

    let state = CheckState {
        index,
        stored_packs,
        pack_blobs,
        snapshots,
    };
    check_trees(repo, &state, report, progress)?;
    if !damaged.is_empty() {
        attribute_damage(repo, &state, &damaged, report);
    }
    Ok(state)
}

fn check_keys(repo: &Repository, report: &mut CheckReport) -> Result<()> {
    for object in repo.storage().list(FileKind::Key)? {
        let Ok(id) = object.name.parse::<Id>() else {
            continue;
        };
        let bytes = repo.storage().get(FileKind::Key, &object.name)?;
        if Id::hash(&bytes) != id {
            report.problem(
                format!("key {id}"),
                "its content does not match its name (SHA-256 mismatch)",
            );
        } else if let Err(e) = KeyFile::from_json(&bytes) {
            report.problem(format!("key {id}"), e.to_string());
        }
    }
    Ok(())
}

/// Reads every tree of every snapshot once and checks what it references.
fn check_trees(
    repo: &Repository,
    state: &CheckState,
    report: &mut CheckReport,
    progress: &Progress,
) -> Result<()> {
    let mut seen: HashSet<Id> = HashSet::new();
    for (snapshot_id, snapshot) in &state.snapshots {
        progress.set_current(Some(&format!("snapshot {}", short(snapshot_id))));
        let mut stack = vec![(snapshot.tree, String::from("/"))];
        while let Some((tree, path)) = stack.pop() {
            if !seen.insert(tree) {
                continue;
            }
            report.trees += 1;
            let where_ = || format!("snapshot {} {}", short(snapshot_id), path);
            if !state.index.contains(BlobType::Tree, &tree) {
                report.problems.push(super::Problem {
                    object: format!("tree {tree}"),
                    message: "is not in the index".into(),
                    affected: vec![where_()],
                });
                continue;
            }
            let nodes = match repo.load_tree(&state.index, &tree) {
                Ok(nodes) => nodes,
                Err(e) if !e.is_damage() && e.kind() != crate::ErrorKind::NotFound => {
                    // Not reaching the store is not a finding about the repository.
                    return Err(e);
                }
                Err(e) => {
                    report.problems.push(super::Problem {
                        object: format!("tree {tree}"),
                        message: e.to_string(),
                        affected: vec![where_()],
                    });
                    continue;
                }
            };
            for node in nodes {
                let child = format!(
                    "{}{}{}",
                    path,
                    if path.ends_with('/') { "" } else { "/" },
                    String::from_utf8_lossy(&node.name)
                );
                match node.node_type {
                    NodeType::Dir => match node.subtree {
                        Some(subtree) => stack.push((subtree, child)),
                        None => report.problems.push(super::Problem {
                            object: format!("tree {tree}"),
                            message: format!("directory {child} has no subtree"),
                            affected: vec![format!("snapshot {}", short(snapshot_id))],
                        }),
                    },
                    NodeType::File => {
                        let mut size = 0u64;
                        let mut complete = true;
                        for blob in node.content.iter().flatten() {
                            match state.index.lookup(BlobType::Data, blob) {
                                Some(location) => size += u64::from(location.plaintext_len()),
                                None => {
                                    complete = false;
                                    report.problems.push(super::Problem {
                                        object: format!("data blob {blob}"),
                                        message: "is not in the index".into(),
                                        affected: vec![format!(
                                            "snapshot {} {child}",
                                            short(snapshot_id)
                                        )],
                                    });
                                }
                            }
                        }
                        if complete && size != node.size {
                            report.problems.push(super::Problem {
                                object: format!("tree {tree}"),
                                message: format!(
                                    "file {child} has size {} but its content adds up to {size}",
                                    node.size
                                ),
                                affected: vec![format!("snapshot {}", short(snapshot_id))],
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// Adds to each problem about a damaged pack the snapshots and paths using its blobs.
pub(crate) fn attribute_damage(
    repo: &Repository,
    state: &CheckState,
    damaged: &HashSet<Id>,
    report: &mut CheckReport,
) {
    let mut affected: HashMap<Id, Vec<String>> = HashMap::new();
    let note = |pack: Id, text: String, affected: &mut HashMap<Id, Vec<String>>| {
        let list = affected.entry(pack).or_default();
        if list.len() < AFFECTED_MAX && !list.contains(&text) {
            list.push(text);
        }
    };
    for (snapshot_id, snapshot) in &state.snapshots {
        let mut seen = HashSet::new();
        let mut stack = vec![(snapshot.tree, String::from("/"))];
        while let Some((tree, path)) = stack.pop() {
            if !seen.insert(tree) {
                continue;
            }
            if let Some(location) = state.index.lookup(BlobType::Tree, &tree) {
                if damaged.contains(&location.pack) {
                    note(
                        location.pack,
                        format!("snapshot {} {path} (directory listing)", short(snapshot_id)),
                        &mut affected,
                    );
                }
            }
            let Ok(nodes) = repo.load_tree(&state.index, &tree) else {
                continue;
            };
            for node in nodes {
                let child = format!(
                    "{}{}{}",
                    path,
                    if path.ends_with('/') { "" } else { "/" },
                    String::from_utf8_lossy(&node.name)
                );
                if let Some(subtree) = node.subtree {
                    stack.push((subtree, child.clone()));
                }
                for blob in node.content.iter().flatten() {
                    if let Some(location) = state.index.lookup(BlobType::Data, blob) {
                        if damaged.contains(&location.pack) {
                            note(
                                location.pack,
                                format!("snapshot {} {child}", short(snapshot_id)),
                                &mut affected,
                            );
                        }
                    }
                }
            }
        }
    }
    for problem in &mut report.problems {
        if let Some(pack) = problem
            .object
            .strip_prefix("pack ")
            .and_then(|id| id.parse::<Id>().ok())
        {
            if let Some(list) = affected.get(&pack) {
                for entry in list {
                    if !problem.affected.contains(entry) {
                        problem.affected.push(entry.clone());
                    }
                }
            }
        }
    }
    for pack in damaged {
        if !affected.contains_key(pack) {
            tracing::debug!("damaged pack {pack} holds no blob a snapshot uses");
        }
    }
}

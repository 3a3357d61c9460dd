//! The versions of one path across snapshots: what "when did this file change" needs.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_format::tree::{Node, NodeType};
use cairn_format::{Id, Snapshot};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::go_time;
use super::listing::EntryType;
use super::path::{resolve_with, Resolved, SnapshotPath};
use crate::index::Index;
use crate::{Repository, Result};

/// The path as one snapshot holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    pub snapshot: String,
    /// The snapshot's time.
    pub time: DateTime<FixedOffset>,
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    pub size: u64,
    pub mtime: Option<DateTime<FixedOffset>>,
    /// Whether the content differs from the next older version (its blob list, a directory's
    /// tree, a link's target); the oldest version counts as changed (it appeared).
    pub changed: bool,
}

/// What decides "the same content": compared between neighbouring versions.
#[derive(PartialEq)]
enum Content {
    Blobs(Vec<Id>),
    Tree(Option<Id>),
    Link(Vec<u8>),
    Other,
}

fn content_of(node: &Node) -> Content {
    match node.node_type {
        NodeType::File => Content::Blobs(node.content.clone().unwrap_or_default()),
        NodeType::Dir => Content::Tree(node.subtree),
        NodeType::Symlink => Content::Link(node.link_target.clone()),
        _ => Content::Other,
    }
}

/// The versions of `path` in `snapshots` (any order), newest first; snapshots without the
/// path are left out. Trees are loaded once per id, so snapshots sharing directories cost
/// one lookup each.
pub fn versions(
    repo: &Repository,
    index: &Index,
    snapshots: &[(Id, Snapshot)],
    path: &SnapshotPath,
) -> Result<Vec<Version>> {
    let mut ordered: Vec<&(Id, Snapshot)> = snapshots.iter().collect();
    ordered.sort_by(|(a_id, a), (b_id, b)| a.time.cmp(&b.time).then(a_id.cmp(b_id)));
    let mut trees: HashMap<Id, Arc<Vec<Node>>> = HashMap::new();
    let mut load = |id: &Id| -> Result<Arc<Vec<Node>>> {
        if let Some(nodes) = trees.get(id) {
            return Ok(nodes.clone());
        }
        let nodes = Arc::new(repo.load_tree(index, id)?);
        trees.insert(*id, nodes.clone());
        Ok(nodes)
    };
    let mut out = Vec::new();
    let mut previous: Option<Content> = None;
    for (id, snapshot) in ordered {
        let (content, entry_type, size, mtime) =
            match resolve_with(&snapshot.tree, path, &mut load)? {
                Some(Resolved::Node(node)) => {
                    let entry_type = EntryType::of(&node.node_type);
                    let size = if entry_type == EntryType::File {
                        node.size
                    } else {
                        0
                    };
                    (content_of(&node), entry_type, size, go_time(&node.mtime))
                }
                // The root is in every snapshot; it has no node of its own, so no mtime.
                Some(Resolved::Root(tree)) => (Content::Tree(Some(tree)), EntryType::Dir, 0, None),
                None => continue,
            };
        out.push(Version {
            snapshot: id.to_hex(),
            time: snapshot.time,
            entry_type,
            size,
            mtime,
            changed: previous.as_ref() != Some(&content),
        });
        previous = Some(content);
    }
    out.reverse();
    Ok(out)
}

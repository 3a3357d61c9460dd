//! One directory of a snapshot, as a file browser shows it.

use cairn_format::tree::{go_mode, Node, NodeType};
use cairn_format::Id;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::go_time;
use super::path::{resolve, SnapshotPath};
use crate::index::Index;
use crate::{RepoError, Repository, Result};

/// What kind of entry a browser shows: devices, FIFOs and sockets are `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Dir,
    Symlink,
    Other,
}

impl EntryType {
    pub fn of(node_type: &NodeType) -> EntryType {
        match node_type {
            NodeType::File => EntryType::File,
            NodeType::Dir => EntryType::Dir,
            NodeType::Symlink => EntryType::Symlink,
            _ => EntryType::Other,
        }
    }
}

/// One entry of a directory. Names and link targets that are not UTF-8 are shown lossily
/// (U+FFFD); the tree keeps the bytes, and restores use the tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub name: String,
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    /// Bytes of a file's content; 0 for everything else.
    pub size: u64,
    pub mtime: Option<DateTime<FixedOffset>>,
    /// Unix permission bits (with setuid, setgid, sticky), e.g. 0o644 = 420.
    pub mode: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

impl Entry {
    pub fn of(node: &Node) -> Entry {
        let entry_type = EntryType::of(&node.node_type);
        Entry {
            name: String::from_utf8_lossy(&node.name).into_owned(),
            entry_type,
            size: if entry_type == EntryType::File {
                node.size
            } else {
                0
            },
            mtime: go_time(&node.mtime),
            mode: go_mode::to_unix_permissions(node.mode),
            link_target: (entry_type == EntryType::Symlink)
                .then(|| String::from_utf8_lossy(&node.link_target).into_owned()),
        }
    }
}

/// A directory and its entries, in the tree's (name) order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listing {
    pub path: String,
    pub entries: Vec<Entry>,
}

/// Lists the directory at `path` of the snapshot tree `root`, loading only the trees along
/// the path and the directory's own. `snapshot` names the snapshot in errors.
pub fn list_directory(
    repo: &Repository,
    index: &Index,
    root: &Id,
    path: &SnapshotPath,
    snapshot: &str,
) -> Result<Listing> {
    let resolved = resolve(repo, index, root, path, snapshot)?;
    let tree = resolved.directory_tree().ok_or_else(|| {
        RepoError::InvalidInput(format!(
            "{path} in snapshot {snapshot} is not a directory; download it or look at its history"
        ))
    })?;
    let entries = repo
        .load_tree(index, &tree)?
        .iter()
        .map(Entry::of)
        .collect();
    Ok(Listing {
        path: path.to_string(),
        entries,
    })
}

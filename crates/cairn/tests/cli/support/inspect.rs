//! Looking inside a repository with the engine library, for tests that must pick a particular
//! object (a pack only one snapshot uses, the index file of one backup) before damaging it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_format::tree::NodeType;
use cairn_format::{BlobType, Id, IndexFile};
use cairn_repo::index::Index;
use cairn_repo::Repository;
use cairn_storage::{FileKind, LocalStore};

/// The password `Scratch::init_repo` gives every test repository.
pub const PASSWORD: &[u8] = b"correct horse battery staple";

/// Opens a test repository in this process.
pub fn open(repo: &Path) -> Repository {
    Repository::open(Arc::new(LocalStore::new(repo)), PASSWORD)
        .unwrap_or_else(|e| panic!("open {}: {e}", repo.display()))
}

fn is_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Names of the objects (64 hex digits) in `dir` of the repository (`keys`, `locks`,
/// `snapshots`, `index`, or `data`, which is searched one level down).
pub fn object_names(repo: &Path, dir: &str) -> BTreeSet<String> {
    let root = repo.join(dir);
    let mut dirs = vec![root.clone()];
    if dir == "data" {
        dirs = fs::read_dir(&root)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
    }
    let mut out = BTreeSet::new();
    for dir in dirs {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_id(&name) {
                out.insert(name);
            }
        }
    }
    out
}

/// Every entry of `locks/`, valid names or not (a half-written lock is also left behind).
pub fn lock_entries(repo: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(repo.join("locks"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Files whose names end in `-tmp-<hex>` anywhere in the repository: what a write cut short
/// leaves behind.
pub fn temporary_files(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if entry.file_name().to_string_lossy().contains("-tmp-") {
                out.push(path);
            }
        }
    }
    out
}

pub fn pack_path(repo: &Path, pack: &str) -> PathBuf {
    repo.join("data").join(&pack[..2]).join(pack)
}

/// The packs an index file lists that hold blobs of `blob_type`, largest first.
pub fn packs_of_index(repo: &Repository, index: &Id, blob_type: BlobType) -> Vec<Id> {
    let json = repo
        .load_unpacked(FileKind::Index, index)
        .unwrap_or_else(|e| panic!("read index {index}: {e}"));
    let file = IndexFile::from_json(&json).expect("index json");
    let mut packs: Vec<(u64, Id)> = file
        .packs
        .iter()
        .filter(|p| p.blobs.iter().any(|b| b.blob_type == blob_type))
        .map(|p| (p.blobs.iter().map(|b| u64::from(b.length)).sum(), p.id))
        .collect();
    packs.sort_by(|a, b| b.cmp(a));
    packs.into_iter().map(|(_, id)| id).collect()
}

/// Paths (as `check` prints them: absolute, from the snapshot root) of the files in the
/// snapshot whose content uses `pack`.
pub fn files_using_pack(repo: &Repository, snapshot: &Id, pack: &Id) -> BTreeSet<String> {
    let snapshot = cairn_repo::snapshots::load_snapshot(repo, snapshot).expect("load snapshot");
    let index = Index::load(repo).expect("load index");
    let mut out = BTreeSet::new();
    cairn_repo::tree_io::walk_tree(repo, &index, &snapshot.tree, &mut |path, node| {
        if node.node_type == NodeType::File {
            let uses = node.content.iter().flatten().any(|blob| {
                index
                    .lookup(BlobType::Data, blob)
                    .is_some_and(|location| location.pack == *pack)
            });
            if uses {
                out.insert(String::from_utf8_lossy(path).into_owned());
            }
        }
        Ok(true)
    })
    .expect("walk snapshot");
    out
}

//! Reading tree blobs and walking the trees of a snapshot.

use cairn_format::tree::{decode_tree, Node, NodeType};
use cairn_format::{BlobType, Id};

use cairn_storage::FileKind;

use crate::blob_codec::decode_blob;
use crate::cache::MetadataCache;
use crate::index::{BlobLocation, Index};
use crate::{RepoError, Repository, Result};

impl Repository {
    /// Reads one blob from its pack and checks it (MAC, length, SHA-256 against `id`). Tree
    /// blobs come through the cache when there is one (their whole pack is fetched once).
    pub fn read_blob(&self, location: &BlobLocation, id: &Id) -> Result<Vec<u8>> {
        if location.blob_type == BlobType::Tree {
            if let Some(cache) = self.cache() {
                let mut sealed = self.tree_pack_range(cache, location)?;
                return decode_blob(self.key(), id, location, &mut sealed);
            }
        }
        let mut sealed = self.storage().get_range(
            FileKind::Pack,
            &location.pack.to_hex(),
            u64::from(location.offset),
            u64::from(location.length),
        )?;
        decode_blob(self.key(), id, location, &mut sealed)
    }

    /// The sealed bytes of a tree blob from the cached copy of its pack, fetching the whole
    /// pack into the cache first when it is not there.
    fn tree_pack_range(&self, cache: &MetadataCache, location: &BlobLocation) -> Result<Vec<u8>> {
        let (offset, length) = (u64::from(location.offset), u64::from(location.length));
        if let Some(bytes) = cache.read_pack_range(&location.pack, offset, length) {
            return Ok(bytes);
        }
        let _fetching = cache.pack_fetch_guard(&location.pack);
        if let Some(bytes) = cache.read_pack_range(&location.pack, offset, length) {
            return Ok(bytes);
        }
        let pack = self
            .storage()
            .get(FileKind::Pack, &location.pack.to_hex())?;
        if !cache.put_pack(&location.pack, &pack) {
            return Err(RepoError::corrupt(
                format!("pack {}", location.pack),
                "its content does not match its name (SHA-256 mismatch)",
            ));
        }
        pack.get(offset as usize..(offset + length) as usize)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                RepoError::corrupt(
                    format!("pack {}", location.pack),
                    format!(
                        "{} bytes long, but the index puts a blob at {offset}+{length}",
                        pack.len()
                    ),
                )
            })
    }

    /// Reads a blob found through the index.
    pub fn read_indexed_blob(
        &self,
        index: &Index,
        blob_type: BlobType,
        id: &Id,
    ) -> Result<Vec<u8>> {
        let location = index
            .lookup(blob_type, id)
            .ok_or(RepoError::BlobNotIndexed { blob_type, id: *id })?;
        self.read_blob(&location, id)
    }

    /// Loads and decodes a tree blob.
    pub fn load_tree(&self, index: &Index, id: &Id) -> Result<Vec<Node>> {
        let bytes = self.read_indexed_blob(index, BlobType::Tree, id)?;
        decode_tree(&bytes).map_err(|e| RepoError::corrupt(format!("tree {id}"), e.to_string()))
    }
}

/// Visits every node below `tree` depth first, in tree order, with its path relative to the
/// snapshot root (`/a/b`). The visitor returns whether to descend into a directory.
pub fn walk_tree(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    visit: &mut dyn FnMut(&[u8], &Node) -> Result<bool>,
) -> Result<()> {
    walk_at(repo, index, tree, b"", visit)
}

fn walk_at(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    prefix: &[u8],
    visit: &mut dyn FnMut(&[u8], &Node) -> Result<bool>,
) -> Result<()> {
    for node in repo.load_tree(index, tree)? {
        let mut path = prefix.to_vec();
        path.push(b'/');
        path.extend_from_slice(&node.name);
        let descend = visit(&path, &node)?;
        if descend && node.node_type == NodeType::Dir {
            if let Some(subtree) = &node.subtree {
                walk_at(repo, index, subtree, &path, visit)?;
            }
        }
    }
    Ok(())
}

/// Finds the node at `path` (`/a/b`, relative to the snapshot root) below `tree`. The root
/// itself (`/` or empty) has no node: `Ok(None)` then, with the tree id being the root.
pub fn find_node(repo: &Repository, index: &Index, tree: &Id, path: &[u8]) -> Result<Option<Node>> {
    let mut current = *tree;
    let parts: Vec<&[u8]> = path
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Ok(None);
    };
    let not_found = || {
        RepoError::InvalidInput(format!(
            "path {} is not in the snapshot",
            String::from_utf8_lossy(path)
        ))
    };
    for dir in dirs {
        let nodes = repo.load_tree(index, &current)?;
        let node = nodes
            .into_iter()
            .find(|n| n.name == *dir)
            .ok_or_else(not_found)?;
        current = node
            .subtree
            .filter(|_| node.node_type == NodeType::Dir)
            .ok_or_else(not_found)?;
    }
    let nodes = repo.load_tree(index, &current)?;
    nodes
        .into_iter()
        .find(|n| n.name == *last)
        .map(Some)
        .ok_or_else(not_found)
}

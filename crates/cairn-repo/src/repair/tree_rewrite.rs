//! Rewriting a snapshot's trees bottom-up around what is missing.
//!
//! A tree is rewritten only when something below it changed, so every untouched subtree keeps
//! its id; each tree is visited once however many snapshots share it (results are kept by tree
//! id, with damage paths relative to the tree). What a damaged entry becomes is described in
//! the module documentation of [`super::snapshots`].

use std::collections::HashMap;
use std::sync::Arc;

use cairn_format::tree::{encode_tree, Node, NodeType};
use cairn_format::{BlobType, Id};

use super::snapshots::{Damage, DamageKind};
use crate::blob_codec::{BlobEncoder, Compression};
use crate::blob_writer::BlobWriter;
use crate::index::Index;
use crate::{ErrorKind, RepoError, Repository, Result};

/// Whether a failure to load a tree means the tree is damaged or missing: it fails
/// authentication or decoding, is not indexed, or its pack cannot be read (an I/O error on a
/// local disk is a bad sector). A store that cannot be reached (timeouts, refused credentials)
/// must stop the repair rather than empty a directory.
fn is_damage(error: &RepoError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Corrupt | ErrorKind::NotFound | ErrorKind::Other
    )
}

/// The result of rewriting one tree: its new id if anything below it changed, and what.
#[derive(Clone)]
pub(super) struct Rewritten {
    pub new_id: Option<Id>,
    /// Paths relative to the tree (`/name/...`), shared by every snapshot holding the tree.
    pub damage: Arc<Vec<(Vec<u8>, DamageKind)>>,
}

pub(super) fn damage_list(damage: &[(Vec<u8>, DamageKind)]) -> Vec<Damage> {
    damage
        .iter()
        .map(|(path, kind)| Damage {
            path: String::from_utf8_lossy(path).into_owned(),
            kind: kind.clone(),
        })
        .collect()
}

pub(super) struct TreeRewriter<'a> {
    repo: &'a Repository,
    index: &'a Index,
    writer: &'a BlobWriter<'a>,
    encoder: BlobEncoder,
    /// Every tree visited: its rewrite, or why it cannot be read.
    done: HashMap<Id, std::result::Result<Rewritten, String>>,
    empty_tree: Option<Id>,
}

impl<'a> TreeRewriter<'a> {
    /// A rewriter storing new trees through `writer`; `index` says which blobs exist.
    pub(super) fn new(
        repo: &'a Repository,
        index: &'a Index,
        writer: &'a BlobWriter<'a>,
    ) -> TreeRewriter<'a> {
        TreeRewriter {
            repo,
            index,
            writer,
            encoder: BlobEncoder::new(Compression::Auto, repo.supports_compression()),
            done: HashMap::new(),
            empty_tree: None,
        }
    }

    /// Rewrites `tree` bottom-up. The outer error stops the repair; the inner one says the
    /// tree itself cannot be read.
    pub(super) fn rewrite(&mut self, tree: &Id) -> Result<std::result::Result<Rewritten, String>> {
        if let Some(done) = self.done.get(tree) {
            return Ok(done.clone());
        }
        let mut nodes = match self.repo.load_tree(self.index, tree) {
            Ok(nodes) => nodes,
            Err(RepoError::BlobNotIndexed { id, .. }) => {
                let result = Err(format!("tree {id} is not in the index"));
                self.done.insert(*tree, result.clone());
                return Ok(result);
            }
            Err(e) if is_damage(&e) => {
                let result = Err(e.to_string());
                self.done.insert(*tree, result.clone());
                return Ok(result);
            }
            Err(e) => return Err(e),
        };
        let mut damage: Vec<(Vec<u8>, DamageKind)> = Vec::new();
        for node in &mut nodes {
            let mut path = Vec::with_capacity(node.name.len() + 1);
            path.push(b'/');
            path.extend_from_slice(&node.name);
            match node.node_type {
                NodeType::File => {
                    if let Some(kind) = self.repair_file(node) {
                        damage.push((path, kind));
                    }
                }
                NodeType::Dir => {
                    let reason = match node.subtree {
                        None => "the directory has no tree".to_string(),
                        Some(subtree) => match self.rewrite(&subtree)? {
                            Ok(below) => {
                                if let Some(new_id) = below.new_id {
                                    node.subtree = Some(new_id);
                                    for (sub_path, kind) in below.damage.iter() {
                                        let mut full = path.clone();
                                        full.extend_from_slice(sub_path);
                                        damage.push((full, kind.clone()));
                                    }
                                }
                                continue;
                            }
                            Err(reason) => reason,
                        },
                    };
                    let lost = node.subtree;
                    node.subtree = Some(self.empty_tree()?);
                    mark(
                        node,
                        &format!("repaired: the directory's listing was lost ({reason}); it is now empty"),
                    );
                    damage.push((path, DamageKind::DirectoryEmptied { tree: lost, reason }));
                }
                _ => {}
            }
        }
        let new_id = if damage.is_empty() {
            None
        } else {
            Some(self.save_tree(&nodes)?)
        };
        let result = Ok(Rewritten {
            new_id,
            damage: Arc::new(damage),
        });
        self.done.insert(*tree, result.clone());
        Ok(result)
    }

    /// Empties a file whose content lost data blobs (and corrects the size of a whole file
    /// whose recorded size is wrong); returns what was wrong, or `None` for a whole file.
    ///
    /// An emptied file, marked in its `error` field, says plainly that its content is gone; a
    /// file stitched from the chunks that survived would look whole and hold shifted data.
    fn repair_file(&self, node: &mut Node) -> Option<DamageKind> {
        let content = node.content.as_deref().unwrap_or_default();
        let mut size = 0u64;
        let mut blobs_missing = 0u64;
        for blob in content {
            match self.index.lookup(BlobType::Data, blob) {
                Some(location) => size += u64::from(location.plaintext_len()),
                None => blobs_missing += 1,
            }
        }
        let blobs = content.len() as u64;
        if blobs_missing == 0 && size == node.size && node.content.is_some() {
            return None;
        }
        let size_before = node.size;
        if blobs_missing == 0 {
            node.content = Some(content.to_vec());
            node.size = size;
            return Some(DamageKind::FileSizeFixed {
                size_before,
                size_after: size,
            });
        }
        node.content = Some(Vec::new());
        node.size = 0;
        mark(
            node,
            &format!(
                "repaired: {blobs_missing} of {blobs} data blobs were lost; the content ({size_before} bytes) was removed"
            ),
        );
        Some(DamageKind::FileContentRemoved {
            blobs_missing,
            blobs,
            size_before,
            size_after: 0,
        })
    }

    fn empty_tree(&mut self) -> Result<Id> {
        if let Some(id) = self.empty_tree {
            return Ok(id);
        }
        let id = self.save_tree(&[])?;
        self.empty_tree = Some(id);
        Ok(id)
    }

    fn save_tree(&mut self, nodes: &[Node]) -> Result<Id> {
        let bytes = encode_tree(nodes);
        let id = Id::hash(&bytes);
        self.writer
            .save(&mut self.encoder, BlobType::Tree, id, &bytes)?;
        Ok(id)
    }
}

/// Records in a node's `error` field what the repair did to it: restic reads the field and
/// ignores it, and anyone reading the tree (`cairn cat`) sees which entries lost data.
fn mark(node: &mut Node, message: &str) {
    if node.error.is_empty() {
        node.error = message.to_string();
    } else {
        node.error = format!("{}; {message}", node.error);
    }
}

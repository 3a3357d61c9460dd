//! Sizes and counts of snapshots (`stats`), with restic 0.14's four counting modes.
//!
//! - `restore-size`: every entry of every snapshot (directories and links included) counts as
//!   a file, as often as it appears; sizes come from the nodes. Within one snapshot an inode
//!   number is counted once (hard links), except inode 0.
//! - `files-by-contents`: entries counted once per distinct content (the sequence of their
//!   data blobs; every entry without content shares the empty one), with their node size.
//! - `raw-data`: the distinct blobs (data and tree) the snapshots reference, with their stored
//!   size (encrypted and possibly compressed, as the index records it).
//! - `blobs-per-file`: for each entry whose content is seen for the first time, its blobs not
//!   yet counted for its path, with their plaintext size; files are the distinct such paths.
//!
//! restic 0.14 prints `total_size`, `total_file_count`, `total_blob_count` (when not zero) and
//! `snapshots_count`; [`Stats`] serializes to exactly that.
//!
//! Only `restore-size` needs every snapshot walked in full. In the other modes a tree already
//! walked (in this snapshot or an earlier one) cannot add anything: every content below it has
//! been seen. Such trees are skipped, so adding snapshots that share most of their data costs
//! little.

use std::collections::{HashMap, HashSet};

use cairn_format::tree::{Node, NodeType};
use cairn_format::{BlobType, Id};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::id_hasher::IdSet;
use crate::index::Index;
use crate::tree_io::walk_tree;
use crate::{RepoError, Repository, Result};

/// restic's `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsMode {
    RestoreSize,
    FilesByContents,
    RawData,
    BlobsPerFile,
}

impl StatsMode {
    pub fn parse(text: &str) -> Result<StatsMode> {
        Ok(match text {
            "restore-size" => StatsMode::RestoreSize,
            "files-by-contents" => StatsMode::FilesByContents,
            "raw-data" => StatsMode::RawData,
            "blobs-per-file" => StatsMode::BlobsPerFile,
            other => {
                return Err(RepoError::InvalidInput(format!(
                    "unknown counting mode {other:?}: use restore-size, files-by-contents, raw-data or blobs-per-file"
                )))
            }
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            StatsMode::RestoreSize => "restore-size",
            StatsMode::FilesByContents => "files-by-contents",
            StatsMode::RawData => "raw-data",
            StatsMode::BlobsPerFile => "blobs-per-file",
        }
    }
}

/// The figures, named and ordered as restic 0.14's `stats --json` prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub total_size: u64,
    pub total_file_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub total_blob_count: u64,
    pub snapshots_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Accumulates the statistics of snapshots added one after another.
pub struct StatsCollector<'a> {
    repo: &'a Repository,
    index: &'a Index,
    mode: StatsMode,
    stats: Stats,
    /// Trees already walked (every mode but restore-size).
    seen_trees: IdSet<Id>,
    /// Hashes of the contents seen (files-by-contents, blobs-per-file).
    contents: HashSet<[u8; 32]>,
    /// Blobs counted per path (blobs-per-file).
    path_blobs: HashMap<Vec<u8>, IdSet<Id>>,
    /// Data blobs referenced (raw-data); trees are `seen_trees`.
    data_blobs: IdSet<Id>,
}

impl<'a> StatsCollector<'a> {
    pub fn new(repo: &'a Repository, index: &'a Index, mode: StatsMode) -> StatsCollector<'a> {
        StatsCollector {
            repo,
            index,
            mode,
            stats: Stats::default(),
            seen_trees: IdSet::default(),
            contents: HashSet::new(),
            path_blobs: HashMap::new(),
            data_blobs: IdSet::default(),
        }
    }

    /// Adds the snapshot whose root tree is `root`.
    pub fn add_snapshot(&mut self, root: &Id) -> Result<()> {
        self.stats.snapshots_count += 1;
        if self.mode == StatsMode::RestoreSize {
            return self.add_restore_size(root);
        }
        if !self.seen_trees.insert(*root) {
            return Ok(());
        }
        let (repo, index) = (self.repo, self.index);
        walk_tree(repo, index, root, &mut |path, node| {
            self.visit(path, node)?;
            Ok(match node.subtree {
                Some(subtree) if node.node_type == NodeType::Dir => self.seen_trees.insert(subtree),
                _ => false,
            })
        })
    }

    fn add_restore_size(&mut self, root: &Id) -> Result<()> {
        let mut inodes: HashSet<u64> = HashSet::new();
        let stats = &mut self.stats;
        walk_tree(self.repo, self.index, root, &mut |_, node| {
            stats.total_file_count += 1;
            if node.inode == 0 || inodes.insert(node.inode) {
                stats.total_size += node.size;
            }
            Ok(true)
        })
    }

    fn visit(&mut self, path: &[u8], node: &Node) -> Result<()> {
        let blobs = node.content.as_deref().unwrap_or(&[]);
        match self.mode {
            StatsMode::RestoreSize => unreachable!("restore-size walks in add_restore_size"),
            StatsMode::RawData => self.data_blobs.extend(blobs.iter().copied()),
            StatsMode::FilesByContents => {
                if self.contents.insert(content_id(blobs)) {
                    self.stats.total_size += node.size;
                    self.stats.total_file_count += 1;
                }
            }
            StatsMode::BlobsPerFile => {
                if !self.contents.insert(content_id(blobs)) || blobs.is_empty() {
                    return Ok(());
                }
                let counted = self.path_blobs.entry(path.to_vec()).or_insert_with(|| {
                    self.stats.total_file_count += 1;
                    IdSet::default()
                });
                for blob in blobs {
                    if counted.insert(*blob) {
                        let location = self.index.lookup(BlobType::Data, blob).ok_or(
                            RepoError::BlobNotIndexed {
                                blob_type: BlobType::Data,
                                id: *blob,
                            },
                        )?;
                        self.stats.total_size += u64::from(location.plaintext_len());
                        self.stats.total_blob_count += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// The statistics of every snapshot added.
    pub fn finish(mut self) -> Result<Stats> {
        if self.mode == StatsMode::RawData {
            for (blob_type, ids) in [
                (BlobType::Data, &self.data_blobs),
                (BlobType::Tree, &self.seen_trees),
            ] {
                for id in ids {
                    let location = self
                        .index
                        .lookup(blob_type, id)
                        .ok_or(RepoError::BlobNotIndexed { blob_type, id: *id })?;
                    self.stats.total_size += u64::from(location.length);
                    self.stats.total_blob_count += 1;
                }
            }
        }
        Ok(self.stats)
    }
}

/// restic's `makeFileIDByContents`: the SHA-256 of the content's blob ids in order.
fn content_id(blobs: &[Id]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for blob in blobs {
        hasher.update(blob.as_bytes());
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_by_restic_names() {
        for mode in [
            StatsMode::RestoreSize,
            StatsMode::FilesByContents,
            StatsMode::RawData,
            StatsMode::BlobsPerFile,
        ] {
            assert_eq!(StatsMode::parse(mode.as_str()).unwrap(), mode);
        }
        let error = StatsMode::parse("bogus").unwrap_err();
        assert!(error.to_string().contains("\"bogus\""), "{error}");
    }

    #[test]
    fn json_has_restic_fields_and_omits_a_zero_blob_count() {
        let stats = Stats {
            total_size: 75,
            total_file_count: 37,
            total_blob_count: 0,
            snapshots_count: 2,
        };
        assert_eq!(
            serde_json::to_string(&stats).unwrap(),
            r#"{"total_size":75,"total_file_count":37,"snapshots_count":2}"#
        );
        let raw = Stats {
            total_blob_count: 26,
            ..stats
        };
        assert!(serde_json::to_string(&raw)
            .unwrap()
            .contains(r#""total_blob_count":26,"snapshots_count":2"#));
    }

    #[test]
    fn contents_are_identified_by_their_blob_sequence() {
        let a = Id::hash(b"a");
        let b = Id::hash(b"b");
        assert_eq!(content_id(&[a, b]), content_id(&[a, b]));
        assert_ne!(content_id(&[a, b]), content_id(&[b, a]));
        // Directories, links and empty files all share the empty content.
        assert_eq!(content_id(&[]), <[u8; 32]>::from(Sha256::digest(b"")));
    }
}

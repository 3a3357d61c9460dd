//! Deciding what prune deletes, repacks and keeps.

use std::collections::{HashMap, HashSet};

use cairn_format::tree::NodeType;
use cairn_format::{BlobType, Id, IndexPack};
use cairn_storage::FileKind;

use super::PruneOptions;
use crate::index::{load_index_files, Index, PackSummary};
use crate::progress::{Phase, Progress};
use crate::snapshots::load_all_snapshots_lenient;
use crate::{RepoError, Repository, Result};

/// How much unused data may stay after a prune (restic's `--max-unused`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxUnused {
    /// Unused bytes at most this percentage of the repository after the prune.
    Percent(f64),
    Bytes(u64),
    Unlimited,
}

impl std::str::FromStr for MaxUnused {
    type Err = RepoError;

    fn from_str(text: &str) -> Result<MaxUnused> {
        let invalid = || {
            RepoError::InvalidInput(format!(
                "invalid --max-unused {text:?}: give a percentage (5%), a size (500M, 2G) or `unlimited`"
            ))
        };
        if text == "unlimited" {
            return Ok(MaxUnused::Unlimited);
        }
        if let Some(percent) = text.strip_suffix('%') {
            let value: f64 = percent.parse().map_err(|_| invalid())?;
            if !(0.0..100.0).contains(&value) {
                return Err(invalid());
            }
            return Ok(MaxUnused::Percent(value));
        }
        parse_size(text).map(MaxUnused::Bytes).ok_or_else(invalid)
    }
}

/// `500`, `500K`, `10M`, `2G`, `1T` (powers of 1024, as restic reads sizes).
pub fn parse_size(text: &str) -> Option<u64> {
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let value: u64 = number.parse().ok()?;
    let factor: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// Figures of a prune, in blobs and bytes (stored sizes).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneStats {
    pub used_blobs: u64,
    pub used_bytes: u64,
    pub unused_blobs: u64,
    pub unused_bytes: u64,
    /// In packs deleted whole (unused, or referenced by no index).
    pub delete_blobs: u64,
    pub delete_bytes: u64,
    /// Used data copied into new packs.
    pub repack_blobs: u64,
    pub repack_bytes: u64,
    /// Unused data removed by repacking.
    pub repack_freed_bytes: u64,
    /// Packs no index names.
    pub unreferenced_packs: u64,
    pub unreferenced_bytes: u64,
    pub remaining_bytes: u64,
    pub remaining_unused_bytes: u64,
}

pub struct PrunePlan {
    /// Every indexed pack, as its (first) index entry lists it.
    pub packs: HashMap<Id, IndexPack>,
    pub keep: Vec<Id>,
    pub repack: Vec<Id>,
    /// Packs deleted whole, unreferenced ones included.
    pub delete: Vec<Id>,
    /// Blobs some snapshot uses.
    pub used: HashSet<(BlobType, Id)>,
    /// The index files that exist now; a finished prune replaces them all.
    pub old_index_files: Vec<Id>,
    pub stats: PruneStats,
}

#[derive(Default, Clone, Copy)]
struct Usage {
    used_blobs: u64,
    used_bytes: u64,
    unused_blobs: u64,
    unused_bytes: u64,
    uncompressed_data: bool,
}

pub fn plan_prune(
    repo: &Repository,
    options: &PruneOptions,
    progress: &Progress,
) -> Result<PrunePlan> {
    progress.set_phase(Phase::LoadingIndex);
    let mut packs: HashMap<Id, IndexPack> = HashMap::new();
    let mut old_index_files = Vec::new();
    let mut index = Index::new();
    for (id, file) in load_index_files(repo)? {
        let file = file.map_err(|e| {
            refuse(format!(
                "index {id} cannot be read ({e}); run `cairn check` and `cairn repair index`"
            ))
        })?;
        old_index_files.push(id);
        for pack in file.packs {
            index.add_pack(&pack);
            packs.entry(pack.id).or_insert(pack);
        }
    }
    progress.set_phase(Phase::FindingUsedBlobs);
    let used = used_blobs(repo, &index, progress)?;

    // Count each used blob once, in the first pack (by id) that holds it; other copies are
    // duplicates, unused.
    let mut pack_ids: Vec<Id> = packs.keys().copied().collect();
    pack_ids.sort();
    let mut counted: HashSet<(BlobType, Id)> = HashSet::with_capacity(used.len());
    let mut usage: HashMap<Id, Usage> = HashMap::with_capacity(packs.len());
    let mut stats = PruneStats::default();
    for id in &pack_ids {
        let mut pack_usage = Usage::default();
        for blob in &packs[id].blobs {
            let key = (blob.blob_type, blob.id);
            if used.contains(&key) && counted.insert(key) {
                pack_usage.used_blobs += 1;
                pack_usage.used_bytes += u64::from(blob.length);
            } else {
                pack_usage.unused_blobs += 1;
                pack_usage.unused_bytes += u64::from(blob.length);
            }
            if blob.blob_type == BlobType::Data && blob.uncompressed_length.is_none() {
                pack_usage.uncompressed_data = true;
            }
        }
        stats.used_blobs += pack_usage.used_blobs;
        stats.used_bytes += pack_usage.used_bytes;
        stats.unused_blobs += pack_usage.unused_blobs;
        stats.unused_bytes += pack_usage.unused_bytes;
        usage.insert(*id, pack_usage);
    }
    if let Some((blob_type, id)) = used.iter().find(|key| !counted.contains(*key)) {
        return Err(refuse(format!(
            "{blob_type} blob {id} is used by a snapshot but no pack holds it; run `cairn check` and `cairn repair snapshots`"
        )));
    }

    let summary = |id: &Id| index.packs().iter().find(|p| p.id == *id).copied();
    let size_of = |id: &Id| summary(id).map_or(0, |p: PackSummary| p.expected_size());
    let (mut keep, mut repack, mut delete) = (Vec::new(), Vec::new(), Vec::new());
    let mut candidates = Vec::new();
    let small_limit = options.pack_size as u64 * 4 / 5;
    let small_packs = pack_ids
        .iter()
        .filter(|id| size_of(id) < small_limit)
        .count();
    for id in &pack_ids {
        let u = usage[id];
        let tree_pack = packs[id]
            .blobs
            .first()
            .is_some_and(|b| b.blob_type == BlobType::Tree);
        if u.used_blobs == 0 {
            stats.delete_blobs += u.unused_blobs;
            stats.delete_bytes += size_of(id);
            delete.push(*id);
        } else if (u.unused_blobs > 0 && tree_pack && options.max_unused != MaxUnused::Unlimited)
            || (options.repack_uncompressed && repo.supports_compression() && u.uncompressed_data)
            || (options.repack_small && small_packs > 1 && size_of(id) < small_limit)
        {
            repack.push(*id);
        } else if u.unused_blobs > 0 {
            candidates.push(*id);
        } else {
            keep.push(*id);
        }
    }

    let mut unused_left: u64 = candidates.iter().map(|id| usage[id].unused_bytes).sum();
    let used_total = stats.used_bytes;
    let limit = match options.max_unused {
        MaxUnused::Unlimited => u64::MAX,
        MaxUnused::Bytes(bytes) => bytes,
        // restic's reading: unused data at most p% of what remains after the prune.
        MaxUnused::Percent(percent) => (used_total as f64 * percent / (100.0 - percent)) as u64,
    };
    let mut repack_bytes: u64 = repack.iter().map(|id| usage[id].used_bytes).sum();
    // Most unused data per byte to copy first.
    candidates.sort_by(|a, b| {
        let ratio = |id: &Id| usage[id].unused_bytes as f64 / (usage[id].used_bytes.max(1)) as f64;
        ratio(b).total_cmp(&ratio(a)).then(a.cmp(b))
    });
    for id in candidates {
        let u = usage[&id];
        let within_budget = options
            .max_repack_bytes
            .is_none_or(|max| repack_bytes + u.used_bytes <= max);
        if unused_left > limit && within_budget {
            unused_left -= u.unused_bytes;
            repack_bytes += u.used_bytes;
            repack.push(id);
        } else {
            keep.push(id);
        }
    }
    for id in &repack {
        stats.repack_blobs += usage[id].used_blobs;
        stats.repack_bytes += usage[id].used_bytes;
        stats.repack_freed_bytes += usage[id].unused_bytes;
    }

    let stored: Vec<(Id, u64)> = repo.list_ids(FileKind::Pack)?;
    for (id, size) in stored {
        if !packs.contains_key(&id) {
            stats.unreferenced_packs += 1;
            stats.unreferenced_bytes += size;
            delete.push(id);
        }
    }
    stats.remaining_bytes = keep.iter().map(size_of).sum::<u64>() + stats.repack_bytes;
    stats.remaining_unused_bytes = keep.iter().map(|id| usage[id].unused_bytes).sum();
    keep.sort();
    repack.sort();
    Ok(PrunePlan {
        packs,
        keep,
        repack,
        delete,
        used,
        old_index_files,
        stats,
    })
}

fn refuse(reason: String) -> RepoError {
    RepoError::InvalidInput(format!("prune stopped, nothing was deleted: {reason}"))
}

/// Every blob reachable from a snapshot. Fails if any snapshot or tree cannot be read: then
/// what is unused is not known.
fn used_blobs(
    repo: &Repository,
    index: &Index,
    progress: &Progress,
) -> Result<HashSet<(BlobType, Id)>> {
    let mut used = HashSet::new();
    for (id, snapshot) in load_all_snapshots_lenient(repo)? {
        progress.set_current(Some(&format!("snapshot {}", id.short())));
        let snapshot = snapshot.map_err(|e| refuse(format!("snapshot {id} cannot be read ({e}); remove it with `cairn forget {id}` or restore it first")))?;
        let mut stack = vec![snapshot.tree];
        while let Some(tree) = stack.pop() {
            if !used.insert((BlobType::Tree, tree)) {
                continue;
            }
            let nodes = repo.load_tree(index, &tree).map_err(|e| {
                refuse(format!(
                    "tree {tree} of snapshot {} cannot be read ({e}); run `cairn check`",
                    id.short()
                ))
            })?;
            for node in nodes {
                match node.node_type {
                    NodeType::Dir => stack.extend(node.subtree),
                    _ => {
                        for blob in node.content.iter().flatten() {
                            used.insert((BlobType::Data, *blob));
                        }
                    }
                }
            }
        }
    }
    Ok(used)
}

//! Copy: snapshots from one repository into another, blob by blob.
//!
//! The two repositories have different master keys and usually different chunker polynomials.
//! Blobs are therefore re-encrypted (opened and verified with the source's key, compressed as
//! the destination's format allows, sealed with the destination's key) but never re-chunked: a
//! blob's id is the SHA-256 of its plaintext, so it is the same in both repositories, and so are
//! the tree ids and the snapshot's root tree. Tree blobs are copied as their stored bytes, never
//! re-encoded. Only blobs the destination lacks are transferred, each once however many
//! snapshots use it.
//!
//! # Skipping snapshots already copied (restic's rule)
//! A copied snapshot records in `original` the id of the snapshot it was copied from, or that
//! snapshot's own `original` when it has one (so the field names the first snapshot of a chain
//! of copies and tag changes). A source snapshot is skipped when the destination holds a
//! snapshot that is *similar* to it (same time, tree, host, user, uid, gid, paths, excludes and
//! tags: everything but parent and original) and whose `original` or own id equals the source
//! snapshot's `original` (or its id when it has none). restic 0.14's `copy` decides exactly so,
//! which makes copies by either tool known to both.
//!
//! # Order that protects data
//! Everything is planned first: snapshots are read, then both indexes, then the source trees of
//! every snapshot to copy are walked, so a damaged source or an unknown snapshot fails before
//! anything is written. Then, snapshot by snapshot: its new blobs into packs → sync → index →
//! sync → snapshot file → sync (the [`BlobWriter`] and [`save_snapshot`] order). A copy killed at
//! any instant leaves the snapshots copied so far complete and at worst packs no index names;
//! running it again skips the former and stores the missing blobs again.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use cairn_format::{BlobType, Id, Snapshot};
use cairn_storage::FileKind;

use crate::backup::save_snapshot;
use crate::blob_codec::{BlobDecoder, BlobEncoder, Compression};
use crate::blob_writer::{BlobWriter, WriterOptions, WriterSummary};
use crate::id_hasher::{IdMap, IdSet};
use crate::index::{BlobLocation, Index};
use crate::progress::{Operation, Phase, Progress};
use crate::selection::{select_snapshots, SnapshotSelection};
use crate::snapshots::load_readable_snapshots;
use crate::{RepoError, Repository, Result};

/// Blobs of one source pack closer than this are fetched in one read (the bytes between them
/// are read and dropped): fewer requests matter more than a few wasted bytes.
const MERGE_GAP_BYTES: u64 = 256 << 10;
/// A read spans at most about this much (one blob more at most), bounding each worker's buffer.
const READ_BYTES_MAX: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// How copied blobs are compressed in the destination (when its format allows).
    pub compression: Compression,
    /// Target size of the destination's new packs.
    pub pack_size: usize,
    /// Threads reading, verifying and re-sealing blobs; `None`: one per core.
    pub threads: Option<usize>,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            compression: Compression::Auto,
            pack_size: crate::blob_writer::PACK_SIZE_DEFAULT,
            threads: None,
        }
    }
}

/// What will be transferred, known once the source trees are walked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyPlanTotals {
    pub snapshots: u64,
    pub blobs: u64,
    /// Plaintext bytes of the blobs to transfer.
    pub plaintext_bytes: u64,
}

/// Whoever watches a copy.
pub trait CopyObserver: Sync {
    /// The progress model the copy updates (files: snapshots, bytes: plaintext bytes of the
    /// blobs to transfer, both known after planning).
    fn progress(&self) -> Option<&Progress> {
        None
    }
    /// The destination already holds a copy of `source` (`existing`).
    fn snapshot_skipped(&self, _source: &Id, _snapshot: &Snapshot, _existing: &Id) {}
    /// `source` was copied as the destination snapshot `new`.
    fn snapshot_copied(&self, _source: &Id, _snapshot: &Snapshot, _new: &Id) {}
}

/// An observer that ignores everything.
pub struct NoCopyProgress;

impl CopyObserver for NoCopyProgress {}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopiedSnapshot {
    pub source: Id,
    pub new: Id,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedSnapshot {
    pub source: Id,
    /// The destination snapshot that is already a copy of it.
    pub existing: Id,
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopySummary {
    pub copied: Vec<CopiedSnapshot>,
    pub skipped: Vec<SkippedSnapshot>,
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// Plaintext bytes of the blobs added to the destination.
    pub plaintext_bytes: u64,
    /// Bytes of the packs written to the destination, headers included.
    pub stored_bytes: u64,
    pub packs: u64,
    pub index_files: u64,
}

impl CopySummary {
    fn add(&mut self, written: &WriterSummary) {
        self.data_blobs += written.data_blobs;
        self.tree_blobs += written.tree_blobs;
        self.plaintext_bytes += written.plaintext_bytes;
        self.stored_bytes += written.stored_bytes;
        self.packs += written.packs;
        self.index_files += written.index_files.len() as u64;
    }
}

/// Whether two snapshots are copies of each other as restic 0.14 judges it: everything but
/// parent and original is the same (paths and tags as sets, excludes in order).
pub fn similar_snapshots(a: &Snapshot, b: &Snapshot) -> bool {
    a.time == b.time
        && a.tree == b.tree
        && a.hostname == b.hostname
        && a.username == b.username
        && a.uid == b.uid
        && a.gid == b.gid
        && a.paths.len() == b.paths.len()
        && a.tags.len() == b.tags.len()
        && a.excludes == b.excludes
        && b.paths.iter().all(|p| a.paths.contains(p))
        && b.tags.iter().all(|t| a.tags.contains(t))
}

/// The id that stays with a snapshot through copies and tag changes: its `original`, or its own
/// id when it has none.
pub fn persistent_id(id: &Id, snapshot: &Snapshot) -> Id {
    snapshot.original.filter(|o| !o.is_zero()).unwrap_or(*id)
}

/// The destination's snapshots by the ids that mark them as copies: their `original`, and
/// their own id (a snapshot copied back to where its original came from).
pub struct ExistingCopies {
    by_key: IdMap<Id, Vec<(Id, Snapshot)>>,
}

impl ExistingCopies {
    pub fn new(destination: Vec<(Id, Snapshot)>) -> ExistingCopies {
        let mut by_key: IdMap<Id, Vec<(Id, Snapshot)>> = IdMap::default();
        for (id, snapshot) in destination {
            if let Some(original) = snapshot.original.filter(|o| !o.is_zero() && *o != id) {
                by_key
                    .entry(original)
                    .or_default()
                    .push((id, snapshot.clone()));
            }
            by_key.entry(id).or_default().push((id, snapshot));
        }
        ExistingCopies { by_key }
    }

    /// The destination snapshot that is already a copy of the source snapshot `id`, if any.
    pub fn find(&self, id: &Id, snapshot: &Snapshot) -> Option<Id> {
        self.by_key
            .get(&persistent_id(id, snapshot))?
            .iter()
            .find(|(_, existing)| similar_snapshots(existing, snapshot))
            .map(|(existing_id, _)| *existing_id)
    }
}

/// The snapshot written to the destination for the source snapshot `id`: the same fields, no
/// parent (it names a snapshot of the other repository), and `original` naming where it came
/// from, as restic's copy writes it.
pub fn copied_snapshot(id: &Id, snapshot: &Snapshot) -> Snapshot {
    let mut copy = snapshot.clone();
    copy.parent = None;
    copy.original = Some(persistent_id(id, snapshot));
    copy
}

/// The blobs to fetch from one source pack, in pack order.
struct PackTask {
    pack: Id,
    blobs: Vec<(Id, BlobLocation)>,
}

/// One snapshot to copy and the blobs it adds to the destination (those no earlier snapshot of
/// this run adds).
struct SnapshotPlan {
    source: Id,
    snapshot: Snapshot,
    packs: Vec<PackTask>,
}

/// Walks the source trees of one snapshot and lists the blobs the destination lacks, grouped
/// by source pack. `planned` and `visited` carry over from the snapshots planned before.
struct Planner<'a> {
    source: &'a Repository,
    source_index: &'a Index,
    dest_index: &'a Index,
    planned: [IdSet<Id>; 2],
    visited_trees: IdSet<Id>,
    totals: CopyPlanTotals,
}

fn slot(blob_type: BlobType) -> usize {
    match blob_type {
        BlobType::Data => 0,
        BlobType::Tree => 1,
    }
}

impl Planner<'_> {
    fn plan(&mut self, source_id: Id, snapshot: &Snapshot) -> Result<SnapshotPlan> {
        let mut by_pack: IdMap<Id, Vec<(Id, BlobLocation)>> = IdMap::default();
        let mut stack = vec![snapshot.tree];
        while let Some(tree) = stack.pop() {
            if !self.visited_trees.insert(tree) {
                continue;
            }
            self.need(&mut by_pack, BlobType::Tree, tree, &source_id)?;
            // Every tree is walked, even one the destination holds: a tree in an index says
            // nothing certain about its children (an interrupted backup can index a tree pack
            // whose data packs never landed), and restic's copy walks them all too.
            for node in self.source.load_tree(self.source_index, &tree)? {
                for blob in node.content.iter().flatten() {
                    self.need(&mut by_pack, BlobType::Data, *blob, &source_id)?;
                }
                if let Some(subtree) = node.subtree {
                    stack.push(subtree);
                }
            }
        }
        let mut packs: Vec<PackTask> = by_pack
            .into_iter()
            .map(|(pack, mut blobs)| {
                blobs.sort_by_key(|(_, location)| location.offset);
                PackTask { pack, blobs }
            })
            .collect();
        packs.sort_by_key(|task| task.pack);
        Ok(SnapshotPlan {
            source: source_id,
            snapshot: copied_snapshot(&source_id, snapshot),
            packs,
        })
    }

    fn need(
        &mut self,
        by_pack: &mut IdMap<Id, Vec<(Id, BlobLocation)>>,
        blob_type: BlobType,
        id: Id,
        snapshot: &Id,
    ) -> Result<()> {
        if self.dest_index.contains(blob_type, &id) || !self.planned[slot(blob_type)].insert(id) {
            return Ok(());
        }
        let location = self.source_index.lookup(blob_type, &id).ok_or_else(|| {
            RepoError::corrupt(
                format!("source repository {}", self.source.location()),
                format!(
                    "{blob_type} blob {id} of snapshot {} is in no index; run `cairn check` on it",
                    snapshot.short()
                ),
            )
        })?;
        self.totals.blobs += 1;
        self.totals.plaintext_bytes += u64::from(location.plaintext_len());
        by_pack
            .entry(location.pack)
            .or_default()
            .push((id, location));
        Ok(())
    }
}

/// Copies the selected snapshots of `source` into `dest`, skipping those `dest` already holds
/// a copy of. Takes a shared lock on both repositories.
pub fn copy_snapshots(
    source: &Repository,
    dest: &Repository,
    selection: &SnapshotSelection,
    options: &CopyOptions,
    observer: &dyn CopyObserver,
) -> Result<CopySummary> {
    let unread;
    let progress = match observer.progress() {
        Some(progress) => progress,
        None => {
            unread = Progress::new(Operation::Copy);
            &unread
        }
    };
    let summary = copy_reporting(source, dest, selection, options, observer, progress)?;
    progress.set_phase(Phase::Done);
    Ok(summary)
}

fn copy_reporting(
    source: &Repository,
    dest: &Repository,
    selection: &SnapshotSelection,
    options: &CopyOptions,
    observer: &dyn CopyObserver,
    progress: &Progress,
) -> Result<CopySummary> {
    progress.set_phase(Phase::LoadingIndex);
    let _source_lock = source.lock(false)?;
    let _dest_lock = dest.lock(false)?;
    let chosen = select_snapshots(source, selection).map_err(|e| match e {
        RepoError::InvalidInput(message) => RepoError::InvalidInput(format!(
            "source repository {}: {message}",
            source.location()
        )),
        e => e,
    })?;
    let existing = ExistingCopies::new(load_readable_snapshots(dest)?);

    let mut summary = CopySummary::default();
    let mut to_copy = Vec::new();
    for (id, snapshot) in chosen {
        match existing.find(&id, &snapshot) {
            Some(copy) => {
                observer.snapshot_skipped(&id, &snapshot, &copy);
                summary.skipped.push(SkippedSnapshot {
                    source: id,
                    existing: copy,
                });
            }
            None => to_copy.push((id, snapshot)),
        }
    }
    if to_copy.is_empty() {
        progress.set_totals(Some(0), Some(0));
        return Ok(summary);
    }

    // Snapshots are read before the indexes, so every blob they name is in the index read.
    let source_index = Index::load(source)?;
    let dest_index = Index::load(dest)?;
    progress.set_phase(Phase::Planning);
    let mut planner = Planner {
        source,
        source_index: &source_index,
        dest_index: &dest_index,
        planned: Default::default(),
        visited_trees: IdSet::default(),
        totals: CopyPlanTotals::default(),
    };
    let plans: Vec<SnapshotPlan> = to_copy
        .iter()
        .map(|(id, snapshot)| planner.plan(*id, snapshot))
        .collect::<Result<_>>()?;
    let mut totals = planner.totals;
    totals.snapshots = plans.len() as u64;
    progress.set_totals(Some(totals.snapshots), Some(totals.plaintext_bytes));
    progress.set_phase(Phase::Copying);

    let writer_options = WriterOptions {
        pack_size: options.pack_size,
        ..WriterOptions::default()
    };
    for plan in plans {
        progress.set_current(Some(&format!("snapshot {}", plan.source.short())));
        // A snapshot's blobs are either in the destination's index as read, or planned by
        // this snapshot or an earlier one of this run, all of which are indexed by now.
        let written = transfer(
            source,
            dest,
            &dest_index,
            &plan.packs,
            options,
            &writer_options,
            progress,
        )?;
        summary.add(&written);
        let new = save_snapshot(dest, &plan.snapshot)?;
        progress.add_files(1);
        observer.snapshot_copied(&plan.source, &plan.snapshot, &new);
        summary.copied.push(CopiedSnapshot {
            source: plan.source,
            new,
        });
    }
    Ok(summary)
}

/// Copies the blobs of `packs` into new packs of `dest` and indexes them.
fn transfer(
    source: &Repository,
    dest: &Repository,
    dest_index: &Index,
    packs: &[PackTask],
    options: &CopyOptions,
    writer_options: &WriterOptions,
    progress: &Progress,
) -> Result<WriterSummary> {
    if packs.is_empty() {
        return Ok(WriterSummary::default());
    }
    let writer = BlobWriter::new(dest, dest_index, writer_options);
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, packs.len());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<RepoError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut encoder =
                    BlobEncoder::new(options.compression, dest.supports_compression());
                let mut decoder = BlobDecoder::new();
                while !failed.load(Ordering::Acquire) {
                    let Some(task) = packs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let copied =
                        copy_pack(source, &writer, task, &mut encoder, &mut decoder, progress);
                    if let Err(e) = copied {
                        error.lock().expect("copy error").get_or_insert(e);
                        failed.store(true, Ordering::Release);
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().expect("copy error") {
        // Dropping the writer stops its uploads without indexing them: packs already stored
        // stay unreferenced, which `check` tolerates and `prune` removes.
        return Err(e);
    }
    writer.finish()
}

/// Ranges of `blobs` (sorted by offset) to fetch with one read each.
fn read_runs(blobs: &[(Id, BlobLocation)]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=blobs.len() {
        let split = match blobs.get(i) {
            None => true,
            Some((_, next)) => {
                let run_start = u64::from(blobs[start].1.offset);
                let (_, previous) = &blobs[i - 1];
                let previous_end = u64::from(previous.offset) + u64::from(previous.length);
                let gap = u64::from(next.offset).saturating_sub(previous_end);
                gap > MERGE_GAP_BYTES || previous_end - run_start >= READ_BYTES_MAX
            }
        };
        if split {
            runs.push(start..i);
            start = i;
        }
    }
    runs
}

fn copy_pack(
    source: &Repository,
    writer: &BlobWriter<'_>,
    task: &PackTask,
    encoder: &mut BlobEncoder,
    decoder: &mut BlobDecoder,
    progress: &Progress,
) -> Result<()> {
    for run in read_runs(&task.blobs) {
        let blobs = &task.blobs[run];
        let start = u64::from(blobs[0].1.offset);
        let end = blobs
            .iter()
            .map(|(_, l)| u64::from(l.offset) + u64::from(l.length))
            .max()
            .unwrap_or(start);
        let mut bytes =
            source
                .storage()
                .get_range(FileKind::Pack, &task.pack.to_hex(), start, end - start)?;
        for (id, location) in blobs {
            let from = (u64::from(location.offset) - start) as usize;
            let sealed = bytes
                .get_mut(from..from + location.length as usize)
                .ok_or_else(|| {
                    RepoError::corrupt(
                        format!(
                            "pack {} of source repository {}",
                            task.pack,
                            source.location()
                        ),
                        "shorter than its index says; run `cairn check --read-data` on it",
                    )
                })?;
            // Every blob is verified (MAC, length, id) before it is sealed again: copy never
            // carries damaged data into a repository as if it were good.
            let plaintext = decoder.decode(source.key(), id, location, sealed)?;
            let len = plaintext.len() as u64;
            writer.save(encoder, location.blob_type, *id, plaintext)?;
            progress.add_bytes(len);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_format::tree::{encode_tree, Node, NodeType};
    use cairn_storage::MemoryStore;

    use super::*;
    use crate::keys::KeyOptions;

    fn repo() -> Repository {
        let options = KeyOptions {
            kdf: Some(cairn_crypto::KdfParams {
                n: 1024,
                r: 8,
                p: 1,
            }),
            ..KeyOptions::default()
        };
        Repository::init(Arc::new(MemoryStore::new()), b"pw", &options).unwrap()
    }

    fn snapshot(tree: Id, time: &str) -> Snapshot {
        let json = format!(
            r#"{{"time":"{time}","tree":"{tree}","paths":["/a","/b"],"hostname":"h","username":"u","tags":["x","y"]}}"#
        );
        Snapshot::from_json(json.as_bytes()).unwrap()
    }

    /// Stores a snapshot of one directory with `files` (name, content) and returns its id.
    fn backup(repo: &Repository, files: &[(&str, &[u8])], time: &str) -> Id {
        let index = Index::load(repo).unwrap();
        let writer = BlobWriter::new(repo, &index, &WriterOptions::default());
        let mut encoder = BlobEncoder::new(Compression::Auto, true);
        let mut nodes = Vec::new();
        for (name, content) in files {
            let blob = Id::hash(content);
            writer
                .save(&mut encoder, BlobType::Data, blob, content)
                .unwrap();
            let mut node = Node::new(name.as_bytes().to_vec(), NodeType::File);
            node.size = content.len() as u64;
            node.content = Some(vec![blob]);
            nodes.push(node);
        }
        let sub = encode_tree(&nodes);
        let sub_id = Id::hash(&sub);
        writer
            .save(&mut encoder, BlobType::Tree, sub_id, &sub)
            .unwrap();
        let mut dir = Node::new(b"dir".to_vec(), NodeType::Dir);
        dir.subtree = Some(sub_id);
        let root = encode_tree(&[dir]);
        let root_id = Id::hash(&root);
        writer
            .save(&mut encoder, BlobType::Tree, root_id, &root)
            .unwrap();
        writer.finish().unwrap();
        save_snapshot(repo, &snapshot(root_id, time)).unwrap()
    }

    #[test]
    fn similar_ignores_parent_original_and_order_of_paths_and_tags() {
        let tree = Id::hash(b"t");
        let a = snapshot(tree, "2024-01-02T03:04:05.123456789Z");
        let mut b = a.clone();
        b.parent = Some(Id::hash(b"p"));
        b.original = Some(Id::hash(b"o"));
        b.paths.reverse();
        b.tags.reverse();
        assert!(similar_snapshots(&a, &b));
        let mut other_offset = a.clone();
        other_offset.time = a
            .time
            .with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap());
        assert!(
            similar_snapshots(&a, &other_offset),
            "the same instant in another zone"
        );
        for change in [
            |s: &mut Snapshot| s.tags.push("z".into()),
            |s: &mut Snapshot| s.paths.pop().map(drop).unwrap_or(()),
            |s: &mut Snapshot| s.hostname.push('2'),
            |s: &mut Snapshot| s.tree = Id::hash(b"other"),
            |s: &mut Snapshot| s.time += chrono::Duration::nanoseconds(1),
            |s: &mut Snapshot| s.excludes.push("*.tmp".into()),
        ] {
            let mut changed = a.clone();
            change(&mut changed);
            assert!(!similar_snapshots(&a, &changed), "{changed:?}");
        }
    }

    #[test]
    fn a_copy_is_found_by_its_original_or_its_own_id_and_only_when_similar() {
        let tree = Id::hash(b"t");
        let source_id = Id::hash(b"source snapshot");
        let source = snapshot(tree, "2024-01-02T03:04:05Z");
        let copy_id = Id::hash(b"copy");
        let existing = ExistingCopies::new(vec![(copy_id, copied_snapshot(&source_id, &source))]);
        assert_eq!(existing.find(&source_id, &source), Some(copy_id));
        // A copy of the copy names the same original, and is recognised the same way.
        let second = copied_snapshot(&copy_id, &copied_snapshot(&source_id, &source));
        assert_eq!(second.original, Some(source_id));
        assert_eq!(
            existing.find(&Id::hash(b"elsewhere"), &second),
            Some(copy_id)
        );
        // Copied back home: the destination snapshot's own id is the original.
        let home = ExistingCopies::new(vec![(source_id, source.clone())]);
        assert_eq!(home.find(&copy_id, &second), Some(source_id));
        // Same original, different tags (retagged since): not a copy, as in restic.
        let mut retagged = source.clone();
        retagged.tags.push("new".into());
        assert_eq!(existing.find(&source_id, &retagged), None);
        // Similar but unrelated: not a copy.
        assert_eq!(existing.find(&Id::hash(b"unrelated"), &source), None);
    }

    #[test]
    fn copies_only_missing_blobs_keeps_ids_and_skips_a_second_time() {
        let (source, dest) = (repo(), repo());
        assert_ne!(
            source.config().chunker_polynomial,
            dest.config().chunker_polynomial
        );
        let shared: &[u8] = &[7u8; 100_000];
        let first = backup(
            &source,
            &[("a", b"alpha"), ("s", shared)],
            "2024-01-01T00:00:00Z",
        );
        let second = backup(
            &source,
            &[("b", b"beta"), ("s", shared)],
            "2024-01-02T00:00:00Z",
        );
        // The destination already holds the shared blob.
        backup(&dest, &[("s", shared)], "2023-01-01T00:00:00Z");

        let summary = copy_snapshots(
            &source,
            &dest,
            &SnapshotSelection::all(),
            &CopyOptions::default(),
            &NoCopyProgress,
        )
        .unwrap();
        assert_eq!(summary.copied.len(), 2);
        assert_eq!(summary.data_blobs, 2, "alpha and beta only: {summary:?}");
        assert_eq!(summary.tree_blobs, 4, "{summary:?}");
        let dest_index = Index::load_strict(&dest).unwrap();
        for (copied, source_id) in summary.copied.iter().zip([first, second]) {
            assert_eq!(copied.source, source_id);
            let new = crate::snapshots::load_snapshot(&dest, &copied.new).unwrap();
            let old = crate::snapshots::load_snapshot(&source, &source_id).unwrap();
            assert_eq!(new.tree, old.tree);
            assert_eq!(new.original, Some(source_id));
            assert!(similar_snapshots(&new, &old));
            crate::tree_io::walk_tree(&dest, &dest_index, &new.tree, &mut |_, node| {
                for blob in node.content.iter().flatten() {
                    let data = dest.read_indexed_blob(&dest_index, BlobType::Data, blob)?;
                    assert_eq!(Id::hash(&data), *blob);
                }
                Ok(true)
            })
            .unwrap();
        }

        let packs = dest.list_ids(FileKind::Pack).unwrap().len();
        let again = copy_snapshots(
            &source,
            &dest,
            &SnapshotSelection::all(),
            &CopyOptions::default(),
            &NoCopyProgress,
        )
        .unwrap();
        assert!(again.copied.is_empty());
        assert_eq!(again.skipped.len(), 2);
        assert_eq!(dest.list_ids(FileKind::Pack).unwrap().len(), packs);
        assert!(dest.list_ids(FileKind::Lock).unwrap().is_empty());
    }

    #[test]
    fn reads_merge_near_blobs_and_split_far_ones() {
        let location = |offset: u32, length: u32| BlobLocation {
            blob_type: BlobType::Data,
            pack: Id::default(),
            offset,
            length,
            uncompressed_length: None,
        };
        let id = Id::default();
        let blobs = vec![
            (id, location(0, 100)),
            (id, location(100, 100)),
            (id, location(10_000, 100)),
            (id, location(5 << 20, 100)),
            (id, location((5 << 20) + 100, 20 << 20)),
            (id, location((25 << 20) + 100, 10)),
        ];
        assert_eq!(read_runs(&blobs), vec![0..3, 3..5, 5..6]);
        assert!(read_runs(&[]).is_empty());
    }
}

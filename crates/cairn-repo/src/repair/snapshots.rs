//! `repair snapshots`: rewrite snapshots whose trees reference data the repository lacks.
//!
//! Each selected snapshot's trees are walked and rewritten around what is missing
//! ([`super::tree_rewrite`]): only the trees on the path from a damaged entry to the root
//! change, every untouched subtree keeps its id. A snapshot with nothing missing is left alone.
//!
//! What counts as missing: a data blob the index does not list, or lists in a pack the storage
//! no longer has; a tree blob that cannot be read, authenticated or decoded. Data blobs are not
//! read (that is `check --read-data`'s job); `repair index` first, so that the index says what
//! the packs really hold. An index file that cannot be read stops the repair: blobs only it
//! lists would look missing and be cut out of snapshots that are in fact whole.
//!
//! What a repaired entry becomes (see the module documentation of [`crate::repair`]):
//! - a file that lost data blobs becomes an empty file under its own name, and its `error`
//!   field says how much was lost (restic ≥ 0.16 keeps the surviving chunks back to back
//!   instead; a file of shifted data that looks whole is worse than an empty file that says it
//!   lost its content). A file whose blobs are all there but whose size is wrong only gets its
//!   size corrected;
//! - a directory whose tree cannot be read, or which has no tree, becomes an empty directory
//!   (its `error` field says why);
//! - a snapshot whose root tree cannot be read has nothing left to save: it is reported, and
//!   removed with `forget`.

use std::collections::{HashMap, HashSet};

use cairn_format::{Id, Snapshot};
use cairn_storage::FileKind;

use super::index::{damage_reason, DamagedFile};
use super::tree_rewrite::{damage_list, Rewritten, TreeRewriter};
use crate::blob_writer::{BlobWriter, WriterOptions};
use crate::index::{load_index_files, Index};
use crate::snapshots::{find_snapshot, load_all_snapshots_lenient, SnapshotFilter};
use crate::{RepoError, Repository, Result};

/// The tag every repaired snapshot gets, as restic's.
pub const REPAIRED_TAG: &str = "repaired";

#[derive(Debug, Clone, Default)]
pub struct RepairSnapshotsOptions {
    /// Snapshots to look at (ids, unique id prefixes, `latest`); empty: every snapshot the
    /// filter matches.
    pub snapshots: Vec<String>,
    pub filter: SnapshotFilter,
    /// Remove each damaged snapshot once its repaired copy is written.
    pub forget: bool,
    /// Find and report the damage, write nothing.
    pub dry_run: bool,
}

/// What was wrong with one entry of a snapshot, and what the repair made of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DamageKind {
    /// Some of the file's data blobs are gone; the file is now empty.
    FileContentRemoved {
        blobs_missing: u64,
        blobs: u64,
        size_before: u64,
        size_after: u64,
    },
    /// Every data blob is there, but the recorded size did not match them.
    FileSizeFixed { size_before: u64, size_after: u64 },
    /// The directory's tree is missing or unreadable (or it had none): it is now empty.
    DirectoryEmptied { tree: Option<Id>, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    /// The entry's path from the snapshot root (`/a/b`; names that are not UTF-8 are shown
    /// lossily).
    pub path: String,
    #[serde(flatten)]
    pub kind: DamageKind,
}

/// One damaged snapshot and what became of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotRepair {
    pub snapshot: Id,
    /// The damaged snapshot itself, for messages.
    #[serde(skip)]
    pub details: Snapshot,
    pub damage: Vec<Damage>,
    /// Why the root tree cannot be read, when it cannot: nothing of the snapshot is left.
    pub root_unreadable: Option<String>,
    /// The repaired copy (none in a dry run, or when the root is unreadable).
    pub new_snapshot: Option<Id>,
    /// The repaired copy was already there, written by an earlier run that was interrupted.
    pub already_written: bool,
    /// The damaged snapshot was removed (or, in a dry run, would be).
    pub forgotten: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairSnapshotsSummary {
    pub snapshots_checked: u64,
    /// The damaged snapshots among them; the others were left alone.
    pub repaired: Vec<SnapshotRepair>,
    /// Snapshot files that cannot be read at all (nothing to repair them from).
    pub unreadable_snapshots: Vec<DamagedFile>,
    /// Packs the index lists that the storage lacks; their blobs count as missing
    /// (`repair index` removes them from the index).
    pub packs_missing_from_storage: u64,
    pub trees_written: u64,
    pub dry_run: bool,
}

/// Repairs the selected snapshots: under an exclusive lock, or a shared one for a dry run,
/// which writes nothing.
pub fn repair_snapshots(
    repo: &Repository,
    options: &RepairSnapshotsOptions,
) -> Result<RepairSnapshotsSummary> {
    let _lock = repo.lock(!options.dry_run)?;
    let mut summary = RepairSnapshotsSummary {
        dry_run: options.dry_run,
        ..RepairSnapshotsSummary::default()
    };

    // Snapshots before the index: a snapshot's trees are indexed before it is written.
    let mut snapshots: Vec<(Id, Snapshot)> = Vec::new();
    for (id, snapshot) in load_all_snapshots_lenient(repo)? {
        match snapshot {
            Ok(snapshot) => snapshots.push((id, snapshot)),
            Err(e) => summary.unreadable_snapshots.push(DamagedFile {
                id,
                reason: damage_reason(e),
            }),
        }
    }
    let selected: Vec<(Id, Snapshot)> = if options.snapshots.is_empty() {
        snapshots
            .iter()
            .filter(|(_, s)| options.filter.matches(s))
            .cloned()
            .collect()
    } else {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for text in &options.snapshots {
            let (id, snapshot) = find_snapshot(repo, text, &options.filter)?;
            if seen.insert(id) {
                out.push((id, snapshot));
            }
        }
        out
    };
    summary.snapshots_checked = selected.len() as u64;

    let (index, missing_packs) = load_usable_index(repo)?;
    summary.packs_missing_from_storage = missing_packs;

    // Copies written by an interrupted earlier run, by (damaged snapshot, repaired root).
    let earlier_copies: HashMap<(Id, Id), Id> = snapshots
        .iter()
        .filter(|(_, s)| s.has_tag(REPAIRED_TAG))
        .filter_map(|(id, s)| s.original.map(|original| ((original, s.tree), *id)))
        .collect();

    let writer_options = WriterOptions {
        dry_run: options.dry_run,
        ..WriterOptions::default()
    };
    let writer = BlobWriter::new(repo, &index, &writer_options);
    let mut rewriter = TreeRewriter::new(repo, &index, &writer);
    let mut planned: Vec<(SnapshotRepair, Option<Id>)> = Vec::new();
    for (id, snapshot) in selected {
        let repair = |damage, root_unreadable| SnapshotRepair {
            snapshot: id,
            details: snapshot.clone(),
            damage,
            root_unreadable,
            new_snapshot: None,
            already_written: false,
            forgotten: false,
        };
        match rewriter.rewrite(&snapshot.tree)? {
            Ok(Rewritten { new_id: None, .. }) => {}
            Ok(Rewritten {
                new_id: Some(root),
                damage,
            }) => planned.push((repair(damage_list(&damage), None), Some(root))),
            Err(reason) => planned.push((repair(Vec::new(), Some(reason)), None)),
        }
    }
    drop(rewriter);
    // Stores the last packs of new trees and the index naming them (nothing in a dry run).
    summary.trees_written = writer.finish()?.tree_blobs;

    if options.dry_run {
        for (mut repair, _) in planned {
            repair.forgotten = options.forget;
            summary.repaired.push(repair);
        }
        return Ok(summary);
    }

    // The new trees are in packs and indexed (the writer synced the packs before the index);
    // make the index durable before any snapshot names the trees.
    repo.storage().sync()?;
    for (repair, root) in &mut planned {
        let Some(root) = *root else { continue };
        if let Some(existing) = earlier_copies.get(&(repair.snapshot, root)) {
            repair.new_snapshot = Some(*existing);
            repair.already_written = true;
            continue;
        }
        let mut copy = repair.details.clone();
        copy.tree = root;
        // As restic: the damaged snapshot is the original of its repaired copy.
        copy.original = Some(repair.snapshot);
        if !copy.has_tag(REPAIRED_TAG) {
            copy.tags.push(REPAIRED_TAG.to_string());
        }
        repair.new_snapshot = Some(repo.save_unpacked(FileKind::Snapshot, &copy.to_json())?);
    }
    repo.storage().sync()?;

    if options.forget {
        for (repair, _) in &mut planned {
            match repo
                .storage()
                .remove(FileKind::Snapshot, &repair.snapshot.to_hex())
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            repair.forgotten = true;
        }
        repo.storage().sync()?;
    }
    summary.repaired = planned.into_iter().map(|(repair, _)| repair).collect();
    Ok(summary)
}

/// The index of every pack the storage holds; returns also how many indexed packs it lacks.
/// Refuses when an index file cannot be read.
fn load_usable_index(repo: &Repository) -> Result<(Index, u64)> {
    let stored: HashSet<Id> = repo
        .list_ids(FileKind::Pack)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut index = Index::new();
    let mut missing: HashSet<Id> = HashSet::new();
    for (id, file) in load_index_files(repo)? {
        let file = file.map_err(|e| {
            RepoError::InvalidInput(format!(
                "index {id} cannot be read ({e}); run `cairn repair index` first: until then, \
                 data only that index file lists would look missing and be cut out of snapshots"
            ))
        })?;
        for pack in &file.packs {
            if stored.contains(&pack.id) {
                index.add_pack(pack);
            } else {
                missing.insert(pack.id);
            }
        }
    }
    if !missing.is_empty() {
        tracing::warn!(
            "the index lists {} pack(s) the storage lacks; their blobs count as missing (`cairn repair index` drops them from the index)",
            missing.len()
        );
    }
    Ok((index, missing.len() as u64))
}

#[cfg(test)]
mod tests {
    use cairn_format::tree::{encode_tree, Node, NodeType};
    use cairn_format::BlobType;
    use cairn_storage::{MemoryStore, Storage};
    use chrono::DateTime;

    use super::*;
    use crate::blob_codec::{BlobEncoder, Compression};
    use crate::check::{check, CheckOptions};
    use crate::progress::{Operation, Progress};
    use crate::repair::test_support::{random_bytes, repo};
    use crate::repair::{repair_index, RepairIndexOptions};

    /// Stores blobs in one writing session (so in packs of their own, with their own index
    /// file); returns their ids.
    fn store_blobs(repo: &Repository, blob_type: BlobType, blobs: &[Vec<u8>]) -> Vec<Id> {
        let index = Index::load_strict(repo).unwrap();
        let writer = BlobWriter::new(repo, &index, &WriterOptions::default());
        let mut encoder = BlobEncoder::new(Compression::Auto, true);
        let ids: Vec<Id> = blobs
            .iter()
            .map(|bytes| {
                let id = Id::hash(bytes);
                writer.save(&mut encoder, blob_type, id, bytes).unwrap();
                id
            })
            .collect();
        writer.finish().unwrap();
        ids
    }

    fn file(name: &str, content: &[(Id, usize)]) -> Node {
        let mut node = Node::new(name.as_bytes().to_vec(), NodeType::File);
        node.mode = 0o644;
        node.content = Some(content.iter().map(|(id, _)| *id).collect());
        node.size = content.iter().map(|(_, len)| *len as u64).sum();
        node
    }

    fn dir(name: &str, subtree: Id) -> Node {
        let mut node = Node::new(name.as_bytes().to_vec(), NodeType::Dir);
        node.mode = cairn_format::tree::go_mode::DIR | 0o755;
        node.subtree = Some(subtree);
        node
    }

    fn tree(nodes: Vec<Node>) -> Vec<u8> {
        encode_tree(&nodes)
    }

    fn save_snapshot(repo: &Repository, root: Id, path: &str) -> Id {
        let snapshot = Snapshot {
            time: DateTime::parse_from_rfc3339("2026-11-22T10:00:00+01:00").unwrap(),
            parent: None,
            tree: root,
            paths: vec![path.to_string()],
            hostname: "host".into(),
            username: "user".into(),
            uid: 0,
            gid: 0,
            excludes: Vec::new(),
            tags: vec!["daily".into()],
            original: None,
            program_version: "cairn test".into(),
            unknown_fields: Default::default(),
        };
        repo.save_unpacked(FileKind::Snapshot, &snapshot.to_json())
            .unwrap()
    }

    fn pack_of(repo: &Repository, blob_type: BlobType, id: &Id) -> String {
        Index::load_strict(repo)
            .unwrap()
            .lookup(blob_type, id)
            .unwrap()
            .pack
            .to_hex()
    }

    fn snapshot_ids(store: &MemoryStore) -> Vec<Id> {
        let mut ids: Vec<Id> = store
            .list(FileKind::Snapshot)
            .unwrap()
            .into_iter()
            .map(|o| o.name.parse().unwrap())
            .collect();
        ids.sort();
        ids
    }

    fn nodes(repo: &Repository, tree: &Id) -> Vec<Node> {
        repo.load_tree(&Index::load_strict(repo).unwrap(), tree)
            .unwrap()
    }

    /// A repository holding:
    /// - snapshot `damaged` of `/` = { a/ = { x: [d1], y: [d2] }, b/ = { z: [d3] }, c/ = { w: [d2] },
    ///   f: [d1, d2, d1] }, with d1's pack and b's tree pack then deleted;
    /// - snapshot `healthy` of `/c` = { w: [d2] }.
    struct Damaged {
        store: std::sync::Arc<MemoryStore>,
        repo: Repository,
        damaged: Id,
        healthy: Id,
        tree_c: Id,
        tree_b: Id,
        d1: Id,
        d2: (Id, usize),
    }

    fn damaged_repository() -> Damaged {
        let (store, repo) = repo();
        let (b1, b2, b3) = (
            random_bytes(1, 20_000),
            random_bytes(2, 30_000),
            random_bytes(3, 40_000),
        );
        let d1 = (
            store_blobs(&repo, BlobType::Data, std::slice::from_ref(&b1))[0],
            b1.len(),
        );
        let d2 = (
            store_blobs(&repo, BlobType::Data, std::slice::from_ref(&b2))[0],
            b2.len(),
        );
        let d3 = (
            store_blobs(&repo, BlobType::Data, std::slice::from_ref(&b3))[0],
            b3.len(),
        );
        let tree_b = store_blobs(&repo, BlobType::Tree, &[tree(vec![file("z", &[d3])])])[0];
        let trees = [
            tree(vec![file("x", &[d1]), file("y", &[d2])]),
            tree(vec![file("w", &[d2])]),
        ];
        let [tree_a, tree_c] = store_blobs(&repo, BlobType::Tree, &trees)[..] else {
            unreachable!()
        };
        let root = tree(vec![
            dir("a", tree_a),
            dir("b", tree_b),
            dir("c", tree_c),
            file("f", &[d1, d2, d1]),
        ]);
        let root = store_blobs(&repo, BlobType::Tree, &[root])[0];
        let damaged = save_snapshot(&repo, root, "/");
        let healthy = save_snapshot(&repo, tree_c, "/c");
        assert!(check(
            &repo,
            &CheckOptions::default(),
            &Progress::new(Operation::Check)
        )
        .unwrap()
        .is_ok());

        store
            .remove(FileKind::Pack, &pack_of(&repo, BlobType::Data, &d1.0))
            .unwrap();
        store
            .remove(FileKind::Pack, &pack_of(&repo, BlobType::Tree, &tree_b))
            .unwrap();
        Damaged {
            store,
            repo,
            damaged,
            healthy,
            tree_c,
            tree_b,
            d1: d1.0,
            d2,
        }
    }

    fn expected_damage(setup: &Damaged) -> Vec<Damage> {
        let d2_len = setup.d2.1 as u64;
        vec![
            Damage {
                path: "/a/x".into(),
                kind: DamageKind::FileContentRemoved {
                    blobs_missing: 1,
                    blobs: 1,
                    size_before: 20_000,
                    size_after: 0,
                },
            },
            Damage {
                path: "/b".into(),
                kind: DamageKind::DirectoryEmptied {
                    tree: Some(setup.tree_b),
                    reason: format!("tree {} is not in the index", setup.tree_b),
                },
            },
            Damage {
                path: "/f".into(),
                kind: DamageKind::FileContentRemoved {
                    blobs_missing: 2,
                    blobs: 3,
                    size_before: 40_000 + d2_len,
                    size_after: 0,
                },
            },
        ]
    }

    #[test]
    fn damaged_files_and_lost_directories_become_empty_and_the_rest_is_kept() {
        let setup = damaged_repository();
        let repo = &setup.repo;
        repair_index(repo, &RepairIndexOptions::default()).unwrap();
        assert!(!check(
            repo,
            &CheckOptions::default(),
            &Progress::new(Operation::Check)
        )
        .unwrap()
        .is_ok());

        // A dry run finds the damage and writes nothing.
        let index_files = setup.store.list(FileKind::Index).unwrap().len();
        let packs = setup.store.list(FileKind::Pack).unwrap().len();
        let options = RepairSnapshotsOptions {
            dry_run: true,
            forget: true,
            ..RepairSnapshotsOptions::default()
        };
        let summary = repair_snapshots(repo, &options).unwrap();
        assert_eq!(summary.snapshots_checked, 2);
        assert_eq!(summary.repaired.len(), 1, "{summary:?}");
        assert_eq!(summary.repaired[0].snapshot, setup.damaged);
        assert_eq!(summary.repaired[0].damage, expected_damage(&setup));
        assert!(summary.repaired[0].new_snapshot.is_none());
        assert_eq!(snapshot_ids(&setup.store).len(), 2);
        assert_eq!(
            setup.store.list(FileKind::Index).unwrap().len(),
            index_files
        );
        assert_eq!(setup.store.list(FileKind::Pack).unwrap().len(), packs);

        let options = RepairSnapshotsOptions {
            forget: true,
            ..RepairSnapshotsOptions::default()
        };
        let summary = repair_snapshots(repo, &options).unwrap();
        assert_eq!(summary.repaired.len(), 1, "{summary:?}");
        let repair = &summary.repaired[0];
        assert_eq!(repair.damage, expected_damage(&setup));
        assert!(repair.forgotten);
        let new_id = repair.new_snapshot.unwrap();
        let mut expected_ids = vec![setup.healthy, new_id];
        expected_ids.sort();
        assert_eq!(snapshot_ids(&setup.store), expected_ids);
        assert!(check(
            repo,
            &CheckOptions::default(),
            &Progress::new(Operation::Check)
        )
        .unwrap()
        .is_ok());

        let new = crate::snapshots::load_snapshot(repo, &new_id).unwrap();
        assert_eq!(new.original, Some(setup.damaged));
        assert_eq!(
            new.tags,
            vec!["daily".to_string(), REPAIRED_TAG.to_string()]
        );
        assert_eq!(new.paths, vec!["/".to_string()]);
        assert_eq!(
            new.time,
            DateTime::parse_from_rfc3339("2026-11-22T10:00:00+01:00").unwrap()
        );
        let root = nodes(repo, &new.tree);
        let names: Vec<&[u8]> = root.iter().map(|n| n.name.as_slice()).collect();
        assert_eq!(names, [&b"a"[..], b"b", b"c", b"f"]);
        // c/ was whole: same tree.
        assert_eq!(root[2].subtree, Some(setup.tree_c));
        assert!(root[2].error.is_empty());
        // b/ is empty and says why.
        assert_eq!(nodes(repo, &root[1].subtree.unwrap()), Vec::new());
        assert!(root[1].error.contains("repaired"), "{:?}", root[1].error);
        // f lost two of its three chunks: it is empty and says so.
        assert_eq!(root[3].content, Some(Vec::new()));
        assert_eq!(root[3].size, 0);
        assert!(root[3].error.contains("2 of 3"), "{:?}", root[3].error);
        let a = nodes(repo, &root[0].subtree.unwrap());
        assert_eq!(a[0].content, Some(Vec::new()));
        assert_eq!(a[0].size, 0);
        assert!(a[0].error.contains("1 of 1"), "{:?}", a[0].error);
        assert_eq!(a[1].content, Some(vec![setup.d2.0]));
        assert!(a[1].error.is_empty());
        assert!(!a
            .iter()
            .chain(&root)
            .any(|n| n.content.iter().flatten().any(|b| *b == setup.d1)));

        // Nothing is left to repair.
        let summary = repair_snapshots(repo, &RepairSnapshotsOptions::default()).unwrap();
        assert!(summary.repaired.is_empty(), "{summary:?}");
        assert_eq!(summary.trees_written, 0);
    }

    #[test]
    fn a_rerun_after_an_interrupted_repair_reuses_the_copy_it_wrote() {
        let setup = damaged_repository();
        let repo = &setup.repo;
        repair_index(repo, &RepairIndexOptions::default()).unwrap();
        // Without --forget, as a run killed before the forget step leaves it.
        let first = repair_snapshots(repo, &RepairSnapshotsOptions::default()).unwrap();
        let copy = first.repaired[0].new_snapshot.unwrap();
        assert!(!first.repaired[0].forgotten);
        assert_eq!(snapshot_ids(&setup.store).len(), 3);

        let options = RepairSnapshotsOptions {
            forget: true,
            snapshots: vec![setup.damaged.to_hex()[..10].to_string()],
            ..RepairSnapshotsOptions::default()
        };
        let second = repair_snapshots(repo, &options).unwrap();
        assert_eq!(second.snapshots_checked, 1);
        assert_eq!(second.repaired[0].new_snapshot, Some(copy));
        assert!(second.repaired[0].already_written);
        let mut expected = vec![setup.healthy, copy];
        expected.sort();
        assert_eq!(snapshot_ids(&setup.store), expected);
        assert!(check(
            repo,
            &CheckOptions::default(),
            &Progress::new(Operation::Check)
        )
        .unwrap()
        .is_ok());
    }

    #[test]
    fn a_snapshot_whose_root_is_lost_is_reported_and_removed_only_with_forget() {
        let (store, repo) = repo();
        let data = random_bytes(9, 1000);
        let d = (
            store_blobs(&repo, BlobType::Data, std::slice::from_ref(&data))[0],
            data.len(),
        );
        let root = store_blobs(&repo, BlobType::Tree, &[tree(vec![file("only", &[d])])])[0];
        let snapshot = save_snapshot(&repo, root, "/");
        store
            .remove(FileKind::Pack, &pack_of(&repo, BlobType::Tree, &root))
            .unwrap();
        repair_index(&repo, &RepairIndexOptions::default()).unwrap();

        let summary = repair_snapshots(&repo, &RepairSnapshotsOptions::default()).unwrap();
        assert_eq!(summary.repaired.len(), 1);
        assert!(summary.repaired[0].root_unreadable.is_some());
        assert!(summary.repaired[0].new_snapshot.is_none());
        assert_eq!(snapshot_ids(&store), vec![snapshot]);

        let options = RepairSnapshotsOptions {
            forget: true,
            ..RepairSnapshotsOptions::default()
        };
        let summary = repair_snapshots(&repo, &options).unwrap();
        assert!(summary.repaired[0].forgotten);
        assert!(snapshot_ids(&store).is_empty());
        assert!(check(
            &repo,
            &CheckOptions::default(),
            &Progress::new(Operation::Check)
        )
        .unwrap()
        .is_ok());
    }

    #[test]
    fn an_unreadable_index_file_stops_the_repair_before_anything_looks_missing() {
        let setup = damaged_repository();
        let name = setup.store.list(FileKind::Index).unwrap()[0].name.clone();
        let mut bytes = setup.store.get(FileKind::Index, &name).unwrap();
        bytes[40] ^= 1;
        setup.store.put(FileKind::Index, &name, &bytes).unwrap();
        let error = repair_snapshots(&setup.repo, &RepairSnapshotsOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&name) && error.contains("repair index"),
            "{error}"
        );
        assert_eq!(snapshot_ids(&setup.store).len(), 2);
    }
}

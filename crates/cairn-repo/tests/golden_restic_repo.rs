//! A repository written by restic 0.14 (`tests/data/restic-0.14-repo`, see its README), read by
//! cairn without restic: opening with restic's key, the snapshot list, the index, every tree
//! (which must also re-encode to restic's exact bytes), a full restore compared file by file
//! with what restic restored, and `check --read-data`. A flipped byte in one pack must be
//! reported against that pack.
//!
//! These tests guard the format where no `restic` binary is installed; the restic oracle tests
//! cover the other direction (restic reading what cairn writes).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_format::tree::{encode_tree, NodeType};
use cairn_format::{BlobType, Id};
use cairn_repo::check::{check, CheckOptions, CheckReport, ReadData};
use cairn_repo::index::Index;
use cairn_repo::progress::{Operation, Progress};
use cairn_repo::restore::{restore, NoRestoreObserver, RestoreOptions};
use cairn_repo::snapshots::load_all_snapshots;
use cairn_repo::tree_io::walk_tree;
use cairn_repo::Repository;
use cairn_storage::LocalStore;
use serde::Deserialize;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/restic-0.14-repo");

#[derive(Deserialize)]
struct Manifest {
    password: String,
    snapshots: Vec<ExpectedSnapshot>,
}

#[derive(Deserialize)]
struct ExpectedSnapshot {
    id: Id,
    tree: Id,
    parent: Option<Id>,
    time: String,
    hostname: String,
    paths: Vec<String>,
    files: BTreeMap<String, ExpectedFile>,
    symlinks: BTreeMap<String, String>,
    dirs: BTreeSet<String>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct ExpectedFile {
    sha256: String,
    size: u64,
    /// Permission bits in octal, e.g. "0644".
    mode: String,
    /// Unix seconds.
    mtime: i64,
}

/// What a directory on disk, or a snapshot's trees, holds: the same shape as the manifest.
#[derive(Debug, Default, PartialEq)]
struct Listing {
    files: BTreeMap<String, ExpectedFile>,
    symlinks: BTreeMap<String, String>,
    dirs: BTreeSet<String>,
}

impl ExpectedSnapshot {
    fn listing(&self) -> Listing {
        Listing {
            files: self
                .files
                .iter()
                .map(|(path, file)| {
                    (
                        path.clone(),
                        ExpectedFile {
                            sha256: file.sha256.clone(),
                            size: file.size,
                            mode: file.mode.clone(),
                            mtime: file.mtime,
                        },
                    )
                })
                .collect(),
            symlinks: self.symlinks.clone(),
            dirs: self.dirs.clone(),
        }
    }
}

fn manifest() -> Manifest {
    let text = std::fs::read(Path::new(FIXTURE).join("expected.json")).expect("read manifest");
    serde_json::from_slice(&text).expect("parse manifest")
}

/// A private copy of the fixture repository, so that locks written by check and the bytes the
/// damage test flips never touch the committed files.
struct Copy {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn copy_fixture() -> Copy {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
                // restic writes its files read-only; the damage test must be able to write.
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    copy_dir(&Path::new(FIXTURE).join("repo"), &root);
    Copy { _dir: dir, root }
}

fn open(copy: &Copy, password: &str) -> Repository {
    Repository::open(
        Arc::new(LocalStore::new(copy.root.clone())),
        password.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("open the restic repository: {e}"))
}

fn check_all(repo: &Repository) -> CheckReport {
    check(
        repo,
        &CheckOptions {
            read_data: ReadData::All,
            threads: 2,
        },
        &Progress::new(Operation::Check),
    )
    .expect("check runs")
}

/// Every regular file, symlink and directory below `root`, named `/a/b`.
fn list_disk(root: &Path) -> Listing {
    fn visit(root: &Path, dir: &Path, out: &mut Listing) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap();
            let name = format!(
                "/{}",
                std::str::from_utf8(relative.as_os_str().as_bytes()).expect("UTF-8 names")
            );
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.symlinks
                    .insert(name, target.to_str().unwrap().to_string());
            } else if meta.is_dir() {
                out.dirs.insert(name);
                visit(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.files.insert(
                    name,
                    ExpectedFile {
                        sha256: Id::hash(&bytes).to_hex(),
                        size: bytes.len() as u64,
                        mode: format!("{:04o}", meta.mode() & 0o7777),
                        mtime: meta.mtime(),
                    },
                );
            }
        }
    }
    let mut out = Listing::default();
    visit(root, root, &mut out);
    out
}

#[test]
fn cairn_reads_restores_and_checks_a_restic_repository() {
    let manifest = manifest();
    let copy = copy_fixture();
    let repo = open(&copy, &manifest.password);
    assert_eq!(repo.config().version, 2);

    // Snapshots, oldest first, exactly as restic listed them.
    let snapshots = load_all_snapshots(&repo).unwrap();
    let ids: Vec<Id> = snapshots.iter().map(|(id, _)| *id).collect();
    let expected_ids: Vec<Id> = manifest.snapshots.iter().map(|s| s.id).collect();
    assert_eq!(ids, expected_ids, "snapshot ids, oldest first");
    for ((_, snapshot), expected) in snapshots.iter().zip(&manifest.snapshots) {
        assert_eq!(snapshot.tree, expected.tree, "tree of {}", expected.id);
        assert_eq!(
            snapshot.parent, expected.parent,
            "parent of {}",
            expected.id
        );
        assert_eq!(snapshot.paths, expected.paths, "paths of {}", expected.id);
        assert_eq!(snapshot.hostname, expected.hostname);
        let time = chrono::DateTime::parse_from_rfc3339(&expected.time).unwrap();
        assert_eq!(snapshot.time, time, "time of {}", expected.id);
    }
    assert_eq!(
        snapshots[1].1.parent,
        Some(snapshots[0].0),
        "the second backup names the first as its parent"
    );

    let index = Index::load_strict(&repo).expect("every index file of restic's reads");
    assert_eq!(index.packs().len(), 4, "two data and two tree packs");

    for (expected, (_, snapshot)) in manifest.snapshots.iter().zip(&snapshots) {
        // The trees, walked: every path, with the sizes and link targets restic recorded.
        let mut walked = Listing::default();
        walk_tree(&repo, &index, &snapshot.tree, &mut |path, node| {
            let path = String::from_utf8(path.to_vec()).expect("UTF-8 names");
            match node.node_type {
                NodeType::File => {
                    let file = &expected.files[&path];
                    assert_eq!(node.size, file.size, "size of {path}");
                    assert_eq!(
                        node.content.as_ref().map(|c| c.is_empty()),
                        Some(file.size == 0),
                        "content list of {path}"
                    );
                    walked.files.insert(
                        path,
                        ExpectedFile {
                            sha256: file.sha256.clone(),
                            size: node.size,
                            mode: format!(
                                "{:04o}",
                                cairn_format::tree::go_mode::to_unix_permissions(node.mode)
                            ),
                            mtime: node.mtime.unix_secs,
                        },
                    );
                }
                NodeType::Symlink => {
                    walked.symlinks.insert(
                        path,
                        String::from_utf8(node.link_target.clone()).expect("UTF-8 target"),
                    );
                }
                NodeType::Dir => {
                    assert!(node.subtree.is_some(), "directory {path} has a subtree");
                    walked.dirs.insert(path);
                }
                ref other => panic!("unexpected node type {other:?} at {path}"),
            }
            Ok(true)
        })
        .unwrap();
        assert_eq!(
            walked,
            expected.listing(),
            "trees of snapshot {}",
            expected.id
        );

        // Restored, every file has restic's bytes, mode and mtime; every link its target.
        let target = tempfile::tempdir().unwrap();
        let summary = restore(
            &repo,
            &index,
            &snapshot.tree,
            target.path(),
            &RestoreOptions {
                verify: true,
                threads: 2,
                ..RestoreOptions::default()
            },
            &NoRestoreObserver,
        )
        .unwrap();
        assert!(summary.errors.is_empty(), "{:?}", summary.errors);
        assert_eq!(summary.files_restored, expected.files.len() as u64);
        assert_eq!(summary.files_verified, expected.files.len() as u64);
        assert_eq!(
            list_disk(target.path()),
            expected.listing(),
            "restore of snapshot {}",
            expected.id
        );
    }

    // Every tree blob re-encodes to the bytes restic wrote: tree ids stay the same when cairn
    // rewrites a tree restic made.
    let mut trees = 0;
    for (id, location) in index.blobs() {
        if location.blob_type != BlobType::Tree {
            continue;
        }
        let bytes = repo.read_blob(&location, &id).unwrap();
        let nodes = cairn_format::tree::decode_tree(&bytes).unwrap();
        assert_eq!(
            encode_tree(&nodes),
            bytes,
            "tree {id} re-encodes byte for byte"
        );
        trees += 1;
    }
    assert!(trees >= 6, "both snapshots' trees were compared ({trees})");

    let report = check_all(&repo);
    assert!(report.is_ok(), "check problems: {:#?}", report.problems);
    assert_eq!(report.snapshots, 2);
    assert_eq!(report.packs, 4);
    assert_eq!(report.packs_read, 4);
    assert_eq!(report.blobs_read, index.blob_count() as u64);
    assert!(report.hints.is_empty(), "hints: {:?}", report.hints);
}

#[test]
fn a_flipped_byte_in_a_restic_pack_is_reported_against_that_pack() {
    let manifest = manifest();
    let copy = copy_fixture();
    let repo = open(&copy, &manifest.password);
    let index = Index::load_strict(&repo).unwrap();

    // The largest data blob is a chunk of data/big.txt; damage the middle of it.
    let (blob, location) = index
        .blobs()
        .filter(|(_, location)| location.blob_type == BlobType::Data)
        .max_by_key(|(_, location)| location.length)
        .unwrap();
    let pack = location.pack;
    let pack_path = copy
        .root
        .join("data")
        .join(&pack.to_hex()[..2])
        .join(pack.to_hex());
    let mut bytes = std::fs::read(&pack_path).unwrap();
    let at = location.offset as usize + location.length as usize / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&pack_path, &bytes).unwrap();

    let report = check_all(&repo);
    assert!(!report.is_ok(), "a flipped byte must be found");
    let object = format!("pack {pack}");
    for problem in &report.problems {
        assert_eq!(
            problem.object, object,
            "only the damaged pack is blamed: {problem:?}"
        );
    }
    let messages: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("SHA-256")),
        "the pack no longer matches its name: {messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains(&blob.to_hex())),
        "the damaged blob {blob} is named: {messages:?}"
    );
    // The damage is traced to the file that uses the blob, in both snapshots.
    for (snapshot, _) in load_all_snapshots(&repo).unwrap() {
        let path = format!("snapshot {} /data/big.txt", snapshot.short());
        assert!(
            report.problems.iter().any(|p| p.affected.contains(&path)),
            "{path} is listed as affected: {:#?}",
            report.problems
        );
    }
}

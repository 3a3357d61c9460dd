//! Repositories of the restic format that cairn did not write (issue 15): every object in its
//! minimal and its extended form, hand-written and sealed ([`fixtures`]), through every command
//! that reads or rewrites it ([`rewrites`]); and a repository written by another
//! implementation of the format, rustic, built from crates.io ([`rustic`]).

mod fixtures;
mod rewrites;
mod rustic;

use std::path::Path;

use cairn_format::{BlobType, Id, Snapshot};
use cairn_repo::index::Index;
use cairn_storage::FileKind;
use serde_json::Value;

use crate::support::inspect::{object_names, open};

/// The ids in `dir` (`snapshots`, `index`, `keys`, `locks`) of a repository.
fn ids(repo: &Path, dir: &str) -> Vec<Id> {
    object_names(repo, dir)
        .iter()
        .map(|name| name.parse().expect("object id"))
        .collect()
}

/// Every snapshot, decrypted and decoded.
fn snapshots(repo: &Path) -> Vec<(Id, Snapshot)> {
    let opened = open(repo);
    ids(repo, "snapshots")
        .into_iter()
        .map(|id| {
            let json = opened
                .load_unpacked(FileKind::Snapshot, &id)
                .expect("decrypt snapshot");
            (id, Snapshot::from_json(&json).expect("snapshot JSON"))
        })
        .collect()
}

/// The only snapshot of a repository.
fn only_snapshot(repo: &Path) -> (Id, Snapshot) {
    let mut all = snapshots(repo);
    assert_eq!(all.len(), 1, "one snapshot in {}", repo.display());
    all.pop().unwrap()
}

/// The decrypted JSON of every object in `dir` (`snapshots`, `index`), parsed without
/// cairn-format, so that what these tests see does not depend on the decoder under test.
fn json_objects(repo: &Path, dir: &str) -> Vec<(Id, Value)> {
    let opened = open(repo);
    let kind = match dir {
        "snapshots" => FileKind::Snapshot,
        "index" => FileKind::Index,
        other => panic!("no unpacked files in {other}"),
    };
    ids(repo, dir)
        .into_iter()
        .map(|id| {
            let json = opened.load_unpacked(kind, &id).expect("decrypt");
            (id, serde_json::from_slice(&json).expect("JSON"))
        })
        .collect()
}

/// Asserts that every field of `written` but those in `changed` is in `rewritten`, unchanged.
fn assert_fields_kept(written: &Value, rewritten: &Value, changed: &[&str]) {
    for (key, value) in written.as_object().expect("an object") {
        if !changed.contains(&key.as_str()) {
            assert_eq!(
                rewritten.get(key),
                Some(value),
                "field {key:?} of {written} lost or changed in {rewritten}"
            );
        }
    }
}

/// A tree blob's plaintext, found through the index.
fn tree_bytes(repo: &Path, tree: &Id) -> Vec<u8> {
    let opened = open(repo);
    let index = Index::load_strict(&opened).expect("index");
    opened
        .read_indexed_blob(&index, BlobType::Tree, tree)
        .expect("tree blob")
}

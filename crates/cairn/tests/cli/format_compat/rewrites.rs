//! The hand-written repository, minimal and extended, through open, list, check, restore, key
//! add, unlock, tag, copy, repair index, repair snapshots and prune. After each rewrite the
//! objects are decrypted: the fields cairn does not know are still there, and restic 0.14
//! still checks the repository.

use std::fs;
use std::path::Path;

use cairn_format::tree::{decode_tree, NodeType};
use cairn_format::Id;
use serde_json::{json, Value};

use super::fixtures::{self, Fixture, Form, KEPT, LINK_TARGET, LOST};
use super::{ids, index_files, only_snapshot, tree_bytes, tree_nodes};
use crate::support::inspect::pack_path;
use crate::support::{run_ok, snapshots_json, stdout, Scratch};

fn restic_checks(scratch: &Scratch, repo: &Path) {
    run_ok(scratch.restic(repo).args(["check", "--read-data"]));
}

fn restores(scratch: &Scratch, repo: &Path, target: &str, with_lost: bool) {
    let target = scratch.path(target);
    run_ok(
        scratch
            .cairn(repo)
            .args(["restore", "latest", "--target"])
            .arg(&target),
    );
    assert_eq!(fs::read(target.join("d/kept.txt")).unwrap(), KEPT);
    assert_eq!(
        fs::read_link(target.join("d/link")).unwrap(),
        Path::new(LINK_TARGET)
    );
    let lost = fs::read(target.join("d/lost.txt")).unwrap();
    assert_eq!(lost, if with_lost { LOST } else { b"" });
}

#[test]
fn minimal_objects_are_read_and_rewritten() {
    exercise(Form::Minimal);
}

#[test]
fn extended_objects_keep_every_unknown_field_through_every_rewrite() {
    exercise(Form::Extended);
}

fn exercise(form: Form) {
    let scratch = Scratch::new();
    let fixture = fixtures::build(&scratch, "repo", form);
    let repo = fixture.repo.as_path();
    // The fixture is a repository restic 0.14 accepts (which refuses to lock it until the
    // stale lock is removed, as restic 0.14 takes no lock over a stale one).
    run_ok(
        scratch
            .restic(repo)
            .args(["check", "--read-data", "--no-lock"]),
    );

    lists(&scratch, &fixture);
    run_ok(scratch.cairn(repo).args(["check", "--read-data"]));
    restores(&scratch, repo, "restored", true);

    // The stale lock is decoded (an undecodable one is skipped, not removed).
    run_ok(scratch.cairn(repo).arg("unlock"));
    assert!(ids(repo, "locks").is_empty(), "stale lock {}", fixture.lock);

    let new_password = scratch.path("new-password");
    fs::write(&new_password, "another password\n").unwrap();
    run_ok(
        scratch
            .cairn(repo)
            .args(["key", "add", "--new-password-file"])
            .arg(&new_password),
    );
    assert_eq!(ids(repo, "keys").len(), 2);

    let tagged = tags(&scratch, &fixture);
    copies(&scratch, &fixture);
    repairs(&scratch, &fixture, tagged);
    prunes(&scratch, &fixture);
}

/// `snapshots` (JSON and table), `key list` and `ls` show what the objects hold.
fn lists(scratch: &Scratch, fixture: &Fixture) {
    let repo = fixture.repo.as_path();
    let listed = snapshots_json(&mut scratch.cairn(repo));
    assert_eq!(listed.len(), 1);
    let table = stdout(&run_ok(scratch.cairn(repo).arg("snapshots")));
    let keys: Vec<Value> =
        serde_json::from_slice(&run_ok(scratch.cairn(repo).args(["key", "list", "--json"])).stdout)
            .unwrap();
    let key_table = stdout(&run_ok(scratch.cairn(repo).args(["key", "list"])));
    match fixture.form {
        Form::Extended => {
            assert_eq!(listed[0]["program_version"], "restic 0.17.3");
            let summary: Value =
                serde_json::from_str(fixture.snapshot_json.unknown_fields.get("summary").unwrap())
                    .unwrap();
            assert_eq!(listed[0]["summary"], summary, "summary passed through");
            assert_eq!(listed[0]["x_future"], json!({"note": "kept"}));
            assert!(table.contains("restic 0.17.3"), "{table}");
            assert_eq!(keys[0]["created"], "2024-05-01T10:00:00.123456789+02:00");
            assert!(key_table.contains("2024-05-01"), "{key_table}");
        }
        Form::Minimal => {
            assert!(listed[0].get("program_version").is_none());
            assert!(listed[0].get("summary").is_none());
            assert_eq!(keys[0]["created"], Value::Null);
            assert_eq!(keys[0]["problem"], Value::Null);
            let line = key_table.lines().nth(1).expect("one key listed");
            assert!(
                line.starts_with('*') && !line.contains("damaged"),
                "{key_table}"
            );
        }
    }
    let listing = stdout(&run_ok(scratch.cairn(repo).args(["ls", "latest"])));
    for path in ["/d/kept.txt", "/d/link", "/d/lost.txt"] {
        assert!(listing.contains(path), "{path} in {listing}");
    }
}

/// `tag` writes a new snapshot with every field kept; returns its id.
fn tags(scratch: &Scratch, fixture: &Fixture) -> Id {
    let repo = fixture.repo.as_path();
    run_ok(scratch.cairn(repo).args(["tag", "--add", "retagged"]));
    let (id, tagged) = only_snapshot(repo);
    assert_ne!(id, fixture.snapshot);
    assert!(tagged.has_tag("retagged"));
    let written = &fixture.snapshot_json;
    assert_eq!(tagged.unknown_fields, written.unknown_fields);
    // The trees are not re-encoded: their nodes' unknown fields are untouched.
    assert_eq!(tagged.tree, written.tree);
    assert_eq!(
        (&tagged.program_version, &tagged.paths, tagged.uid),
        (&written.program_version, &written.paths, written.uid)
    );
    restic_checks(scratch, repo);
    id
}

/// `copy` carries the snapshot's unknown fields and the trees' bytes (with their nodes'
/// unknown fields) to another repository.
fn copies(scratch: &Scratch, fixture: &Fixture) {
    let destination = scratch.init_repo("copy");
    run_ok(
        scratch
            .cairn(&destination)
            .args(["copy", "--from-repo"])
            .arg(&fixture.repo)
            .arg("--from-password-file")
            .arg(&scratch.password_file),
    );
    let (_, copied) = only_snapshot(&destination);
    assert_eq!(copied.unknown_fields, fixture.snapshot_json.unknown_fields);
    assert_eq!(
        tree_bytes(&destination, &fixture.tree_d),
        fixture.tree_d_bytes
    );
    restic_checks(scratch, &destination);
    restores(scratch, &destination, "restored-copy", true);
}

/// With the pack of `lost.txt` gone: `repair index` keeps the entries of the other packs as
/// written, `repair snapshots` re-encodes the trees and the snapshot around the loss.
fn repairs(scratch: &Scratch, fixture: &Fixture, tagged: Id) {
    let repo = fixture.repo.as_path();
    fs::remove_file(pack_path(repo, &fixture.pack_of_lost.to_hex())).unwrap();
    run_ok(scratch.cairn(repo).args(["repair", "index"]));
    let index = index_files(repo);
    assert_eq!(index.len(), 1, "one new index file");
    assert_eq!(index[0].packs.len(), 2);
    for pack in &index[0].packs {
        let written = fixture
            .index_json
            .packs
            .iter()
            .find(|written| written.id == pack.id)
            .expect("a pack of the fixture");
        assert_eq!(pack, written, "entry kept as written, unknown fields too");
    }

    run_ok(
        scratch
            .cairn(repo)
            .args(["repair", "snapshots", "--forget"]),
    );
    let (_, repaired) = only_snapshot(repo);
    assert_eq!(repaired.original, Some(tagged));
    assert!(repaired.has_tag("repaired"));
    assert_eq!(
        repaired.unknown_fields,
        fixture.snapshot_json.unknown_fields
    );

    let root = tree_nodes(repo, &repaired.tree);
    let written_root = decode_tree(&fixture.tree_r_bytes).unwrap();
    assert_eq!(root.len(), 1);
    assert_eq!(
        root[0].unknown_fields, written_root[0].unknown_fields,
        "the directory node keeps its fields"
    );
    let subtree = root[0].subtree.expect("d has a tree");
    assert_ne!(subtree, fixture.tree_d, "d was rewritten");
    let rewritten = String::from_utf8(tree_bytes(repo, &subtree)).unwrap();
    let nodes = tree_nodes(repo, &subtree);
    let written = decode_tree(&fixture.tree_d_bytes).unwrap();
    if fixture.form == Form::Extended {
        // Untouched nodes come back byte for byte: unknown fields at their place.
        assert!(rewritten.contains(&fixture.kept_node), "{rewritten}");
        assert!(rewritten.contains(&fixture.link_node), "{rewritten}");
        assert!(!rewritten.contains(&fixture.lost_node), "{rewritten}");
        assert_eq!(nodes[2].unknown_fields.len(), 2);
    }
    assert_eq!(nodes.len(), 3);
    for (node, before) in nodes.iter().zip(&written) {
        assert_eq!(node.name, before.name);
        assert_eq!(node.unknown_fields, before.unknown_fields);
    }
    assert_eq!(nodes[2].node_type, NodeType::File);
    assert_eq!(nodes[2].content, Some(Vec::new()));
    assert!(nodes[2].error.contains("repaired"), "{:?}", nodes[2].error);
    restic_checks(scratch, repo);
    restores(scratch, repo, "restored-repaired", false);
}

/// `prune` replaces the index: the kept pack's entry keeps its fields.
fn prunes(scratch: &Scratch, fixture: &Fixture) {
    let repo = fixture.repo.as_path();
    run_ok(scratch.cairn(repo).arg("prune"));
    let kept_pack = &fixture.index_json.packs[0];
    let listed: Vec<_> = index_files(repo)
        .into_iter()
        .flat_map(|file| file.packs)
        .filter(|pack| pack.id == kept_pack.id)
        .collect();
    assert_eq!(
        listed,
        vec![kept_pack.clone()],
        "the data pack's entry as written"
    );
    restic_checks(scratch, repo);
    run_ok(scratch.cairn(repo).args(["check", "--read-data"]));
    restores(scratch, repo, "restored-pruned", false);
}

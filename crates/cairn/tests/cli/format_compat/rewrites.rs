//! The hand-written repository, minimal and extended, through open, list, check, restore, key
//! add, unlock, tag, copy, repair index, repair snapshots and prune. After each rewrite the
//! objects are decrypted: the fields cairn does not know are still there, and restic 0.14
//! still checks the repository.

use std::fs;
use std::path::Path;

use cairn_format::Id;
use serde_json::{json, Value};

use super::fixtures::{self, Fixture, Form, KEPT, LINK_TARGET, LOST};
use super::{assert_fields_kept, ids, json_objects, only_snapshot, tree_bytes};
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
            let summary = &fixture.snapshot_value["summary"];
            assert!(summary.is_object());
            assert_eq!(&listed[0]["summary"], summary, "summary passed through");
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

/// The decrypted JSON of the only snapshot.
fn only_snapshot_value(repo: &Path) -> Value {
    let mut all = json_objects(repo, "snapshots");
    assert_eq!(all.len(), 1, "one snapshot in {}", repo.display());
    all.pop().unwrap().1
}

/// The decrypted JSON of every pack entry of every index file.
fn pack_entries(repo: &Path) -> Vec<Value> {
    json_objects(repo, "index")
        .into_iter()
        .flat_map(|(_, file)| file["packs"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn tree_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("tree JSON")
}

/// `tag` writes a new snapshot with every field kept; returns its id.
fn tags(scratch: &Scratch, fixture: &Fixture) -> Id {
    let repo = fixture.repo.as_path();
    run_ok(scratch.cairn(repo).args(["tag", "--add", "retagged"]));
    let (id, tagged) = only_snapshot(repo);
    assert_ne!(id, fixture.snapshot);
    assert!(tagged.has_tag("retagged"));
    assert_fields_kept(
        &fixture.snapshot_value,
        &only_snapshot_value(repo),
        &["tags", "original"],
    );
    // The trees are not re-encoded: their nodes' unknown fields are untouched.
    assert_eq!(tagged.tree, fixture.snapshot_json.tree);
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
    // The copy has no parent (it names a snapshot of the source) and its own `original`.
    assert_fields_kept(
        &fixture.snapshot_value,
        &only_snapshot_value(&destination),
        &["tags", "parent", "original"],
    );
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
    assert_eq!(ids(repo, "index").len(), 1, "one new index file");
    let entries = pack_entries(repo);
    assert_eq!(entries.len(), 2);
    for entry in &entries {
        let id: Id = entry["id"].as_str().unwrap().parse().unwrap();
        assert_ne!(id, fixture.pack_of_lost);
        assert_eq!(entry, fixture.pack_value(&id), "entry kept as written");
    }

    run_ok(
        scratch
            .cairn(repo)
            .args(["repair", "snapshots", "--forget"]),
    );
    let (_, repaired) = only_snapshot(repo);
    assert_eq!(repaired.original, Some(tagged));
    assert!(repaired.has_tag("repaired"));
    assert_fields_kept(
        &fixture.snapshot_value,
        &only_snapshot_value(repo),
        &["tree", "tags", "original"],
    );

    // The root tree: `d` keeps every field but its new subtree.
    let root = tree_value(&tree_bytes(repo, &repaired.tree));
    let written_root = tree_value(&fixture.tree_r_bytes);
    assert_fields_kept(&written_root["nodes"][0], &root["nodes"][0], &["subtree"]);
    let subtree: Id = root["nodes"][0]["subtree"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(subtree, fixture.tree_d, "d was rewritten");

    // Tree `d`: untouched nodes keep every field; `lost.txt` all but its content.
    let rewritten_bytes = tree_bytes(repo, &subtree);
    let rewritten = tree_value(&rewritten_bytes);
    let written = tree_value(&fixture.tree_d_bytes);
    assert_eq!(rewritten["nodes"].as_array().unwrap().len(), 3);
    assert_fields_kept(&written["nodes"][0], &rewritten["nodes"][0], &[]);
    assert_fields_kept(&written["nodes"][1], &rewritten["nodes"][1], &[]);
    assert_fields_kept(
        &written["nodes"][2],
        &rewritten["nodes"][2],
        &["size", "content", "error"],
    );
    let lost = &rewritten["nodes"][2];
    assert_eq!(lost["content"], json!([]));
    assert!(
        lost["error"].as_str().unwrap().contains("repaired"),
        "{lost}"
    );
    if fixture.form == Form::Extended {
        // Untouched nodes come back byte for byte: unknown fields at their place.
        let text = String::from_utf8(rewritten_bytes).unwrap();
        assert!(text.contains(&fixture.kept_node), "{text}");
        assert!(text.contains(&fixture.link_node), "{text}");
    }
    restic_checks(scratch, repo);
    restores(scratch, repo, "restored-repaired", false);
}

/// `prune` replaces the index: the kept pack's entry keeps its fields.
fn prunes(scratch: &Scratch, fixture: &Fixture) {
    let repo = fixture.repo.as_path();
    run_ok(scratch.cairn(repo).arg("prune"));
    let kept_pack = fixture.index_json.packs[0].id;
    let listed: Vec<Value> = pack_entries(repo)
        .into_iter()
        .filter(|entry| entry["id"] == kept_pack.to_hex())
        .collect();
    assert_eq!(
        listed,
        vec![fixture.pack_value(&kept_pack).clone()],
        "the data pack's entry as written"
    );
    restic_checks(scratch, repo);
    run_ok(scratch.cairn(repo).args(["check", "--read-data"]));
    restores(scratch, repo, "restored-pruned", false);
}

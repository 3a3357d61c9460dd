//! Flipped bytes in packs, index files, snapshots and keys; a truncated pack.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use cairn_format::{BlobType, Id};

use super::{
    assert_same_tree, build_tree, expect_failure, restore_and_compare, run_ok_in, short,
    single_new, MIB,
};
use crate::support::damage::{copy_dir, flip_byte, flip_middle_byte, truncate_tail};
use crate::support::inspect::{self, object_names, pack_path};
use crate::support::rng::Rng;
use crate::support::{restored, run_ok, snapshots_json, stderr, Scratch};

/// A repository with snapshot A (its own index file and data packs) and snapshot B (ditto),
/// of two disjoint trees.
struct TwoSnapshots {
    repo: PathBuf,
    a_source: PathBuf,
    b_source: PathBuf,
    snapshot_a: String,
    snapshot_b: String,
    index_a: String,
    /// The largest data pack of A's backup; B uses none of its blobs.
    pack_a: String,
    /// Files of A (as `check` prints their paths) whose content uses `pack_a`.
    pack_a_users: BTreeSet<String>,
}

fn two_snapshots(scratch: &Scratch) -> TwoSnapshots {
    let repo = scratch.init_repo("repo");
    let mut rng = Rng::new(0xf11b_0001);
    let a_source = scratch.path("a");
    let b_source = scratch.path("b");
    build_tree(&a_source, &mut rng, 6, 3 * MIB, 40);
    build_tree(&b_source, &mut rng, 4, 3 * MIB, 40);

    let backup = |source: &Path| {
        let (index_before, snapshots_before) = (
            object_names(&repo, "index"),
            object_names(&repo, "snapshots"),
        );
        run_ok(
            scratch
                .cairn(&repo)
                .args(["-q", "backup", "--pack-size", "4"])
                .arg(source),
        );
        (
            single_new(&index_before, &object_names(&repo, "index"), "index file"),
            single_new(
                &snapshots_before,
                &object_names(&repo, "snapshots"),
                "snapshot",
            ),
        )
    };
    let (index_a, snapshot_a) = backup(&a_source);
    let (index_b, snapshot_b) = backup(&b_source);

    let handle = inspect::open(&repo);
    let index_a_id: Id = index_a.parse().unwrap();
    let packs_a = inspect::packs_of_index(&handle, &index_a_id, BlobType::Data);
    let packs_b = inspect::packs_of_index(&handle, &index_b.parse().unwrap(), BlobType::Data);
    assert!(
        packs_a.len() >= 3,
        "A's data should span several 4 MiB packs: {packs_a:?}"
    );
    let pack = packs_a[0];
    assert!(!packs_b.contains(&pack));
    let pack_a_users = inspect::files_using_pack(&handle, &snapshot_a.parse().unwrap(), &pack);
    assert!(!pack_a_users.is_empty(), "no file of A uses pack {pack}");
    assert!(
        inspect::files_using_pack(&handle, &snapshot_b.parse().unwrap(), &pack).is_empty(),
        "B must not use A's pack {pack}"
    );
    TwoSnapshots {
        repo,
        a_source,
        b_source,
        snapshot_a,
        snapshot_b,
        index_a,
        pack_a: pack.to_hex(),
        pack_a_users,
    }
}

impl TwoSnapshots {
    /// A copy of the repository for one fault case.
    fn copy(&self, scratch: &Scratch, name: &str) -> PathBuf {
        let copy = scratch.path(name);
        copy_dir(&self.repo, &copy);
        copy
    }

    /// Snapshot B restores exactly, whatever happened to A's objects.
    fn assert_b_restores(&self, context: &str, scratch: &Scratch, repo: &Path) {
        restore_and_compare(
            context,
            scratch,
            repo,
            &self.snapshot_b,
            &self.b_source,
            &self.b_source,
            &scratch.path("restore-b"),
        );
    }
}

#[test]
fn a_flipped_byte_in_a_data_pack_is_named_with_the_snapshot_and_files_it_damages() {
    let scratch = Scratch::new();
    let setup = two_snapshots(&scratch);
    let repo = setup.copy(&scratch, "flipped-pack");
    let context = format!("pack {} with a flipped byte", setup.pack_a);
    flip_middle_byte(&pack_path(&repo, &setup.pack_a));

    let err = expect_failure(
        &context,
        scratch.cairn(&repo).args(["check", "--read-data"]),
    );
    assert!(
        err.contains(&format!("pack {}", setup.pack_a)),
        "{context}: check does not name the pack:\n{err}"
    );
    let used_by: Vec<&str> = err
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("used by "))
        .collect();
    assert!(
        !used_by.is_empty(),
        "{context}: check names no snapshot or file that uses the pack:\n{err}"
    );
    for entry in &used_by {
        let path = entry
            .strip_prefix(&format!("snapshot {} ", short(&setup.snapshot_a)))
            .unwrap_or_else(|| panic!("{context}: {entry:?} is not a path of snapshot A:\n{err}"));
        assert!(
            setup.pack_a_users.contains(path),
            "{context}: {path} does not use the pack (users: {:?})",
            setup.pack_a_users
        );
    }
    setup.assert_b_restores(&context, &scratch, &repo);

    // A restores every file but those using the damaged pack, and says which and why.
    let target = scratch.path("restore-a");
    let err = expect_failure(
        &context,
        scratch
            .cairn(&repo)
            .args(["restore", &setup.snapshot_a, "--target"])
            .arg(&target),
    );
    assert!(
        err.contains(&setup.pack_a) && err.contains("data blob") && err.contains("damaged"),
        "{context}: restore of A does not name the damaged blob and pack:\n{err}"
    );
    // One flipped byte damages one blob: the files holding it are named, each one a user of
    // the pack; every other file of A comes back intact.
    let restored_a = restored(&target, &setup.a_source);
    let damaged: Vec<PathBuf> = err
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .filter_map(|l| l.split_once(": content at offset ").map(|(path, _)| path))
        .map(|path| {
            Path::new(path)
                .strip_prefix(&restored_a)
                .unwrap_or_else(|_| {
                    panic!("{context}: {path} is not under {}", restored_a.display())
                })
                .to_path_buf()
        })
        .collect();
    assert!(
        !damaged.is_empty(),
        "{context}: restore names no damaged file:\n{err}"
    );
    for path in &damaged {
        let in_snapshot = setup.a_source.join(path).display().to_string();
        assert!(
            setup.pack_a_users.contains(&in_snapshot),
            "{context}: restore calls {in_snapshot} damaged, which does not use the pack"
        );
    }
    assert_same_tree(
        &context,
        &setup.a_source,
        &restored(&target, &setup.a_source),
        &damaged,
    );

    // The oracle agrees the pack is damaged.
    let output = scratch
        .restic(&repo)
        .args(["check", "--read-data"])
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "{context}: restic check --read-data passed"
    );
}

#[test]
fn a_flipped_byte_in_an_index_file_is_named_and_other_snapshots_restore() {
    let scratch = Scratch::new();
    let setup = two_snapshots(&scratch);
    let repo = setup.copy(&scratch, "flipped-index");
    let context = format!("index {} with a flipped byte", setup.index_a);
    flip_middle_byte(&repo.join("index").join(&setup.index_a));

    let err = expect_failure(&context, scratch.cairn(&repo).arg("check"));
    assert!(
        err.contains(&format!("index {}", setup.index_a)),
        "{context}: check does not name the index file:\n{err}"
    );
    setup.assert_b_restores(&context, &scratch, &repo);
    let listed = snapshots_json(&mut scratch.cairn(&repo));
    assert_eq!(listed.len(), 2, "{context}: snapshots: {listed:?}");
    // A's trees are listed only in the damaged index: its restore fails cleanly.
    let err = expect_failure(
        &context,
        scratch
            .cairn(&repo)
            .args(["restore", &setup.snapshot_a, "--target"])
            .arg(scratch.path("restore-a")),
    );
    assert!(
        err.contains("index"),
        "{context}: restore of A does not say the index lacks its data:\n{err}"
    );

    // The next backup of A carries on: what only the damaged index listed is stored again
    // (its parent's trees are unreadable, so every file is read), and the new snapshot
    // restores exactly.
    let output = run_ok_in(
        &context,
        scratch
            .cairn(&repo)
            .args(["--json", "backup", "--pack-size", "4"])
            .arg(&setup.a_source),
    );
    let summary = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("{context}: no backup summary"));
    let snapshot = summary["snapshot_id"].as_str().unwrap().to_string();
    restore_and_compare(
        &context,
        &scratch,
        &repo,
        &snapshot,
        &setup.a_source,
        &setup.a_source,
        &scratch.path("restore-a-again"),
    );
}

#[test]
fn a_flipped_byte_in_a_pack_header_is_found_by_read_data_and_the_blobs_still_restore() {
    let scratch = Scratch::new();
    let setup = two_snapshots(&scratch);
    let repo = setup.copy(&scratch, "flipped-pack-header");
    let path = pack_path(&repo, &setup.pack_a);
    let bytes = fs::read(&path).unwrap();
    let header_len = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()) as u64;
    let offset = bytes.len() as u64 - 4 - header_len / 2;
    flip_byte(&path, offset);
    let context = format!(
        "pack {} with a flipped byte at {offset}, inside its {header_len}-byte header",
        setup.pack_a
    );

    let err = expect_failure(
        &context,
        scratch.cairn(&repo).args(["check", "--read-data"]),
    );
    assert!(
        err.contains(&format!("pack {}", setup.pack_a)) && err.contains("header"),
        "{context}: check does not name the pack and its header:\n{err}"
    );
    // The blobs themselves are intact and found through the index: A restores completely.
    restore_and_compare(
        &context,
        &scratch,
        &repo,
        &setup.snapshot_a,
        &setup.a_source,
        &setup.a_source,
        &scratch.path("restore-a"),
    );
    let output = scratch
        .restic(&repo)
        .args(["check", "--read-data"])
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "{context}: restic check --read-data passed"
    );
}

#[test]
fn a_flipped_byte_in_a_snapshot_file_is_named_and_other_snapshots_stay_usable() {
    let scratch = Scratch::new();
    let setup = two_snapshots(&scratch);
    let repo = setup.copy(&scratch, "flipped-snapshot");
    let context = format!("snapshot {} with a flipped byte", setup.snapshot_a);
    flip_middle_byte(&repo.join("snapshots").join(&setup.snapshot_a));

    let err = expect_failure(&context, scratch.cairn(&repo).arg("check"));
    assert!(
        err.contains(&format!("snapshot {}", setup.snapshot_a)),
        "{context}: check does not name the snapshot:\n{err}"
    );

    let output = run_ok_in(&context, scratch.cairn(&repo).args(["snapshots", "--json"]));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [setup.snapshot_b.as_str()], "{context}");
    assert!(
        stderr(&output).contains(&setup.snapshot_a),
        "{context}: `snapshots` gives no warning naming the damaged snapshot:\n{}",
        stderr(&output)
    );

    setup.assert_b_restores(&context, &scratch, &repo);
    let target = scratch.path("restore-latest");
    run_ok_in(
        &context,
        scratch
            .cairn(&repo)
            .args(["-q", "restore", "latest", "--target"])
            .arg(&target),
    );
    assert_same_tree(
        &context,
        &setup.b_source,
        &restored(&target, &setup.b_source),
        &[],
    );
    let err = expect_failure(
        &context,
        scratch
            .cairn(&repo)
            .args(["restore", &setup.snapshot_a, "--target"])
            .arg(scratch.path("restore-a")),
    );
    assert!(
        err.contains(&setup.snapshot_a) && err.contains("damaged"),
        "{context}: restore of A does not name the damaged snapshot:\n{err}"
    );
}

#[test]
fn a_flipped_byte_in_a_key_file_is_named_and_the_other_key_still_opens() {
    let scratch = Scratch::new();
    let setup = two_snapshots(&scratch);
    let repo = setup.copy(&scratch, "flipped-key");
    let second_password = scratch.path("second-password");
    fs::write(&second_password, "a second, different password\n").unwrap();
    let keys_before = object_names(&repo, "keys");
    run_ok(
        scratch
            .cairn(&repo)
            .args(["-q", "key", "add", "--new-password-file"])
            .arg(&second_password),
    );
    let key = single_new(&keys_before, &object_names(&repo, "keys"), "key file");
    // The second key works before it is damaged.
    run_ok(
        crate::support::cairn()
            .arg("-r")
            .arg(&repo)
            .arg("--password-file")
            .arg(&second_password)
            .arg("snapshots"),
    );
    let context = format!("key {key} with a flipped byte");
    flip_middle_byte(&repo.join("keys").join(&key));

    let err = expect_failure(&context, scratch.cairn(&repo).arg("check"));
    assert!(
        err.contains(&format!("key {key}")),
        "{context}: check does not name the key file:\n{err}"
    );
    setup.assert_b_restores(&context, &scratch, &repo);

    let err = expect_failure(
        &context,
        crate::support::cairn()
            .arg("-r")
            .arg(&repo)
            .arg("--password-file")
            .arg(&second_password)
            .arg("snapshots"),
    );
    assert!(
        err.lines().any(|l| l.starts_with("cairn: ")),
        "{context}: no error line:\n{err}"
    );
    assert!(
        err.contains(&key),
        "{context}: opening with the damaged key's password does not name the damaged key:\n{err}"
    );
}

#[test]
fn a_truncated_pack_is_named_by_check_without_reading_data() {
    let scratch = Scratch::new();
    let setup = two_snapshots(&scratch);
    let repo = setup.copy(&scratch, "truncated-pack");
    let path = pack_path(&repo, &setup.pack_a);
    let size = fs::metadata(&path).unwrap().len();
    truncate_tail(&path, 100);
    let context = format!(
        "pack {} cut from {size} to {} bytes",
        setup.pack_a,
        size - 100
    );

    let err = expect_failure(&context, scratch.cairn(&repo).arg("check"));
    assert!(
        err.contains(&format!("pack {}", setup.pack_a)) && err.contains(&(size - 100).to_string()),
        "{context}: check does not name the pack and its size:\n{err}"
    );
    assert!(
        err.contains(&format!("used by snapshot {}", short(&setup.snapshot_a))),
        "{context}: check does not name the snapshot using the pack:\n{err}"
    );
    setup.assert_b_restores(&context, &scratch, &repo);
}

//! `cairn mirror restore` from a real S3 server: copy makes a new repository; replace checks
//! the mirror holds the target's repository, plans exactly what it then does (`--dry-run`),
//! and never deletes a local pack the restored index still names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use cairn_format::Id;
use cairn_storage::s3_test_server::{self as server, S3TestServer};
use cairn_storage::{FileKind, Storage};
use serde_json::Value;

use super::{mirrored, n, objects, summary_of, sync_json, Mirrored};
use crate::s3::{small_tree, unique_prefix, with_s3_env};
use crate::support::compare::CompareOptions;
use crate::support::rng::Rng;
use crate::support::{compare_trees, restored, run_fail, run_ok, stderr, stdout, Scratch};

/// `cairn mirror restore DEST --mode MODE --target TARGET ARGS`; replace gets the password.
fn restore(scratch: &Scratch, dest: &str, target: &Path, mode: &str, args: &[&str]) -> Command {
    let mut command = crate::support::cairn();
    with_s3_env(&mut command)
        .args(["mirror", "restore", dest, "--mode", mode, "--target"])
        .arg(target)
        .args(args);
    if mode == "replace" {
        command.arg("--password-file").arg(&scratch.password_file);
    }
    command
}

/// Every file under `dir` (path relative to it → SHA-256 of its bytes).
fn files(dir: &Path) -> BTreeMap<String, Id> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                out.insert(relative, Id::hash(&std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// The paths of the objects a dry run lists under `field`.
fn planned_paths(summary: &Value, field: &str) -> BTreeSet<String> {
    let kinds = [
        FileKind::Config,
        FileKind::Key,
        FileKind::Snapshot,
        FileKind::Index,
        FileKind::Pack,
        FileKind::Sidecar,
    ];
    summary[field]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|object| {
            let kind = kinds
                .iter()
                .find(|k| k.to_string() == object["kind"].as_str().unwrap())
                .unwrap_or_else(|| panic!("kind of {object}"));
            kind.path(object["name"].as_str().unwrap())
        })
        .collect()
}

fn snapshot_ids(scratch: &Scratch, repo: &Path) -> BTreeSet<String> {
    crate::support::snapshots_json(&mut scratch.cairn(repo))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn mirror_restore_copies_a_new_repository_and_replaces_a_damaged_one() {
    let Mirrored {
        scratch,
        offsite,
        local_path,
        repo,
        source,
        fixture,
        prefix,
        dest,
    } = mirrored("restore", 17);
    sync_json(&scratch, &repo, &dest, &[]);
    let mirror_objects = objects(&offsite.store(&prefix));

    // copy: a dry run lists every object (and the manifest) and creates nothing ...
    let copied = scratch.path("copied");
    let output = run_ok(&mut restore(
        &scratch,
        &dest,
        &copied,
        "copy",
        &["--json", "--dry-run"],
    ));
    let dry = summary_of(&stdout(&output));
    let mut expected_paths: BTreeSet<String> = mirror_objects
        .keys()
        .map(|(kind, name)| match kind.as_str() {
            "config" => "config".to_string(),
            "key" => FileKind::Key.path(name),
            "snapshot" => FileKind::Snapshot.path(name),
            "index" => FileKind::Index.path(name),
            _ => FileKind::Pack.path(name),
        })
        .collect();
    expected_paths.insert("cairn-manifest".to_string());
    assert_eq!(planned_paths(&dry, "would_fetch"), expected_paths, "{dry}");
    assert!(!copied.exists());
    // ... and the copy is a new repository, checked and restorable; it needs no password.
    run_ok(&mut restore(&scratch, &dest, &copied, "copy", &[]));
    assert_eq!(
        objects(&cairn_storage::LocalStore::new(&copied)),
        mirror_objects
    );
    run_ok(scratch.cairn(&copied).args(["check", "--read-data"]));
    let target = scratch.path("restored-files");
    run_ok(
        scratch
            .cairn(&copied)
            .args(["restore", "latest", "--target"])
            .arg(&target),
    );
    let differences = compare_trees(
        &source,
        &restored(&target, &source),
        CompareOptions::default(),
        &fixture.restic_014_lossy,
    );
    assert!(differences.is_empty(), "{differences:#?}");
    // copy refuses a directory that is not empty.
    let text = stderr(&run_fail(&mut restore(
        &scratch,
        &dest,
        &copied,
        "copy",
        &[],
    )));
    assert!(text.contains("is not empty"), "{text}");

    // replace: lose a pack, gain a stray snapshot, hold a lock.
    let local = cairn_storage::LocalStore::new(&local_path);
    let pack = local.list(FileKind::Pack).unwrap()[0].name.clone();
    local.remove(FileKind::Pack, &pack).unwrap();
    local
        .put(FileKind::Snapshot, &"d".repeat(64), b"stray")
        .unwrap();
    local.put(FileKind::Lock, &"c".repeat(64), b"held").unwrap();
    let text = stderr(&run_fail(&mut restore(
        &scratch,
        &dest,
        &local_path,
        "replace",
        &[],
    )));
    assert!(
        text.contains("is locked") && text.contains("unlock"),
        "{text}"
    );
    local.remove(FileKind::Lock, &"c".repeat(64)).unwrap();
    // Replace compares sealed repository ids: without a password it cannot.
    let mut no_password = crate::support::cairn();
    with_s3_env(&mut no_password)
        .args(["mirror", "restore", &dest, "--mode", "replace", "--target"])
        .arg(&local_path);
    let text = stderr(&run_fail(&mut no_password));
    assert!(text.contains("no password given"), "{text}");
    // A password added after the sync opens a key the mirror lacks: replacing with it keeps
    // that key, or the password would no longer open the result.
    let new_password = scratch.path("new-password");
    std::fs::write(&new_password, "a password added after the sync\n").unwrap();
    run_ok(
        scratch
            .cairn(&local_path)
            .args(["key", "add", "--new-password-file"])
            .arg(&new_password),
    );
    let mirror_keys: BTreeSet<String> = mirror_objects
        .keys()
        .filter(|(kind, _)| kind == "key")
        .map(|(_, name)| name.clone())
        .collect();
    let added: Vec<String> = local
        .list(FileKind::Key)
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .filter(|name| !mirror_keys.contains(name))
        .collect();
    assert_eq!(added.len(), 1);
    let mut replace = crate::support::cairn();
    with_s3_env(&mut replace)
        .args(["--json", "mirror", "restore", &dest, "--mode", "replace"])
        .arg("--target")
        .arg(&local_path)
        .arg("--password-file")
        .arg(&new_password);
    let summary = summary_of(&stdout(&run_ok(&mut replace)));
    assert_eq!(summary["kept_key"], added[0].as_str(), "{summary}");
    let mut expected = mirror_objects.clone();
    let key_size = local.size(FileKind::Key, &added[0]).unwrap();
    expected.insert(("key".to_string(), added[0].clone()), key_size);
    assert_eq!(objects(&local), expected);
    run_ok(scratch.cairn(&local_path).args(["check", "--read-data"]));
    run_ok(
        crate::support::cairn()
            .arg("-r")
            .arg(&local_path)
            .arg("--password-file")
            .arg(&new_password)
            .arg("snapshots"),
    );
    run_ok(scratch.restic(&local_path).args(["check", "--read-data"]));
}

#[test]
fn replace_refuses_a_mirror_of_another_repository_unless_forced() {
    let Mirrored {
        scratch,
        local_path: a,
        repo,
        dest: mirror_a,
        ..
    } = mirrored("identity-a", 41);
    sync_json(&scratch, &repo, &mirror_a, &[]);
    // Repository B, mirrored to a second S3 server.
    let other_server = S3TestServer::start(&[]);
    let b = scratch.init_repo("b");
    let source_b = scratch.path("src-b");
    small_tree(&source_b, 43);
    run_ok(scratch.cairn(&b).arg("backup").arg(&source_b));
    let prefix_b = unique_prefix("identity-b");
    let mirror_b = other_server.url(server::BUCKET, &prefix_b);
    sync_json(&scratch, b.to_str().unwrap(), &mirror_b, &[]);

    // B's mirror over A: refused, dry run or not, and A is untouched.
    let before = files(&a);
    for args in [&["--dry-run"][..], &[]] {
        let text = stderr(&run_fail(&mut restore(
            &scratch, &mirror_b, &a, "replace", args,
        )));
        assert!(
            text.contains("holds another repository") && text.contains("--force-other-repository"),
            "{text}"
        );
        assert!(!text.contains("correct horse"), "{text}");
    }
    assert_eq!(files(&a), before);

    // A's own mirror is accepted: the ids match.
    let output = run_ok(&mut restore(
        &scratch,
        &mirror_a,
        &a,
        "replace",
        &["--json", "--dry-run"],
    ));
    let same = summary_of(&stdout(&output));
    assert_eq!(same["repository_match"], "same-id", "{same}");

    // A repository that lost its config is judged by its sealed files.
    let lost_config = scratch.path("lost-config");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(&a)
        .arg(&lost_config)
        .status()
        .unwrap()
        .success());
    std::fs::remove_file(lost_config.join("config")).unwrap();
    let text = stderr(&run_fail(&mut restore(
        &scratch,
        &mirror_b,
        &lost_config,
        "replace",
        &[],
    )));
    assert!(
        text.contains("holds another repository") && text.contains("has no config"),
        "{text}"
    );
    let output = run_ok(&mut restore(
        &scratch,
        &mirror_a,
        &lost_config,
        "replace",
        &["--json"],
    ));
    let recovered = summary_of(&stdout(&output));
    assert_eq!(
        recovered["repository_match"], "sealed-files-open",
        "{recovered}"
    );
    assert_eq!(
        n(&recovered, "fetched_objects"),
        2,
        "config and manifest: {recovered}"
    );
    run_ok(scratch.restic(&lost_config).args(["check", "--read-data"]));

    // Forced: A becomes B's repository, whole and checkable.
    let output = run_ok(&mut restore(
        &scratch,
        &mirror_b,
        &a,
        "replace",
        &["--json", "--force-other-repository"],
    ));
    let forced = summary_of(&stdout(&output));
    assert_eq!(forced["repository_match"], "forced", "{forced}");
    assert_eq!(
        objects(&cairn_storage::LocalStore::new(&a)),
        objects(&other_server.store(&prefix_b))
    );
    assert_eq!(snapshot_ids(&scratch, &a), snapshot_ids(&scratch, &b));
    run_ok(scratch.restic(&a).args(["check", "--read-data"]));
}

#[test]
fn replace_dry_run_lists_what_it_then_does_and_keeps_packs_the_restored_index_names() {
    let Mirrored {
        scratch,
        offsite,
        local_path,
        repo,
        source,
        prefix,
        dest,
        ..
    } = mirrored("replace-plan", 31);
    let mut rng = Rng::new(31);
    std::fs::write(source.join("bulk/day2.bin"), rng.bytes(2 << 20)).unwrap();
    run_ok(scratch.cairn(&local_path).arg("backup").arg(&source));
    sync_json(&scratch, &repo, &dest, &[]);
    let mirrored_snapshots = snapshot_ids(&scratch, &local_path);

    // The mirror lacks a pack its index names (a mirror mid-grace, or damaged) ...
    let mirror = offsite.store(&prefix);
    let local = cairn_storage::LocalStore::new(&local_path);
    let mut packs: Vec<String> = local
        .list(FileKind::Pack)
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    packs.sort();
    let named_but_not_mirrored = packs[0].clone();
    mirror
        .remove(FileKind::Pack, &named_but_not_mirrored)
        .unwrap();
    // ... and the local repository lost another pack and gained a backup after the sync.
    let lost = packs[1].clone();
    local.remove(FileKind::Pack, &lost).unwrap();
    std::fs::write(source.join("bulk/day3.bin"), rng.bytes(1 << 20)).unwrap();
    run_ok(scratch.cairn(&local_path).arg("backup").arg(&source));
    let day3_snapshot: Vec<String> = snapshot_ids(&scratch, &local_path)
        .difference(&mirrored_snapshots)
        .cloned()
        .collect();
    assert_eq!(day3_snapshot.len(), 1);

    // The dry run changes nothing and says what it would do.
    let before = files(&local_path);
    let output = run_ok(&mut restore(
        &scratch,
        &dest,
        &local_path,
        "replace",
        &["--json", "--dry-run"],
    ));
    let dry = summary_of(&stdout(&output));
    assert_eq!(files(&local_path), before, "a dry run changed the target");
    let would_fetch = planned_paths(&dry, "would_fetch");
    let would_delete = planned_paths(&dry, "would_delete");
    assert!(would_fetch.contains(&FileKind::Pack.path(&lost)), "{dry}");
    assert!(
        would_delete.contains(&FileKind::Snapshot.path(&day3_snapshot[0])),
        "{dry}"
    );
    assert!(
        !would_delete.contains(&FileKind::Pack.path(&named_but_not_mirrored)),
        "{dry}"
    );
    assert!(
        would_delete.iter().any(|p| p.starts_with("data/")),
        "the day-3 packs go: {dry}"
    );
    assert_eq!(n(&dry, "kept_indexed_packs"), 1, "{dry}");
    assert_eq!(n(&dry, "missing_packs"), 0, "{dry}");
    let text = stdout(&run_ok(&mut restore(
        &scratch,
        &dest,
        &local_path,
        "replace",
        &["--dry-run"],
    )));
    assert!(text.contains(&format!("would fetch pack {lost}")), "{text}");
    assert!(
        text.contains(&format!("would delete snapshot {}", day3_snapshot[0])),
        "{text}"
    );
    assert!(
        text.contains("kept 1 local packs the mirror lacks"),
        "{text}"
    );
    assert_eq!(files(&local_path), before);

    // The real run does exactly that.
    let output = run_ok(&mut restore(
        &scratch,
        &dest,
        &local_path,
        "replace",
        &["--json"],
    ));
    let real = summary_of(&stdout(&output));
    let after = files(&local_path);
    let fetched: BTreeSet<String> = after
        .iter()
        .filter(|(path, hash)| before.get(*path) != Some(hash))
        .map(|(path, _)| path.clone())
        .collect();
    let deleted: BTreeSet<String> = before
        .keys()
        .filter(|path| !after.contains_key(*path))
        .cloned()
        .collect();
    assert_eq!(fetched, would_fetch);
    assert_eq!(deleted, would_delete);
    for field in [
        "fetched_objects",
        "fetched_bytes",
        "removed_objects",
        "removed_bytes",
        "kept_indexed_packs",
    ] {
        assert_eq!(real[field], dry[field], "{field}: {real} vs {dry}");
    }
    assert!(local.size(FileKind::Pack, &named_but_not_mirrored).is_ok());
    assert_eq!(snapshot_ids(&scratch, &local_path), mirrored_snapshots);
    run_ok(scratch.restic(&local_path).args(["check", "--read-data"]));
    run_ok(scratch.cairn(&local_path).args(["check", "--read-data"]));

    // A pack the restored index names that neither side holds is counted and warned about.
    local
        .remove(FileKind::Pack, &named_but_not_mirrored)
        .unwrap();
    let output = run_ok(&mut restore(
        &scratch,
        &dest,
        &local_path,
        "replace",
        &["--dry-run"],
    ));
    let warning = stderr(&output);
    assert!(
        warning.contains("1 packs the restored index names are neither in the mirror nor in"),
        "{warning}"
    );
}

//! A repository written by another implementation of the format: rustic (crates.io
//! `rustic-rs`, installed by scripts/test-all.sh). rustic writes key files without `created`,
//! snapshots with its own `summary` fields, and its own choices elsewhere; cairn checks,
//! restores and backs up on top, and rustic (and restic 0.14) check the result.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::compare::CompareOptions;
use crate::support::rng::Rng;
use crate::support::{compare_trees, fixture, restored, run_ok, snapshots_json, stderr, Scratch};

/// The version scripts/test-all.sh installs.
const RUSTIC_VERSION: &str = "rustic 0.11.4";

/// `rustic -r REPO --password-file F --no-cache --no-progress`; fails (never skips) when
/// rustic is not installed.
fn rustic(scratch: &Scratch, repo: &Path) -> Command {
    let version = Command::new("rustic").arg("--version").output();
    assert!(
        version
            .as_ref()
            .is_ok_and(|o| o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains(RUSTIC_VERSION)),
        "{RUSTIC_VERSION} is not installed; scripts/test-all.sh installs it \
         (cargo install rustic-rs --version 0.11.4 --locked --no-default-features)"
    );
    let mut command = Command::new("rustic");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUSTIC_") {
            command.env_remove(&key);
        }
    }
    // No user or system config file may change what this test does.
    command.env("HOME", scratch.path("rustic-home"));
    command.env("XDG_CONFIG_HOME", scratch.path("rustic-home/config"));
    command
        .arg("-r")
        .arg(repo)
        .arg("--password-file")
        .arg(&scratch.password_file)
        .arg("--no-cache")
        .arg("--no-progress");
    command
}

/// rustic reports problems on stderr as `[WARN]` or `[ERROR]` lines.
fn rustic_ok(command: &mut Command) {
    let output = run_ok(command);
    let text = stderr(&output);
    assert!(
        !text.contains("[ERROR]") && !text.contains("[WARN]"),
        "{command:?} reported problems:\n{text}"
    );
}

fn same_tree(expected: &Path, actual: &Path) {
    let differences = compare_trees(
        expected,
        actual,
        CompareOptions {
            dir_times: false,
            sparse: false,
        },
        &[],
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn a_rustic_repository_is_checked_restored_and_extended_and_rustic_still_checks_it() {
    let scratch = Scratch::new();
    let source = scratch.path("source");
    fixture::build_special(&source, 15);
    let mut rng = Rng::new(15);
    fs::write(source.join("random.bin"), rng.bytes(3 << 20)).unwrap();
    let repo = scratch.path("repo");
    rustic_ok(rustic(&scratch, &repo).arg("init"));
    rustic_ok(rustic(&scratch, &repo).arg("backup").arg(&source));

    // Opened and listed: rustic's key file has no `created`, its snapshot a `summary`.
    let listed = snapshots_json(&mut scratch.cairn(&repo));
    assert_eq!(listed.len(), 1);
    let program = listed[0]["program_version"].as_str().unwrap_or_default();
    assert!(program.starts_with("rustic"), "{}", listed[0]);
    assert!(listed[0]["summary"].is_object(), "{}", listed[0]);
    let keys: Vec<Value> = serde_json::from_slice(
        &run_ok(scratch.cairn(&repo).args(["key", "list", "--json"])).stdout,
    )
    .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["problem"], Value::Null, "{}", keys[0]);

    run_ok(scratch.cairn(&repo).args(["check", "--read-data"]));
    let target = scratch.path("restored");
    run_ok(
        scratch
            .cairn(&repo)
            .args(["restore", "latest", "--target"])
            .arg(&target),
    );
    same_tree(&source, &restored(&target, &source));

    // cairn backs up on top, with rustic's snapshot as parent.
    fs::write(source.join("added-by-cairn.txt"), b"new\n").unwrap();
    fs::write(source.join("random.bin"), rng.bytes(1 << 20)).unwrap();
    run_ok(scratch.cairn(&repo).arg("backup").arg(&source));
    run_ok(scratch.cairn(&repo).args(["check", "--read-data"]));

    // rustic checks what cairn wrote, and restores cairn's snapshot.
    rustic_ok(rustic(&scratch, &repo).args(["check", "--read-data"]));
    let cairn_snapshot = snapshots_json(&mut scratch.cairn(&repo))
        .into_iter()
        .find(|s| {
            s["program_version"]
                .as_str()
                .is_some_and(|p| p.starts_with("cairn"))
        })
        .expect("cairn's snapshot");
    let target = scratch.path("restored-by-rustic");
    rustic_ok(
        rustic(&scratch, &repo)
            .arg("restore")
            .arg(cairn_snapshot["id"].as_str().unwrap())
            .arg(&target),
    );
    same_tree(&source, &restored(&target, &source));
    run_ok(scratch.restic(&repo).args(["check", "--read-data"]));
    assert_eq!(super::snapshots(&repo).len(), 2);
}

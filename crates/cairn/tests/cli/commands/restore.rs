//! `cairn restore`: selecting paths, verifying, replacing what is in the way, and finding the
//! snapshot by id prefix.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{backup, json_lines, run_with_stdin, small_tree, snapshot_id, walk, write};
use crate::support::compare::CompareOptions;
use crate::support::{
    compare_trees, restored, run_fail, run_ok, snapshots_json, stderr, stdout, Scratch,
};

/// Every path restored under `target`, relative to it.
fn restored_paths(target: &Path) -> Vec<PathBuf> {
    walk(target)
        .into_iter()
        .map(|p| p.strip_prefix(target).unwrap().to_path_buf())
        .collect()
}

/// Restores `id` with `args` by both tools into fresh targets; returns (cairn's, restic's)
/// lists of restored paths relative to the backed-up directory's restored location (`src`).
fn restore_both(
    scratch: &Scratch,
    repo: &Path,
    src: &Path,
    id: &str,
    name: &str,
    args: &[&str],
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let ours = scratch.path(&format!("{name}-cairn"));
    let theirs = scratch.path(&format!("{name}-restic"));
    run_ok(
        scratch
            .cairn(repo)
            .args(["restore", id, "--target"])
            .arg(&ours)
            .args(args),
    );
    run_ok(
        scratch
            .restic(repo)
            .args(["restore", id, "--target"])
            .arg(&theirs)
            .args(args),
    );
    (
        relative_to_source(restored_paths(&ours), src),
        relative_to_source(restored_paths(&theirs), src),
    )
}

/// Restored paths, as paths relative to the restored `src` ("" is `src` itself); the
/// directories above `src` are left out.
fn relative_to_source(paths: Vec<PathBuf>, src: &Path) -> Vec<PathBuf> {
    let inside = src.strip_prefix("/").unwrap();
    paths
        .into_iter()
        .filter_map(|p| p.strip_prefix(inside).ok().map(Path::to_path_buf))
        .collect()
}

fn paths(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

#[test]
fn include_and_exclude_select_what_is_restored_as_restic_selects_it() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    small_tree(&src, 51);
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let docs = src.join("docs").display().to_string();
    let logs = src.join("logs").display().to_string();

    let (ours, theirs) = restore_both(&scratch, &repo, &src, &id, "docs", &["--include", &docs]);
    assert_eq!(theirs, ours, "--include {docs}");
    assert_eq!(
        ours,
        paths(&[
            "",
            "docs",
            "docs/notes.md",
            "docs/readme.txt",
            "docs/sub",
            "docs/sub/deep.txt"
        ])
    );

    let (ours, theirs) = restore_both(&scratch, &repo, &src, &id, "nolog", &["--exclude", "*.log"]);
    assert_eq!(theirs, ours, "--exclude *.log");
    assert!(!ours.iter().any(|p| p.to_string_lossy().ends_with(".log")));
    assert!(ours.contains(&PathBuf::from("logs/old")));
    assert!(ours.contains(&PathBuf::from("data/big.bin")));

    // restic 0.14 refuses --include with --exclude; cairn applies both.
    let both = scratch.path("both");
    run_ok(
        scratch
            .cairn(&repo)
            .args([
                "restore",
                &id,
                "--include",
                &logs,
                "--exclude",
                "old",
                "--target",
            ])
            .arg(&both),
    );
    assert_eq!(
        relative_to_source(restored_paths(&both), &src),
        paths(&["", "logs", "logs/app.log"])
    );
    // What is restored is the content of the source.
    let target = scratch.path("docs-cairn");
    let differences = compare_trees(
        &src.join("docs"),
        &restored(&target, &src.join("docs")),
        CompareOptions::default(),
        &[],
    );
    assert!(differences.is_empty(), "{differences:#?}");
}

/// restic creates a directory only when it matches or something restored lies below it; with
/// a pattern like `*.txt`, directories holding no `.txt` file are not created.
#[test]
fn include_with_a_pattern_creates_only_the_directories_leading_to_matches() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    small_tree(&src, 52);
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let (ours, theirs) = restore_both(&scratch, &repo, &src, &id, "txt", &["--include", "*.txt"]);
    assert_eq!(
        theirs,
        paths(&[
            "",
            "docs",
            "docs/readme.txt",
            "docs/sub",
            "docs/sub/deep.txt"
        ]),
        "restic (the reference)"
    );
    assert_eq!(ours, theirs, "cairn created directories holding no match");
}

#[test]
fn verify_reads_every_restored_file_back() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    small_tree(&src, 53);
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let target = scratch.path("t1");
    let output = run_ok(
        scratch
            .cairn(&repo)
            .args(["restore", &id, "--verify", "--target"])
            .arg(&target),
    );
    assert!(
        stdout(&output).contains("verified 8 files"),
        "{}",
        stdout(&output)
    );
    let differences = compare_trees(
        &src,
        &restored(&target, &src),
        CompareOptions::default(),
        &[],
    );
    assert!(differences.is_empty(), "{differences:#?}");

    let output = run_ok(
        scratch
            .cairn(&repo)
            .args(["restore", &id, "--verify", "--json", "--target"])
            .arg(scratch.path("t2")),
    );
    let summary = json_lines(&output).pop().unwrap();
    assert_eq!(summary["message_type"], "summary");
    assert_eq!(summary["files_verified"], 8, "{summary}");
    assert_eq!(summary["files_restored"], 8, "{summary}");
    assert_eq!(summary["errors"], serde_json::json!([]));
    // Without --verify nothing is verified.
    let output = run_ok(
        scratch
            .cairn(&repo)
            .args(["restore", &id, "--json", "--target"])
            .arg(scratch.path("t3")),
    );
    assert_eq!(json_lines(&output).pop().unwrap()["files_verified"], 0);
}

#[test]
fn restoring_over_existing_entries_replaces_them_without_writing_through() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("longer.txt"), "new");
    write(&src.join("was-symlink.txt"), "restored content");
    write(&src.join("was-hardlink.txt"), "restored too");
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));

    let target = scratch.path("target");
    let inside = restored(&target, &src);
    write(
        &inside.join("longer.txt"),
        "an old version that is much longer than the new one",
    );
    let victim = scratch.path("victim");
    write(&victim, "must stay");
    std::os::unix::fs::symlink(&victim, inside.join("was-symlink.txt")).unwrap();
    let linked = scratch.path("linked");
    write(&linked, "must stay as well");
    fs::hard_link(&linked, inside.join("was-hardlink.txt")).unwrap();

    run_ok(
        scratch
            .cairn(&repo)
            .args(["restore", &id, "--target"])
            .arg(&target),
    );
    assert_eq!(fs::read(inside.join("longer.txt")).unwrap(), b"new");
    let replaced = inside.join("was-symlink.txt");
    assert!(fs::symlink_metadata(&replaced).unwrap().is_file());
    assert_eq!(fs::read(&replaced).unwrap(), b"restored content");
    assert_eq!(
        fs::read(&victim).unwrap(),
        b"must stay",
        "wrote through a symlink"
    );
    assert_eq!(
        fs::read(inside.join("was-hardlink.txt")).unwrap(),
        b"restored too"
    );
    assert_eq!(
        fs::read(&linked).unwrap(),
        b"must stay as well",
        "wrote through a hard link"
    );
    assert_eq!(fs::metadata(&linked).unwrap().nlink(), 1);
}

#[test]
fn snapshot_ids_resolve_by_unique_prefix_and_fail_clearly_otherwise() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    // 17 snapshots: at least two share their first hex digit.
    for i in 0..17 {
        let output = run_with_stdin(
            scratch
                .cairn(&repo)
                .args(["backup", "-q", "--stdin", "--stdin-filename", "n.txt"]),
            format!("snapshot {i}").as_bytes(),
        );
        assert!(output.status.success(), "{output:?}");
    }
    let ids: Vec<String> = snapshots_json(&mut scratch.cairn(&repo))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 17);
    let mut by_first: BTreeMap<char, usize> = BTreeMap::new();
    for id in &ids {
        *by_first.entry(id.chars().next().unwrap()).or_default() += 1;
    }
    let ambiguous = by_first
        .iter()
        .find(|(_, n)| **n > 1)
        .map(|(c, _)| c.to_string())
        .unwrap();
    let unknown = (0..=255u8)
        .map(|b| format!("{b:02x}"))
        .find(|p| !ids.iter().any(|id| id.starts_with(p.as_str())))
        .unwrap();
    let unique_id = &ids[5];
    let unique = (1..=64)
        .map(|n| &unique_id[..n])
        .find(|p| ids.iter().filter(|id| id.starts_with(p)).count() == 1)
        .unwrap();

    let target = scratch.path("target");
    let output = run_ok(
        scratch
            .cairn(&repo)
            .args(["restore", unique, "--target"])
            .arg(&target),
    );
    assert!(stdout(&output).contains(&unique_id[..8]), "{output:?}");
    assert_eq!(fs::read(target.join("n.txt")).unwrap(), b"snapshot 5");
    let dumped = run_ok(scratch.cairn(&repo).args(["dump", unique, "/n.txt"]));
    assert_eq!(dumped.stdout, b"snapshot 5");
    let upper = unique.to_ascii_uppercase();
    run_ok(scratch.cairn(&repo).args(["ls", &upper]));

    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["restore", &ambiguous, "--target"])
            .arg(scratch.path("never")),
    );
    assert!(stderr(&output).contains("ambiguous"), "{}", stderr(&output));
    assert!(!scratch.path("never").join("n.txt").exists());
    let output = run_fail(scratch.cairn(&repo).args(["ls", &unknown]));
    assert!(
        stderr(&output).contains(&format!("no snapshot with id {unknown}")),
        "{}",
        stderr(&output)
    );
    let output = run_fail(scratch.cairn(&repo).args(["dump", &ambiguous, "/n.txt"]));
    assert!(output.stdout.is_empty());
}

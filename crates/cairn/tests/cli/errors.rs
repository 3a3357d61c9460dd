//! Bad input gives one clear line, a non-zero exit, and leaves nothing behind.

use std::path::Path;
use std::process::Command;

use crate::support::{cairn, run_fail, run_ok, stderr, Scratch};

/// The error output is one line starting with `cairn:` and containing every fragment.
fn assert_one_line(output: &std::process::Output, fragments: &[&str]) {
    let text = stderr(output);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{text}");
    assert!(lines[0].starts_with("cairn: "), "error line: {}", lines[0]);
    for fragment in fragments {
        assert!(
            lines[0].contains(fragment),
            "{:?} lacks {fragment:?}",
            lines[0]
        );
    }
    assert_eq!(output.status.code(), Some(1), "exit code for: {}", lines[0]);
}

fn lock_count(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("locks"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_wrong_password_names_the_repository_and_how_to_give_one() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let wrong = scratch.path("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    for args in [&["snapshots"][..], &["backup", "/etc/hostname"], &["check"]] {
        let output = run_fail(
            cairn()
                .arg("-r")
                .arg(&repo)
                .arg("--password-file")
                .arg(&wrong)
                .args(args),
        );
        assert_one_line(
            &output,
            &[
                "wrong password",
                &repo.display().to_string(),
                "--password-file",
                "CAIRN_PASSWORD",
            ],
        );
        assert_eq!(lock_count(&repo), 0, "a failed open must leave no lock");
    }
    // Without any password source and no terminal, the message says how to give one.
    let output = run_fail(cairn().arg("-r").arg(&repo).arg("snapshots"));
    assert_one_line(&output, &["no password given", "CAIRN_PASSWORD"]);
    // A password from the environment works.
    run_ok(
        cairn()
            .arg("-r")
            .arg(&repo)
            .arg("snapshots")
            .env("CAIRN_PASSWORD", "correct horse battery staple"),
    );
    // And from a command.
    run_ok(
        cairn()
            .arg("-r")
            .arg(&repo)
            .arg("--password-command")
            .arg("echo correct horse battery staple")
            .arg("snapshots"),
    );
}

#[test]
fn missing_repositories_and_plain_directories_are_not_repositories() {
    let scratch = Scratch::new();
    let missing = scratch.path("nowhere");
    let output = run_fail(scratch.cairn(&missing).arg("snapshots"));
    assert_one_line(&output, &["is not a repository", "cairn init"]);
    assert!(!missing.exists(), "opening must not create anything");
    let plain = scratch.path("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("notes.txt"), "x").unwrap();
    let output = run_fail(scratch.cairn(&plain).arg("snapshots"));
    assert_one_line(&output, &["is not a repository"]);
    let output = run_fail(cairn().arg("snapshots").env("CAIRN_PASSWORD", "x"));
    assert_one_line(&output, &["no repository given", "-r"]);
}

#[test]
fn init_refuses_an_existing_repository_and_leaves_it_intact() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let keys_before = std::fs::read_dir(repo.join("keys")).unwrap().count();
    let output = run_fail(scratch.cairn(&repo).arg("init"));
    assert_one_line(&output, &["already exists", &repo.display().to_string()]);
    assert_eq!(
        std::fs::read_dir(repo.join("keys")).unwrap().count(),
        keys_before
    );
    run_ok(scratch.cairn(&repo).arg("check"));
}

#[test]
fn init_with_calibrated_keys_creates_a_repository_restic_opens() {
    let scratch = Scratch::new();
    let repo = scratch.path("calibrated");
    run_ok(scratch.cairn(&repo).arg("init"));
    run_ok(scratch.restic(&repo).arg("snapshots"));
    let key = std::fs::read_dir(repo.join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(key).unwrap()).unwrap();
    assert!(json["N"].as_u64().unwrap() >= 16384, "calibrated N: {json}");
}

#[test]
fn a_backup_path_that_does_not_exist_writes_nothing() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let missing = scratch.path("no-such-dir");
    let output = run_fail(
        scratch
            .cairn(&repo)
            .arg("backup")
            .arg(&missing)
            .arg("/etc/hostname"),
    );
    assert_one_line(&output, &["backup path", &missing.display().to_string()]);
    assert_eq!(
        std::fs::read_dir(repo.join("snapshots")).unwrap().count(),
        0
    );
    assert_eq!(lock_count(&repo), 0);
}

/// A read-only file system, mounted for the test and unmounted when dropped.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    fn new(path: std::path::PathBuf) -> ReadOnlyMount {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a read-only tmpfs (the tests run as root)"
        );
        ReadOnlyMount(path)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_restore_target_fails_once_and_clearly() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let data = scratch.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a"), "a").unwrap();
    run_ok(scratch.cairn(&repo).arg("backup").arg(&data));
    let mount = ReadOnlyMount::new(scratch.path("ro"));
    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["restore", "latest", "--target"])
            .arg(&mount.0),
    );
    assert_one_line(
        &output,
        &[
            "cannot write to restore target",
            &mount.0.display().to_string(),
            "Read-only",
        ],
    );
    assert_eq!(lock_count(&repo), 0);
}

#[test]
fn unknown_snapshots_and_bad_options_are_reported_plainly() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["restore", "deadbeef", "--target"])
            .arg(scratch.path("t")),
    );
    assert_one_line(&output, &["no snapshot with id deadbeef"]);
    let output = run_fail(scratch.cairn(&repo).args(["ls", "not-hex"]));
    assert_one_line(&output, &["is not a snapshot id"]);
    let output =
        run_fail(
            scratch
                .cairn(&repo)
                .args(["backup", "--exclude", "[oops", "/etc/hostname"]),
        );
    assert_one_line(&output, &["invalid exclude pattern", "[oops"]);
    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["check", "--read-data-subset", "7/5"]),
    );
    assert_one_line(&output, &["invalid --read-data-subset"]);
    let output =
        run_fail(
            scratch
                .cairn(&repo)
                .args(["backup", "--compression", "fast", "/etc/hostname"]),
        );
    assert_one_line(&output, &["unknown compression"]);
    // Usage errors exit 2, as clap reports them.
    let output = cairn().arg("frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

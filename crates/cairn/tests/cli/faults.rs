//! Faults: processes killed mid-write, corrupted bytes, concurrent writers, stale locks.
//!
//! DESIGN §2: a crash at any instant leaves a repository that `cairn check` and `restic check`
//! accept and the next run carries on from; a flipped bit is an error naming the object, never
//! silent garbage; a signal leaves no lock behind.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::support::compare::CompareOptions;
use crate::support::rng::Rng;
use crate::support::{compare_trees, restored, stderr, stdout, Scratch};

const MIB: usize = 1 << 20;

mod concurrent;
mod corruption;
mod kill;
mod locks;

// Helpers shared by the fault tests.

fn write_file(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, data).unwrap();
}

/// Runs `command`; on failure panics with `context`, the command and its output.
fn run_ok_in(context: &str, command: &mut Command) -> Output {
    let output = command.output().expect("spawn");
    assert!(
        output.status.success(),
        "{context}: {command:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    assert_no_panic(context, &output);
    output
}

fn assert_no_panic(context: &str, output: &Output) {
    let text = stderr(output);
    assert!(
        !text.contains("panicked"),
        "{context}: the process panicked:\n{text}"
    );
    assert!(
        output.status.signal().is_none(),
        "{context}: the process died of signal {:?}:\n{text}",
        output.status.signal()
    );
}

/// Expects exit code 1, no panic; returns standard error.
fn expect_failure(context: &str, command: &mut Command) -> String {
    let output = command.output().expect("spawn");
    assert_no_panic(context, &output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{context}: {command:?} should fail with exit code 1:\nstdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    stderr(&output)
}

fn assert_same_tree(context: &str, expected: &Path, actual: &Path, ignore: &[PathBuf]) {
    let differences = compare_trees(
        expected,
        actual,
        CompareOptions {
            dir_times: ignore.is_empty(),
            sparse: false,
        },
        ignore,
    );
    assert!(
        differences.is_empty(),
        "{context}: restored tree {} differs from {}:\n{}",
        actual.display(),
        expected.display(),
        differences.join("\n")
    );
}

/// Restores `snapshot` with cairn into a fresh `target` and compares the restored `source`
/// (the path the snapshot holds) with `expected`; removes the target afterwards.
fn restore_and_compare(
    context: &str,
    scratch: &Scratch,
    repo: &Path,
    snapshot: &str,
    source: &Path,
    expected: &Path,
    target: &Path,
) {
    let _ = fs::remove_dir_all(target);
    run_ok_in(
        context,
        scratch
            .cairn(repo)
            .args(["-q", "restore", snapshot, "--target"])
            .arg(target),
    );
    assert_same_tree(context, expected, &restored(target, source), &[]);
    fs::remove_dir_all(target).unwrap();
}

/// `cairn check` and `restic check`, both with `--read-data` when asked.
fn check_both(context: &str, scratch: &Scratch, repo: &Path, read_data: bool) {
    let mut cairn = scratch.cairn(repo);
    cairn.args(["-q", "check"]);
    let mut restic = scratch.restic(repo);
    restic.arg("check");
    if read_data {
        cairn.arg("--read-data");
        restic.arg("--read-data");
    }
    run_ok_in(context, &mut cairn);
    run_ok_in(context, &mut restic);
}

fn spawn_backup(scratch: &Scratch, repo: &Path, source: &Path, log: &Path, args: &[&str]) -> Child {
    scratch
        .cairn(repo)
        .args(["-q", "backup"])
        .args(args)
        .arg(source)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log).expect("backup log"))
        .spawn()
        .expect("spawn cairn backup")
}

fn single_new(before: &BTreeSet<String>, after: &BTreeSet<String>, what: &str) -> String {
    let new: Vec<&String> = after.difference(before).collect();
    assert_eq!(new.len(), 1, "expected exactly one new {what}, got {new:?}");
    new[0].clone()
}

fn short(id: &str) -> &str {
    &id[..8]
}

/// Random files of `size` bytes and small log-like files under `root`.
fn build_tree(root: &Path, rng: &mut Rng, big: usize, size: usize, small: usize) {
    for i in 0..big {
        write_file(&root.join(format!("big-{i:02}.bin")), &rng.bytes(size));
    }
    for i in 0..small {
        let len = 1 + rng.below(8 << 10) as usize;
        write_file(
            &root.join(format!("small/s{:02}/f{i:04}.txt", i % 8)),
            &rng.log_lines(len),
        );
    }
}

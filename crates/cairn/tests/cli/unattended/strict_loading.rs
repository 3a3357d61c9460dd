//! A snapshot that cannot be fetched (the store keeps failing past the retries) is an error of
//! the whole command, never "skip this snapshot": `snapshots` would hide it, `restore latest`
//! would pick an older one, and `forget` would apply its policy to the wrong set.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cairn_storage::s3_test_proxy::{Action, S3TestProxy};
use cairn_storage::s3_test_server::{self as server, unique_prefix, S3TestServer};
use cairn_storage::{FileKind, Storage};

use crate::s3::{cairn_at, init_s3_repo};
use crate::support::{run_ok, snapshots_json, stderr, Scratch};

const UNAVAILABLE: Action = Action::Fail {
    status: "503 Service Unavailable",
    code: "ServiceUnavailable",
};

/// Runs a command expected to fail with one line on standard error; returns that line.
fn one_line_failure(command: &mut std::process::Command) -> String {
    let output = command.output().expect("spawn cairn");
    let text = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{command:?} must fail:\n{text}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{command:?}: one line:\n{text}");
    lines[0].to_string()
}

#[test]
fn a_snapshot_that_cannot_be_fetched_fails_snapshots_restore_and_forget() {
    let scratch = Scratch::new();
    let server = S3TestServer::shared();
    let prefix = unique_prefix("strict");
    let url = init_s3_repo(server, &prefix);
    let source = scratch.path("src");
    std::fs::create_dir_all(&source).unwrap();
    for day in 1..=3 {
        std::fs::write(source.join("file.txt"), format!("day {day}\n")).unwrap();
        run_ok(cairn_at(&scratch, &url).args(["-q", "backup"]).arg(&source));
    }
    let snapshots = snapshots_json(&mut cairn_at(&scratch, &url));
    let newest = snapshots[2]["id"].as_str().unwrap().to_string();

    // Every GET of the newest snapshot answers 503, whatever the retries.
    let refused = Arc::new(AtomicUsize::new(0));
    let proxy = {
        let (newest, refused) = (newest.clone(), refused.clone());
        S3TestProxy::with_rule(server.port(), move |request| {
            if request.method == "GET" && request.target.contains(&newest) {
                refused.fetch_add(1, Ordering::SeqCst);
                UNAVAILABLE
            } else {
                Action::Forward
            }
        })
    };
    let through = proxy.url(server::BUCKET, &prefix);
    // Another host: its cache does not hold the snapshot the backups wrote through.
    let cairn = || {
        let mut command = cairn_at(&scratch, &through);
        command
            .args(["--s3-retries", "1", "--cache-dir"])
            .arg(scratch.path("other-host-cache"));
        command
    };

    let line = one_line_failure(cairn().arg("snapshots"));
    assert!(line.contains(&newest), "names the snapshot: {line}");
    let target = scratch.path("restored");
    one_line_failure(cairn().args(["restore", "latest", "--target"]).arg(&target));
    assert!(
        !target.join(source.strip_prefix("/").unwrap()).exists(),
        "restore latest must not restore an older snapshot"
    );
    let line = one_line_failure(cairn().args(["forget", "--keep-last", "1"]));
    assert!(line.contains(&newest), "{line}");
    // Copying the repository into itself: with a cache the source's reads would fill it for
    // the destination (same repository id), so neither side uses one here.
    let line = one_line_failure(
        cairn()
            .args(["--no-cache", "copy", "--from-repo"])
            .arg(&url)
            .args([
                "--from-password-file",
                scratch.password_file.to_str().unwrap(),
            ]),
    );
    assert!(line.contains(&newest), "{line}");
    assert!(refused.load(Ordering::SeqCst) >= 4, "the fault was met");

    let store = server.store(&prefix);
    assert_eq!(
        store.list(FileKind::Snapshot).unwrap().len(),
        3,
        "forget deleted nothing"
    );
    assert!(
        store.list(FileKind::Lock).unwrap().is_empty(),
        "no lock left"
    );
}

#[test]
fn a_listing_that_keeps_failing_fails_the_command() {
    let scratch = Scratch::new();
    let server = S3TestServer::shared();
    let prefix = unique_prefix("strict-list");
    let url = init_s3_repo(server, &prefix);
    let source = scratch.path("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.txt"), b"one\n").unwrap();
    run_ok(cairn_at(&scratch, &url).args(["-q", "backup"]).arg(&source));

    let proxy = S3TestProxy::with_rule(server.port(), |request| {
        if request.is_listing() && request.touches("snapshots") {
            UNAVAILABLE
        } else {
            Action::Forward
        }
    });
    let through = proxy.url(server::BUCKET, &prefix);
    for args in [
        &["snapshots"][..],
        &["restore", "latest", "--target", "/nonexistent-cairn-target"][..],
        &["forget", "--keep-last", "1"][..],
    ] {
        let line = one_line_failure(
            cairn_at(&scratch, &through)
                .args(["--s3-retries", "1"])
                .args(args),
        );
        assert!(line.contains("snapshots"), "{args:?}: {line}");
    }
    assert_eq!(
        server
            .store(&prefix)
            .list(FileKind::Snapshot)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn trees_that_cannot_be_fetched_fail_restore_ls_and_backup() {
    let scratch = Scratch::new();
    let server = S3TestServer::shared();
    let prefix = unique_prefix("strict-trees");
    let url = init_s3_repo(server, &prefix);
    let source = scratch.path("src");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    std::fs::write(source.join("sub/file.txt"), b"content\n").unwrap();
    run_ok(cairn_at(&scratch, &url).args(["-q", "backup"]).arg(&source));

    // Every pack read fails: trees (and data) cannot be fetched past the retries.
    let proxy = S3TestProxy::with_rule(server.port(), |request| {
        if request.method == "GET" && request.touches("data") {
            UNAVAILABLE
        } else {
            Action::Forward
        }
    });
    let through = proxy.url(server::BUCKET, &prefix);
    let cairn = || {
        let mut command = cairn_at(&scratch, &through);
        command.args(["--s3-retries", "1", "--no-cache"]);
        command
    };
    let target = scratch.path("restored");
    let line = one_line_failure(cairn().args(["restore", "latest", "--target"]).arg(&target));
    assert!(line.contains("ServiceUnavailable"), "{line}");
    let restored = target.join(source.strip_prefix("/").unwrap());
    assert!(
        !restored.join("sub").exists(),
        "nothing below an unfetched tree is restored"
    );
    one_line_failure(cairn().args(["ls", "latest"]));
    // A backup whose parent's trees cannot be read stops instead of reading everything again.
    one_line_failure(cairn().args(["-q", "backup"]).arg(&source));
    assert_eq!(
        server
            .store(&prefix)
            .list(FileKind::Snapshot)
            .unwrap()
            .len(),
        1
    );
}

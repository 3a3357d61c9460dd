//! A lock that cannot be refreshed is given up before it could go stale: the operation stops
//! and commits nothing (restic ≥ 0.16 behaves so).

use std::process::Stdio;
use std::time::{Duration, Instant};

use cairn_storage::s3_test_server::{unique_prefix, S3TestServer};
use cairn_storage::{FileKind, Storage};

use crate::s3::{cairn_at, init_s3_repo, restic_at};
use crate::support::{run_ok, snapshots_json, stderr, Scratch};

/// The server freezes (SIGSTOP) in the middle of a backup for longer than the lock may go
/// without a refresh. When it answers again the backup must stop with one line instead of
/// committing, `restic check` must accept the repository, and the next backup must work.
#[test]
fn a_backup_stops_when_the_store_hangs_past_the_lock_bound() {
    let scratch = Scratch::new();
    let server = S3TestServer::start(&[]);
    let prefix = unique_prefix("frozen");
    let url = init_s3_repo(&server, &prefix);

    // A stream that pauses between two parts, so the backup is surely running (and holding
    // its lock) while the server is frozen, and still has data to write afterwards.
    let producer = "head -c 20000000 /dev/urandom; sleep 7; head -c 20000000 /dev/urandom";
    let started = Instant::now();
    let backup = cairn_at(&scratch, &url)
        .env("CAIRN_LOCK_REFRESH", "1s")
        .env("CAIRN_LOCK_LOST_AFTER", "3s")
        .args([
            "-q",
            "backup",
            "--stdin-filename",
            "stream.bin",
            "--stdin-from-command",
        ])
        .args(["--", "sh", "-c", producer])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cairn backup");
    std::thread::sleep(Duration::from_millis(2500));
    server.freeze();
    std::thread::sleep(Duration::from_secs(6));
    server.thaw();
    let output = backup.wait_with_output().expect("wait for the backup");
    let message = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the backup must fail: {message}"
    );
    let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line:\n{message}");
    assert!(
        lines[0].contains("lock was last refreshed") && lines[0].contains("nothing more"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "stopped in bounded time"
    );

    // Nothing was committed, no lock is left, and both tools accept what remains.
    let store = server.store(&prefix);
    assert!(
        store.list(FileKind::Snapshot).unwrap().is_empty(),
        "no snapshot"
    );
    assert!(
        store.list(FileKind::Lock).unwrap().is_empty(),
        "no lock left"
    );
    run_ok(restic_at(&scratch, &url).arg("check"));
    run_ok(cairn_at(&scratch, &url).args(["-q", "check"]));
    // The next run carries on.
    let source = scratch.path("after");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.txt"), b"written after the freeze\n").unwrap();
    run_ok(cairn_at(&scratch, &url).args(["-q", "backup"]).arg(&source));
    assert_eq!(snapshots_json(&mut cairn_at(&scratch, &url)).len(), 1);
    run_ok(restic_at(&scratch, &url).args(["check", "--read-data"]));
}

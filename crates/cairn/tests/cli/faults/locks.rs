//! Live, stale and foreign locks; signals that must not leave a lock behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_format::LockFile;
use cairn_repo::system;
use cairn_storage::FileKind;

use super::{build_tree, expect_failure, run_ok_in, spawn_backup, write_file, MIB};
use crate::support::inspect::{self, lock_entries, object_names};
use crate::support::rng::Rng;
use crate::support::{run_ok, stdout, Scratch};

fn small_source(scratch: &Scratch) -> PathBuf {
    let source = scratch.path("src");
    build_tree(&source, &mut Rng::new(0x10c4), 2, MIB, 20);
    source
}

fn write_lock(repo: &Path, lock: &LockFile) -> String {
    inspect::open(repo)
        .save_unpacked(FileKind::Lock, &lock.to_json())
        .expect("write lock")
        .to_hex()
}

fn lock_of(pid: u32, hostname: &str, age: chrono::Duration, exclusive: bool) -> LockFile {
    LockFile {
        time: (chrono::Local::now() - age).fixed_offset(),
        exclusive,
        hostname: hostname.to_string(),
        username: system::username(),
        pid,
        uid: system::uid(),
        gid: system::gid(),
        unknown_fields: Default::default(),
    }
}

#[test]
fn a_live_exclusive_lock_blocks_a_backup_and_only_remove_all_removes_it() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let source = small_source(&scratch);
    let handle = inspect::open(&repo);
    let lock = handle.lock(true).expect("take an exclusive lock");
    let lock_id = lock.id().to_hex();

    let err = expect_failure(
        "backup under a live exclusive lock",
        scratch.cairn(&repo).arg("backup").arg(&source),
    );
    for fragment in [
        "locked".to_string(),
        "exclusively".to_string(),
        system::hostname(),
        format!("PID {}", std::process::id()),
        "cairn unlock".to_string(),
    ] {
        assert!(
            err.contains(&fragment),
            "the lock error lacks {fragment:?}:\n{err}"
        );
    }
    assert_eq!(
        lock_entries(&repo),
        std::slice::from_ref(&lock_id),
        "the refused backup left a lock"
    );
    assert!(object_names(&repo, "snapshots").is_empty());

    // A live lock is not stale: plain unlock keeps it, --remove-all removes it.
    let output = run_ok(scratch.cairn(&repo).arg("unlock"));
    assert!(stdout(&output).contains("removed 0"), "{}", stdout(&output));
    assert_eq!(lock_entries(&repo), [lock_id]);
    run_ok(scratch.cairn(&repo).args(["unlock", "--remove-all"]));
    assert!(lock_entries(&repo).is_empty());
    drop(lock);

    run_ok(scratch.cairn(&repo).args(["-q", "backup"]).arg(&source));
    assert_eq!(object_names(&repo, "snapshots").len(), 1);
    assert!(lock_entries(&repo).is_empty(), "{:?}", lock_entries(&repo));
}

#[test]
fn stale_locks_do_not_block_a_backup_and_unlock_removes_them() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let source = small_source(&scratch);

    // A process of this host that has exited.
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    assert!(!system::process_exists(dead_pid));
    let dead = write_lock(
        &repo,
        &lock_of(
            dead_pid,
            &system::hostname(),
            chrono::Duration::zero(),
            true,
        ),
    );
    // A lock of another host, older than 30 minutes.
    let old = write_lock(
        &repo,
        &lock_of(1, "elsewhere.example", chrono::Duration::minutes(31), true),
    );
    run_ok(scratch.cairn(&repo).args(["-q", "backup"]).arg(&source));
    assert_eq!(object_names(&repo, "snapshots").len(), 1);

    let output = run_ok(scratch.cairn(&repo).arg("unlock"));
    assert!(stdout(&output).contains("removed 2"), "{}", stdout(&output));
    assert!(
        lock_entries(&repo).is_empty(),
        "unlock left {:?} (stale: {dead}, {old})",
        lock_entries(&repo)
    );

    // A fresh lock of another host cannot be tested for liveness: it blocks, and only
    // --remove-all removes it.
    let remote = write_lock(
        &repo,
        &lock_of(4242, "elsewhere.example", chrono::Duration::zero(), true),
    );
    let err = expect_failure(
        "backup under another host's fresh lock",
        scratch.cairn(&repo).arg("backup").arg(&source),
    );
    assert!(
        err.contains("locked") && err.contains("elsewhere.example") && err.contains("PID 4242"),
        "{err}"
    );
    run_ok(scratch.cairn(&repo).arg("unlock"));
    assert_eq!(lock_entries(&repo), [remote]);
    run_ok(scratch.cairn(&repo).args(["unlock", "--remove-all"]));
    assert!(lock_entries(&repo).is_empty());
}

/// The lock error's advice, followed to the letter, gets the user unstuck when the holder is
/// gone. A lock that blocks is never stale (stale locks do not block), so plain `cairn unlock`
/// cannot be the advice: it removes only stale locks.
#[test]
fn the_lock_error_names_a_command_that_removes_the_lock_of_a_vanished_host() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let source = small_source(&scratch);
    // A host that crashed a minute ago while holding an exclusive lock.
    write_lock(
        &repo,
        &lock_of(4242, "crashed.example", chrono::Duration::minutes(1), true),
    );
    let err = expect_failure(
        "backup under a crashed host's lock",
        scratch.cairn(&repo).arg("backup").arg(&source),
    );
    // The first `cairn ...` command quoted in the message.
    let advice = err
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|quoted| quoted.starts_with("cairn "))
        .unwrap_or_else(|| panic!("the lock error suggests no command:\n{err}"));
    let args: Vec<&str> = advice.split_whitespace().skip(1).collect();
    run_ok(scratch.cairn(&repo).args(&args));
    assert!(
        lock_entries(&repo).is_empty(),
        "the lock error advises `{advice}`, which leaves the lock in place: {:?}\nerror: {err}",
        lock_entries(&repo)
    );
    run_ok(scratch.cairn(&repo).args(["-q", "backup"]).arg(&source));
}

#[test]
fn a_backup_interrupted_by_a_signal_leaves_no_lock() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let source = scratch.path("src");
    let mut rng = Rng::new(0x5161_0004);
    build_tree(&source, &mut rng, 12, 5 * MIB, 500);
    let args = ["--force", "--pack-size", "4"];

    let timer = Instant::now();
    let log = scratch.path("measure.log");
    assert!(spawn_backup(&scratch, &repo, &source, &log, &args)
        .wait()
        .unwrap()
        .success());
    let full_run = timer.elapsed();

    let mut interrupted = 0;
    for round in 0..6 {
        // New data, so every run writes packs.
        write_file(
            &source.join(format!("new-{round}.bin")),
            &rng.bytes(8 * MIB),
        );
        let signal = if round % 3 == 2 {
            libc::SIGTERM
        } else {
            libc::SIGINT
        };
        // Signal while packs are being written (the run's middle), a few milliseconds after the
        // first one appears: a delay relative to a measured run misses under load.
        let delay = Duration::from_micros(rng.below(20_000));
        let context = format!(
            "round {round}: signal {signal} {delay:?} after the first pack appeared (full run {full_run:?})"
        );
        let log = scratch.path(&format!("round-{round}.log"));
        let packs_before = data_entries(&repo);
        let mut child = spawn_backup(&scratch, &repo, &source, &log, &args);
        let deadline = Instant::now() + Duration::from_secs(20);
        while data_entries(&repo) == packs_before {
            assert!(Instant::now() < deadline, "{context}: no pack appeared");
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(delay);
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let status = child.wait().unwrap();
        // Exit 0: the run finished first. Any other exit code: interrupted (130 for SIGINT).
        // No exit code: the signal killed the process before it could clean up.
        match status.code() {
            Some(0) => {}
            Some(_) => interrupted += 1,
            None => panic!(
                "{context}: the process died of the signal ({status}): {}",
                fs::read_to_string(&log).unwrap_or_default()
            ),
        }
        assert!(
            lock_entries(&repo).is_empty(),
            "{context}: the interrupted backup left {:?} in locks/",
            lock_entries(&repo)
        );
        run_ok_in(&context, scratch.cairn(&repo).args(["-q", "check"]));
    }
    eprintln!("signals: {interrupted} of 6 interrupted a running backup (full run {full_run:?})");
    assert!(
        interrupted >= 3,
        "only {interrupted} of 6 signals hit a running backup (full run {full_run:?})"
    );
}

/// Every file name under `data/` (packs, and packs being written).
fn data_entries(repo: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![repo.join("data")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            } else {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn retry_lock_waits_for_a_lock_to_go_and_gives_up_after_its_time() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let source = small_source(&scratch);
    let handle = inspect::open(&repo);
    let lock = handle.lock(true).expect("take an exclusive lock");

    // Released after 1.5 s: a backup told to wait 20 s gets through.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(lock);
    });
    let started = std::time::Instant::now();
    run_ok_in(
        "backup waiting for a lock",
        scratch
            .cairn(&repo)
            .args(["backup", "--retry-lock", "20s"])
            .arg(&source),
    );
    let waited = started.elapsed();
    releaser.join().unwrap();
    assert!(
        waited >= std::time::Duration::from_millis(1400),
        "it did not wait: {waited:?}"
    );

    // Held for good: a short retry gives up with the usual message after about its time.
    let _held = handle.lock(true).expect("take it again");
    let started = std::time::Instant::now();
    let err = expect_failure(
        "backup with a short retry",
        scratch
            .cairn(&repo)
            .args(["backup", "--retry-lock", "1s"])
            .arg(&source),
    );
    let waited = started.elapsed();
    assert!(err.contains("locked"), "{err}");
    assert!(
        waited >= std::time::Duration::from_millis(600)
            && waited < std::time::Duration::from_secs(10),
        "waited {waited:?}"
    );
    let err = expect_failure(
        "an invalid --retry-lock",
        scratch
            .cairn(&repo)
            .args(["snapshots", "--retry-lock", "soon"]),
    );
    assert!(err.contains("invalid duration"), "{err}");
}

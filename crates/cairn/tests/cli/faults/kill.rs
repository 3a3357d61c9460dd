//! SIGKILL at random instants and at phase boundaries of a backup.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    assert_same_tree, check_both, restore_and_compare, run_ok_in, spawn_backup, write_file, MIB,
};
use crate::support::inspect::{self, lock_entries, object_names};
use crate::support::rng::Rng;
use crate::support::{restored, run_ok, snapshots_json, Scratch};

const KILL_SEED: u64 = 0x00c0_ffee_dead_0001;
const KILL_ROUNDS: usize = 20;
const KILL_BIG_FILES: u64 = 5;
const KILL_BIG_SIZE: usize = 36 * MIB;
const KILL_SMALL_FILES: u64 = 3000;

/// About 230 MB: five 36 MiB random files, a 24 MiB log and 3,000 small files.
fn build_kill_source(root: &Path, rng: &mut Rng) {
    for i in 0..KILL_BIG_FILES {
        write_file(
            &root.join(format!("big/random-{i}.bin")),
            &rng.bytes(KILL_BIG_SIZE),
        );
    }
    write_file(&root.join("big/app.log"), &rng.log_lines(24 * MIB));
    for i in 0..KILL_SMALL_FILES {
        write_file(&small_path(root, i), &small_content(rng, i));
    }
}

fn small_path(root: &Path, i: u64) -> PathBuf {
    root.join(format!("small/d{:02}/f{i:04}.dat", i % 30))
}

fn small_content(rng: &mut Rng, i: u64) -> Vec<u8> {
    let size = 1 + rng.below(16 << 10) as usize;
    match i % 3 {
        0 => rng.bytes(size),
        _ => rng.log_lines(size),
    }
}

/// New data for the next run, about 24 MB: 16 MiB overwritten in a big file, 30 small files
/// rewritten, the log grown, one new file.
fn mutate_kill_source(root: &Path, rng: &mut Rng, round: usize) {
    let which = rng.below(KILL_BIG_FILES);
    let offset = rng.below((KILL_BIG_SIZE - 16 * MIB) as u64);
    let file = OpenOptions::new()
        .write(true)
        .open(root.join(format!("big/random-{which}.bin")))
        .unwrap();
    file.write_all_at(&rng.bytes(16 * MIB), offset).unwrap();
    for _ in 0..30 {
        let i = rng.below(KILL_SMALL_FILES);
        write_file(&small_path(root, i), &small_content(rng, i));
    }
    let mut log = OpenOptions::new()
        .append(true)
        .open(root.join("big/app.log"))
        .unwrap();
    log.write_all(&rng.log_lines(512 << 10)).unwrap();
    write_file(
        &root.join(format!("new/round-{round:02}.bin")),
        &rng.bytes(4 * MIB),
    );
}

/// When a round's SIGKILL strikes.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after the start.
    Delay(Duration),
    /// As soon as a new object appears in this directory of the repository.
    FirstNew(&'static str),
}

#[test]
fn sigkill_at_random_instants_during_backup_leaves_a_repository_both_tools_accept() {
    let started = Instant::now();
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let source = scratch.path("src");
    let mut rng = Rng::new(KILL_SEED);
    build_kill_source(&source, &mut rng);

    // Snapshot A and its restored tree, the reference every later restore of A must match.
    run_ok(scratch.cairn(&repo).args(["-q", "backup"]).arg(&source));
    let snapshots = snapshots_json(&mut scratch.cairn(&repo));
    let snapshot_a = snapshots[0]["id"].as_str().unwrap().to_string();
    let reference_target = scratch.path("reference");
    run_ok(
        scratch
            .cairn(&repo)
            .args(["-q", "restore", &snapshot_a, "--target"])
            .arg(&reference_target),
    );
    let reference = restored(&reference_target, &source);
    assert_same_tree("snapshot A right after backup", &source, &reference, &[]);

    // T: one full uninterrupted run of the kind the loop kills (every file read again, about
    // 24 MB of new data in 4 MiB packs).
    let backup_args = ["--force", "--pack-size", "4"];
    mutate_kill_source(&source, &mut rng, 0);
    let timer = Instant::now();
    let status = spawn_backup(
        &scratch,
        &repo,
        &source,
        &scratch.path("measure.log"),
        &backup_args,
    )
    .wait()
    .unwrap();
    let full_run = timer.elapsed();
    assert!(
        status.success(),
        "measuring run failed: {}",
        fs::read_to_string(scratch.path("measure.log")).unwrap_or_default()
    );
    let window = full_run.mul_f64(1.1);

    let mut killed_mid_run = 0;
    let mut killed_after_writing_packs = 0;
    let mut killed_after_writing_index = 0;
    let mut completed = 0;
    let target = scratch.path("restore-a");
    // Random instants, then the moments the run's lock, first pack and first index file
    // appear: the phase boundaries random instants rarely hit.
    let events = ["locks", "data", "index"];
    for round in 1..=KILL_ROUNDS + events.len() {
        mutate_kill_source(&source, &mut rng, round);
        let packs_before = object_names(&repo, "data").len();
        let indexes_before = object_names(&repo, "index").len();
        let kill_at = match round.checked_sub(KILL_ROUNDS + 1) {
            None => KillAt::Delay(Duration::from_micros(
                rng.below(window.as_micros() as u64 + 1),
            )),
            Some(event) => KillAt::FirstNew(events[event]),
        };
        let context = format!(
            "seed {KILL_SEED:#x}, round {round}: SIGKILL {kill_at:?} (full run {full_run:?})"
        );
        let log = scratch.path(&format!("round-{round:02}.log"));
        let mut child = spawn_backup(&scratch, &repo, &source, &log, &backup_args);
        match kill_at {
            KillAt::Delay(delay) => std::thread::sleep(delay),
            KillAt::FirstNew(dir) => {
                let before = object_names(&repo, dir).len();
                while object_names(&repo, dir).len() <= before
                    && child.try_wait().unwrap().is_none()
                {}
            }
        }
        // Child::kill sends SIGKILL; if the run already finished it is a no-op (or an error
        // for a reaped child, which is fine too).
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.signal() == Some(libc::SIGKILL) {
            killed_mid_run += 1;
            if object_names(&repo, "data").len() > packs_before {
                killed_after_writing_packs += 1;
            }
            if object_names(&repo, "index").len() > indexes_before {
                killed_after_writing_index += 1;
            }
        } else {
            completed += 1;
            assert!(
                status.success(),
                "{context}: the run finished before the kill but failed ({status}): {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }

        // The dead process's lock is stale (same host, PID gone): unlock removes it.
        run_ok_in(&context, scratch.cairn(&repo).args(["-q", "unlock"]));
        let locks: Vec<String> = lock_entries(&repo)
            .into_iter()
            .filter(|n| !n.contains("-tmp-"))
            .collect();
        assert!(
            locks.is_empty(),
            "{context}: locks left after unlock: {locks:?}"
        );

        check_both(&context, &scratch, &repo, round % 5 == 0);
        if round % 5 == 0 {
            restore_and_compare(
                &context,
                &scratch,
                &repo,
                &snapshot_a,
                &source,
                &reference,
                &target,
            );
        }
    }

    // The next uninterrupted run carries on and restores exactly what is on disk now.
    let context = format!(
        "seed {KILL_SEED:#x}, after {} killed rounds",
        KILL_ROUNDS + events.len()
    );
    run_ok_in(
        &context,
        scratch.cairn(&repo).args(["-q", "backup"]).arg(&source),
    );
    restore_and_compare(
        &context,
        &scratch,
        &repo,
        "latest",
        &source,
        &source,
        &scratch.path("restore-final"),
    );
    restore_and_compare(
        &context,
        &scratch,
        &repo,
        &snapshot_a,
        &source,
        &reference,
        &target,
    );
    check_both(&context, &scratch, &repo, true);

    let rounds = KILL_ROUNDS + events.len();
    eprintln!(
        "sigkill: seed {KILL_SEED:#x}, {rounds} rounds, full run {full_run:?}, \
         {killed_mid_run} killed mid-run ({killed_after_writing_packs} after writing packs, \
         {killed_after_writing_index} after writing the index), {completed} completed, \
         {} temporary files left, {:?} in all",
        inspect::temporary_files(&repo).len(),
        started.elapsed()
    );
    assert!(
        killed_mid_run >= 5,
        "seed {KILL_SEED:#x}: only {killed_mid_run} of {rounds} kills hit a running backup \
         (full run {full_run:?}); the test exercised too little"
    );
    assert!(
        killed_after_writing_packs >= 3,
        "seed {KILL_SEED:#x}: only {killed_after_writing_packs} kills came after the run had \
         stored packs (full run {full_run:?}); the test exercised too little"
    );
}

//! Prune killed with SIGKILL at seeded random instants: the repository stays valid for both
//! tools, no kept snapshot loses data, and the next prune completes.

use std::time::{Duration, Instant};

use crate::support::rng::Rng;
use crate::support::{run_ok, Scratch};

#[test]
fn prune_killed_at_random_instants_loses_nothing() {
    let scratch = Scratch::new();
    let (repo, source, references) = super::prune::repository_with_history(&scratch, "auto");
    for (id, _) in &references[..2] {
        run_ok(scratch.cairn(&repo).args(["forget", id]));
    }
    let kept = &references[2..];
    let pristine = scratch.path("pristine");
    assert!(std::process::Command::new("cp")
        .arg("-a")
        .arg(&repo)
        .arg(&pristine)
        .status()
        .unwrap()
        .success());

    // How long an uninterrupted prune takes on this repository.
    let timer = Instant::now();
    run_ok(scratch.cairn(&repo).args(["prune", "--max-unused", "0%"]));
    let full = timer.elapsed();

    let seed = 0x5eed_9a7e;
    let mut rng = Rng::new(seed);
    let mut interrupted = 0;
    let rounds = 20;
    for round in 0..rounds {
        let _ = std::fs::remove_dir_all(&repo);
        assert!(std::process::Command::new("cp")
            .arg("-a")
            .arg(&pristine)
            .arg(&repo)
            .status()
            .unwrap()
            .success());
        let delay = Duration::from_micros(rng.below(full.as_micros() as u64 * 11 / 10 + 1));
        let context =
            format!("seed {seed:#x} round {round}: killed after {delay:?} (full prune {full:?})");
        let mut child = scratch
            .cairn(&repo)
            .args(["prune", "--max-unused", "0%", "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        run_ok(scratch.cairn(&repo).arg("unlock"));
        let check = scratch
            .cairn(&repo)
            .args(["check", "--read-data"])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{context}: cairn check failed:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let check = scratch
            .restic(&repo)
            .args(["check", "--read-data"])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{context}: restic check failed:\n{}",
            String::from_utf8_lossy(&check.stdout)
        );
        if round % 5 == 4 {
            super::prune::assert_restores(&scratch, &repo, &source, kept, &context);
        }
        // The next prune completes and leaves everything whole.
        run_ok(scratch.cairn(&repo).args(["prune", "--max-unused", "0%"]));
        run_ok(scratch.cairn(&repo).args(["check", "--read-data"]));
    }
    super::prune::assert_restores(&scratch, &repo, &source, kept, "after the last round");
    assert!(
        interrupted >= 10,
        "only {interrupted} of {rounds} kills hit a running prune (full prune {full:?})"
    );
}

//! Two backups into one repository at the same time.

use std::fs;
use std::path::PathBuf;
use std::process::Child;
use std::time::Instant;

use super::{build_tree, check_both, restore_and_compare, spawn_backup, MIB};
use crate::support::inspect::lock_entries;
use crate::support::rng::Rng;
use crate::support::{snapshots_json, Scratch};

#[test]
fn two_backups_at_once_into_one_repository_both_succeed_and_restore() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let mut rng = Rng::new(0xc0c0_0003);
    // x and y overlap: y holds copies of half of x's big files, so both runs store the same
    // blobs at the same time. z is backed up twice at once (same path, same content).
    let x = scratch.path("x");
    let y = scratch.path("y");
    let z = scratch.path("z");
    build_tree(&x, &mut rng, 8, 4 * MIB, 300);
    build_tree(&y, &mut rng, 4, 4 * MIB, 300);
    for i in 0..4 {
        let name = format!("big-{i:02}.bin");
        fs::copy(x.join(&name), y.join(format!("shared-{name}"))).unwrap();
    }
    build_tree(&z, &mut rng, 6, 4 * MIB, 300);

    for (round, sources) in [[&x, &y], [&z, &z]].into_iter().enumerate() {
        let logs = [
            scratch.path(&format!("round-{round}-0.log")),
            scratch.path(&format!("round-{round}-1.log")),
        ];
        let started = Instant::now();
        let mut children: Vec<Child> = sources
            .iter()
            .zip(&logs)
            .map(|(source, log)| spawn_backup(&scratch, &repo, source, log, &["--pack-size", "4"]))
            .collect();
        let mut finished = Vec::new();
        for (child, log) in children.iter_mut().zip(&logs) {
            let status = child.wait().unwrap();
            finished.push(started.elapsed());
            assert!(
                status.success(),
                "round {round}: a concurrent backup failed ({status}): {}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        eprintln!("concurrent round {round}: runs finished after {finished:?}");
    }

    let listed = snapshots_json(&mut scratch.cairn(&repo));
    assert_eq!(listed.len(), 4, "snapshots: {listed:?}");
    check_both("after concurrent backups", &scratch, &repo, true);
    for (i, snapshot) in listed.iter().enumerate() {
        let source = PathBuf::from(snapshot["paths"][0].as_str().unwrap());
        restore_and_compare(
            &format!("concurrent snapshot {i}"),
            &scratch,
            &repo,
            snapshot["id"].as_str().unwrap(),
            &source,
            &source,
            &scratch.path("restore"),
        );
    }
    assert!(lock_entries(&repo).is_empty(), "{:?}", lock_entries(&repo));
}

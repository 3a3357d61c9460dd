//! Prune reclaims space and every kept snapshot restores exactly afterwards, for both tools.

use std::path::{Path, PathBuf};

use crate::support::compare::CompareOptions;
use crate::support::rng::Rng;
use crate::support::{compare_trees, restored, run_fail, run_ok, stderr, stdout, Scratch};

const MIB: usize = 1 << 20;

/// A repository with five snapshots of a changing tree: each round adds six files (random and
/// log-like), and from round 2 on the even files of the round before last are deleted, so after
/// forgetting early snapshots their packs are partly used. Small packs. Returns the repository,
/// the source path and, per snapshot, its id and restored reference tree.
pub(super) fn repository_with_history(
    scratch: &Scratch,
    compression: &str,
) -> (PathBuf, PathBuf, Vec<(String, PathBuf)>) {
    let repo = scratch.init_repo("repo");
    let source = scratch.path("source");
    let mut rng = Rng::new(0x9a7e_0001);
    let mut references = Vec::new();
    for round in 0..5 {
        for i in 0..6 {
            let name = source.join(format!("round{round}/file{i}.bin"));
            std::fs::create_dir_all(name.parent().unwrap()).unwrap();
            let data = if i % 2 == 0 {
                rng.bytes(2 * MIB + i * 37_000)
            } else {
                rng.log_lines(3 * MIB)
            };
            std::fs::write(&name, data).unwrap();
        }
        if round >= 2 {
            for i in [0, 2, 4] {
                std::fs::remove_file(source.join(format!("round{}/file{i}.bin", round - 2)))
                    .unwrap();
            }
        }
        run_ok(
            scratch
                .cairn(&repo)
                .args(["backup", "--pack-size", "4", "--compression", compression])
                .arg(&source),
        );
        let id = crate::support::snapshots_json(&mut scratch.cairn(&repo))
            .last()
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let reference = scratch.path(&format!("reference-{round}"));
        run_ok(
            scratch
                .cairn(&repo)
                .args(["restore", &id, "--target"])
                .arg(&reference),
        );
        references.push((id, reference));
    }
    (repo, source, references)
}

/// Every listed snapshot restores exactly as its reference did (compared at the backed-up
/// path: the restore targets themselves are new directories).
pub(super) fn assert_restores(
    scratch: &Scratch,
    repo: &Path,
    source: &Path,
    references: &[(String, PathBuf)],
    context: &str,
) {
    for (i, (id, reference)) in references.iter().enumerate() {
        let target = scratch.path(&format!("check-{i}-{}", id.get(..8).unwrap_or(id)));
        let _ = std::fs::remove_dir_all(&target);
        run_ok(
            scratch
                .cairn(repo)
                .args(["restore", id, "--target"])
                .arg(&target),
        );
        let differences = compare_trees(
            &restored(reference, source),
            &restored(&target, source),
            CompareOptions {
                dir_times: true,
                sparse: false,
            },
            &[],
        );
        assert!(
            differences.is_empty(),
            "{context}: snapshot {id} restores differently:\n{}",
            differences.join("\n")
        );
        std::fs::remove_dir_all(&target).unwrap();
    }
}

fn both_checks(scratch: &Scratch, repo: &Path) {
    run_ok(scratch.cairn(repo).args(["check", "--read-data"]));
    run_ok(scratch.restic(repo).args(["check", "--read-data"]));
}

fn prune_json(scratch: &Scratch, repo: &Path, args: &[&str]) -> serde_json::Value {
    let output = run_ok(scratch.cairn(repo).args(["prune", "--json"]).args(args));
    // Status lines come first; the summary is the last line.
    serde_json::from_str(stdout(&output).lines().last().unwrap_or_default()).unwrap()
}

/// Every file of the repository with its size, to show that nothing changed.
fn file_listing(repo: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![repo.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.push((entry.path(), meta.len()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn prune_reclaims_space_and_every_kept_snapshot_restores_exactly() {
    let scratch = Scratch::new();
    let (repo, source, references) = repository_with_history(&scratch, "auto");
    // Forget the two oldest snapshots: their data is now partly or wholly unused.
    for (id, _) in &references[..2] {
        run_ok(scratch.cairn(&repo).args(["forget", id]));
    }
    let before = super::pack_bytes(&repo);
    let listing = file_listing(&repo);
    let dry = prune_json(&scratch, &repo, &["--dry-run", "--max-unused", "0%"]);
    assert_eq!(file_listing(&repo), listing, "a dry run changes nothing");
    assert!(dry["stats"]["unused_bytes"].as_u64().unwrap() > 0, "{dry}");
    let done = prune_json(&scratch, &repo, &["--max-unused", "0%"]);
    assert_eq!(
        done["stats"], dry["stats"],
        "the dry run planned what the prune did"
    );
    let after = super::pack_bytes(&repo);
    assert!(after < before, "prune freed nothing: {before} → {after}");
    // With 0% allowed, nothing unused is left.
    let again = prune_json(&scratch, &repo, &["--dry-run", "--max-unused", "0%"]);
    assert_eq!(again["stats"]["unused_bytes"], 0, "{again}");
    both_checks(&scratch, &repo);
    assert_restores(&scratch, &repo, &source, &references[2..], "after prune");
}

#[test]
fn max_unused_unlimited_only_deletes_wholly_unused_packs() {
    let scratch = Scratch::new();
    let (repo, source, references) = repository_with_history(&scratch, "auto");
    run_ok(scratch.cairn(&repo).args(["forget", &references[0].0]));
    let summary = prune_json(&scratch, &repo, &["--max-unused", "unlimited"]);
    assert_eq!(summary["packs_repacked"], 0, "{summary}");
    assert_eq!(summary["packs_written"], 0, "{summary}");
    both_checks(&scratch, &repo);
    assert_restores(
        &scratch,
        &repo,
        &source,
        &references[1..],
        "after an unlimited prune",
    );
}

#[test]
fn repack_uncompressed_compresses_old_data() {
    let scratch = Scratch::new();
    let (repo, source, references) = repository_with_history(&scratch, "off");
    let before = super::pack_bytes(&repo);
    let summary = prune_json(
        &scratch,
        &repo,
        &["--repack-uncompressed", "--max-unused", "unlimited"],
    );
    assert!(summary["packs_repacked"].as_u64().unwrap() > 0, "{summary}");
    let after = super::pack_bytes(&repo);
    assert!(
        after * 10 < before * 8,
        "text data should shrink by a fifth at least: {before} → {after}"
    );
    both_checks(&scratch, &repo);
    assert_restores(
        &scratch,
        &repo,
        &source,
        &references,
        "after repacking uncompressed data",
    );
}

#[test]
fn forget_with_prune_and_pruning_across_tools() {
    let scratch = Scratch::new();
    let (repo, source, references) = repository_with_history(&scratch, "auto");
    run_ok(scratch.cairn(&repo).args([
        "forget",
        "--keep-last",
        "2",
        "--prune",
        "--max-unused",
        "0%",
    ]));
    both_checks(&scratch, &repo);
    assert_restores(
        &scratch,
        &repo,
        &source,
        &references[3..],
        "after forget --prune",
    );
    // restic prunes what cairn wrote, cairn prunes what restic wrote.
    run_ok(scratch.cairn(&repo).args(["forget", &references[3].0]));
    run_ok(scratch.restic(&repo).args(["prune", "--max-unused", "0%"]));
    both_checks(&scratch, &repo);
    assert_restores(
        &scratch,
        &repo,
        &source,
        &references[4..],
        "after restic's prune",
    );

    let restic_repo = scratch.path("restic-repo");
    run_ok(
        scratch
            .restic(&restic_repo)
            .args(["init", "--repository-version", "2"]),
    );
    let source = scratch.path("restic-source");
    let mut rng = Rng::new(5);
    for round in 0..3 {
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join(format!("f{round}")), rng.bytes(3 * MIB)).unwrap();
        if round > 0 {
            std::fs::remove_file(source.join(format!("f{}", round - 1))).unwrap();
        }
        run_ok(scratch.restic(&restic_repo).arg("backup").arg(&source));
    }
    let oldest = crate::support::snapshots_json(&mut scratch.restic(&restic_repo))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    run_ok(scratch.restic(&restic_repo).args(["forget", &oldest]));
    run_ok(
        scratch
            .cairn(&restic_repo)
            .args(["prune", "--max-unused", "0%"]),
    );
    both_checks(&scratch, &restic_repo);
}

#[test]
fn prune_refuses_when_a_snapshot_cannot_be_read() {
    let scratch = Scratch::new();
    let (repo, _, references) = repository_with_history(&scratch, "auto");
    run_ok(scratch.cairn(&repo).args(["forget", &references[0].0]));
    let victim = repo.join("snapshots").join(&references[2].0);
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&victim, bytes).unwrap();
    let listing = file_listing(&repo);
    let output = run_fail(scratch.cairn(&repo).args(["prune", "--max-unused", "0%"]));
    let text = stderr(&output);
    assert!(
        text.contains("prune stopped, nothing was deleted") && text.contains(&references[2].0),
        "{text}"
    );
    let after: Vec<(PathBuf, u64)> = file_listing(&repo)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(repo.join("locks")))
        .collect();
    let before: Vec<(PathBuf, u64)> = listing
        .into_iter()
        .filter(|(p, _)| !p.starts_with(repo.join("locks")))
        .collect();
    assert_eq!(after, before, "a refused prune changes nothing");
}

#[test]
fn max_repack_size_bounds_the_rewriting_and_repack_small_merges_small_packs() {
    let scratch = Scratch::new();
    let (repo, source, references) = repository_with_history(&scratch, "auto");
    for (id, _) in &references[..2] {
        run_ok(scratch.cairn(&repo).args(["forget", id]));
    }
    let unbounded = prune_json(&scratch, &repo, &["--dry-run", "--max-unused", "0%"]);
    let unbounded_bytes = unbounded["stats"]["repack_bytes"].as_u64().unwrap();
    // Which blobs share a pack depends on the order the backup's threads finished them, so
    // the byte count varies from run to run; two packs to repack is what the bound needs.
    assert!(
        unbounded["packs_repacked"].as_u64().unwrap() >= 2 && unbounded_bytes > 0,
        "the history must need repacking: {unbounded}"
    );
    let bound = unbounded_bytes / 2;
    let bounded = prune_json(
        &scratch,
        &repo,
        &[
            "--max-unused",
            "0%",
            "--max-repack-size",
            &bound.to_string(),
        ],
    );
    let bounded_bytes = bounded["stats"]["repack_bytes"].as_u64().unwrap();
    assert!(bounded_bytes < unbounded_bytes, "{bounded}");
    // The bound leaves unused data behind that an unbounded prune would have reclaimed.
    let left_unused = bounded["stats"]["remaining_unused_bytes"].as_u64().unwrap();
    assert!(left_unused > 0, "{bounded}");
    both_checks(&scratch, &repo);
    assert_restores(
        &scratch,
        &repo,
        &source,
        &references[2..],
        "after a bounded prune",
    );

    // Ten tiny backups make ten tiny data packs; --repack-small merges them into one.
    let small_repo = scratch.init_repo("small-repo");
    let small_source = scratch.path("small-source");
    let mut rng = Rng::new(11);
    for i in 0..10 {
        std::fs::create_dir_all(&small_source).unwrap();
        std::fs::write(small_source.join(format!("f{i}")), rng.bytes(200_000)).unwrap();
        run_ok(scratch.cairn(&small_repo).arg("backup").arg(&small_source));
    }
    let packs_before = count_files(&small_repo.join("data"));
    let summary = prune_json(&scratch, &small_repo, &["--repack-small"]);
    assert!(
        summary["packs_repacked"].as_u64().unwrap() >= 10,
        "{summary}"
    );
    let packs_after = count_files(&small_repo.join("data"));
    assert!(
        packs_after * 3 < packs_before,
        "{packs_before} packs became {packs_after}"
    );
    both_checks(&scratch, &small_repo);
}

fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                count += 1;
            }
        }
    }
    count
}

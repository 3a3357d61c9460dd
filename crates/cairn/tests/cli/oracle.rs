//! restic is the oracle: what cairn writes, restic checks and restores; what restic writes,
//! cairn checks and restores; both back up into each other's repositories and agree on ids.

use std::path::{Path, PathBuf};

use crate::support::compare::CompareOptions;
use crate::support::{compare_trees, fixture, restored, run_ok, snapshots_json, Scratch};

/// The subtree id of `path` (absolute) inside the snapshot tree `root`, read with restic.
fn subtree_id(scratch: &Scratch, repo: &Path, root: &str, path: &Path) -> String {
    let mut tree = root.to_string();
    for part in path.strip_prefix("/").unwrap().components() {
        let name = part.as_os_str().to_str().unwrap();
        let out = run_ok(scratch.restic(repo).args(["cat", "blob", &tree]));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let node = json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} in tree {tree}"));
        tree = node["subtree"].as_str().unwrap().to_string();
    }
    tree
}

/// The content blob ids of a file (absolute path) in a snapshot, read with restic.
fn content_ids(scratch: &Scratch, repo: &Path, root: &str, file: &Path) -> Vec<String> {
    let dir = subtree_id(scratch, repo, root, file.parent().unwrap());
    let out = run_ok(scratch.restic(repo).args(["cat", "blob", &dir]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    let node = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap();
    node["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn assert_same_tree(expected: &Path, actual: &Path, ignore: &[PathBuf], sparse: bool) {
    let differences = compare_trees(
        expected,
        actual,
        CompareOptions {
            dir_times: true,
            sparse,
        },
        ignore,
    );
    assert!(
        differences.is_empty(),
        "restored tree differs:\n{}",
        differences.join("\n")
    );
}

#[test]
fn restic_checks_and_restores_what_cairn_writes_and_the_reverse() {
    let scratch = Scratch::new();
    let fixture = fixture::build_full(&scratch.path("data"), 1);
    let source = fixture.root.clone();

    // 1. cairn writes; restic checks every byte and restores the tree exactly.
    let cairn_repo = scratch.init_repo("cairn-repo");
    run_ok(scratch.cairn(&cairn_repo).arg("backup").arg(&source));
    run_ok(scratch.restic(&cairn_repo).args(["check", "--read-data"]));
    let target = scratch.path("restic-restored");
    run_ok(
        scratch
            .restic(&cairn_repo)
            .args(["restore", "latest", "--target"])
            .arg(&target),
    );
    // restic 0.14 has no linktarget_raw: a non-UTF-8 symlink target comes back mangled.
    assert_same_tree(
        &source,
        &restored(&target, &source),
        &fixture.restic_014_lossy,
        false,
    );

    // 2. restic writes; cairn checks every byte and restores the tree exactly (holes included).
    let restic_repo = scratch.path("restic-repo");
    run_ok(
        scratch
            .restic(&restic_repo)
            .args(["init", "--repository-version", "2"]),
    );
    run_ok(scratch.restic(&restic_repo).arg("backup").arg(&source));
    run_ok(scratch.cairn(&restic_repo).args(["check", "--read-data"]));
    let target = scratch.path("cairn-restored");
    run_ok(
        scratch
            .cairn(&restic_repo)
            .args(["restore", "latest", "--verify", "--target"])
            .arg(&target),
    );
    assert_same_tree(
        &source,
        &restored(&target, &source),
        &fixture.restic_014_lossy,
        true,
    );

    // cairn's restore from its own repository is exact, non-UTF-8 link target included.
    let target = scratch.path("cairn-own");
    run_ok(
        scratch
            .cairn(&cairn_repo)
            .args(["restore", "latest", "--verify", "--target"])
            .arg(&target),
    );
    assert_same_tree(&source, &restored(&target, &source), &[], true);

    // 3. Each tool backs up into the other's repository; both checks pass afterwards.
    run_ok(scratch.cairn(&restic_repo).arg("backup").arg(&source));
    run_ok(scratch.restic(&cairn_repo).arg("backup").arg(&source));
    for repo in [&cairn_repo, &restic_repo] {
        run_ok(scratch.cairn(repo).args(["check", "--read-data"]));
        run_ok(scratch.restic(repo).args(["check", "--read-data"]));
    }
    // The same directory has the same tree id, whichever tool backed it up.
    let restic_list = snapshots_json(&mut scratch.restic(&restic_repo));
    let (restic_root, cairn_root) = (
        restic_list[0]["tree"].as_str().unwrap().to_string(),
        restic_list[1]["tree"].as_str().unwrap().to_string(),
    );
    for dir in ["doc", "small", "names", "hardlinks", "modes", "nested"] {
        let path = source.join(dir);
        assert_eq!(
            subtree_id(&scratch, &restic_repo, &restic_root, &path),
            subtree_id(&scratch, &restic_repo, &cairn_root, &path),
            "tree of {dir} differs between restic and cairn"
        );
    }
    // The same file has the same data blobs.
    for file in [
        "big/random-40m.bin",
        "big/app.log",
        "multi-chunk.bin",
        "sparse.img",
    ] {
        let path = source.join(file);
        let by_restic = content_ids(&scratch, &restic_repo, &restic_root, &path);
        assert!(!by_restic.is_empty());
        assert_eq!(
            by_restic,
            content_ids(&scratch, &restic_repo, &cairn_root, &path),
            "blobs of {file}"
        );
    }
}

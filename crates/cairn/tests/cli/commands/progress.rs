//! `--json` status lines: every long command renders the engine's one progress model the same
//! way (restic's backup status fields, then the model's own), each of its phases in order,
//! and ends with the operation done.

use std::path::Path;

use serde_json::Value;

use super::{json_lines, small_tree, write, MIB};
use crate::support::rng::Rng;
use crate::support::{run_ok, Scratch};

/// The status lines of a `--json` run.
fn status_lines(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["message_type"] == "status")
        .cloned()
        .collect()
}

/// Every status line has the model's fields and restic's; returns the phases in the order
/// they came, each once.
fn phases(statuses: &[Value], operation: &str) -> Vec<String> {
    assert!(!statuses.is_empty(), "no status lines");
    let mut phases: Vec<String> = Vec::new();
    for status in statuses {
        for field in [
            "percent_done",
            "total_files",
            "files_done",
            "total_bytes",
            "bytes_done",
            "seconds_elapsed",
            "error_count",
            "files_total",
            "bytes_total",
            "rate_bytes_per_second",
            "eta_seconds",
            "current_item",
        ] {
            assert!(status.get(field).is_some(), "{field} missing: {status}");
        }
        assert_eq!(status["operation"], operation, "{status}");
        let phase = status["phase"].as_str().expect("phase").to_string();
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
    }
    phases
}

/// The last status line says the operation is done, all of it.
fn ends_done(statuses: &[Value]) -> &Value {
    let last = statuses.last().unwrap();
    assert_eq!(last["phase"], "done", "{last}");
    assert_eq!(last["percent_done"], 1.0, "{last}");
    assert_eq!(last["seconds_remaining"], 0, "{last}");
    last
}

fn json_run(scratch: &Scratch, repo: &Path, args: &[&str]) -> Vec<Value> {
    json_lines(&run_ok(scratch.cairn(repo).arg("--json").args(args)))
}

/// A repository with two snapshots of a tree of a few MiB; the second drops half of it.
fn two_snapshots(scratch: &Scratch) -> (std::path::PathBuf, std::path::PathBuf) {
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    small_tree(&src, 3);
    let mut rng = Rng::new(5);
    for i in 0..4 {
        write(&src.join(format!("big/{i}.bin")), rng.bytes(2 * MIB));
    }
    run_ok(scratch.cairn(&repo).args(["-q", "backup"]).arg(&src));
    for i in 0..2 {
        std::fs::remove_file(src.join(format!("big/{i}.bin"))).unwrap();
    }
    run_ok(scratch.cairn(&repo).args(["-q", "backup"]).arg(&src));
    (repo, src)
}

#[test]
fn backup_status_lines_carry_the_model_and_end_at_percent_done_one() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    small_tree(&src, 1);
    let lines = json_lines(&run_ok(
        scratch.cairn(&repo).args(["backup", "--json"]).arg(&src),
    ));
    let statuses = status_lines(&lines);
    assert_eq!(
        phases(&statuses, "backup"),
        ["loading index", "uploading", "saving", "done"]
    );
    let last = ends_done(&statuses);
    let summary = summary_of_lines(&lines);
    assert_eq!(
        last["bytes_done"], summary["total_bytes_processed"],
        "{last}"
    );
    assert_eq!(
        last["total_bytes"], summary["total_bytes_processed"],
        "{last}"
    );
    assert_eq!(
        last["files_done"], summary["total_files_processed"],
        "{last}"
    );
    assert_eq!(last["total_files"], last["files_total"], "{last}");
    assert_eq!(last["error_count"], 0);
    // The summary stays last, after the final status line.
    assert_eq!(lines.last().unwrap()["message_type"], "summary");
}

fn summary_of_lines(lines: &[Value]) -> &Value {
    let last = lines.last().unwrap();
    assert_eq!(last["message_type"], "summary", "{last}");
    last
}

#[test]
fn prune_status_lines_go_through_its_phases() {
    let scratch = Scratch::new();
    let (repo, _) = two_snapshots(&scratch);
    run_ok(
        scratch
            .cairn(&repo)
            .args(["-q", "forget", "--keep-last", "1"]),
    );
    let lines = json_run(&scratch, &repo, &["prune", "--max-unused", "0"]);
    let statuses = status_lines(&lines);
    assert_eq!(
        phases(&statuses, "prune"),
        [
            "loading index",
            "finding used blobs",
            "repacking",
            "deleting",
            "done"
        ]
    );
    let last = ends_done(&statuses);
    let summary = summary_of_lines(&lines);
    let packs =
        summary["packs_deleted"].as_u64().unwrap() + summary["packs_repacked"].as_u64().unwrap();
    assert!(packs > 0, "{summary}");
    assert_eq!(last["files_total"], packs, "{last}");
    assert_eq!(last["files_done"], packs, "{last}");
}

#[test]
fn check_status_lines_go_through_its_phases_and_count_the_packs_read() {
    let scratch = Scratch::new();
    let (repo, _) = two_snapshots(&scratch);
    let lines = json_run(&scratch, &repo, &["check", "--read-data"]);
    let statuses = status_lines(&lines);
    assert_eq!(
        phases(&statuses, "check"),
        [
            "loading index",
            "checking structure",
            "reading data",
            "done"
        ]
    );
    let last = ends_done(&statuses);
    let report = summary_of_lines(&lines);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(last["files_done"], report["packs_read"], "{last}");
    let pack_bytes: u64 = walk_sizes(&repo.join("data"));
    assert_eq!(last["bytes_done"], pack_bytes, "{last}");
    assert_eq!(last["bytes_total"], pack_bytes, "{last}");
}

fn walk_sizes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                walk_sizes(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[test]
fn mirror_sync_and_restore_status_lines_take_the_same_form() {
    let scratch = Scratch::new();
    let (repo, _) = two_snapshots(&scratch);
    let mirror = scratch.path("mirror");
    let dest = mirror.display().to_string();
    let lines = json_run(&scratch, &repo, &["mirror", "sync", &dest]);
    let statuses = status_lines(&lines);
    assert_eq!(
        phases(&statuses, "mirror"),
        ["listing", "uploading", "deleting", "done"]
    );
    let last = ends_done(&statuses);
    let summary = summary_of_lines(&lines);
    assert_eq!(last["bytes_done"], summary["uploaded_bytes"], "{last}");
    assert_eq!(last["bytes_total"], summary["uploaded_bytes"], "{last}");
    assert_eq!(last["files_done"], summary["uploaded_objects"], "{last}");

    let target = scratch.path("restored");
    let lines = json_run(
        &scratch,
        &repo,
        &[
            "mirror",
            "restore",
            &dest,
            "--mode",
            "copy",
            "--target",
            target.to_str().unwrap(),
        ],
    );
    let statuses = status_lines(&lines);
    assert_eq!(
        phases(&statuses, "mirror"),
        ["listing", "downloading", "deleting", "done"]
    );
    let last = ends_done(&statuses);
    let summary = summary_of_lines(&lines);
    assert_eq!(last["bytes_done"], summary["fetched_bytes"], "{last}");
    assert_eq!(last["files_done"], summary["fetched_objects"], "{last}");
}

#[test]
fn restore_and_copy_status_lines_end_done() {
    let scratch = Scratch::new();
    let (repo, _) = two_snapshots(&scratch);
    let target = scratch.path("target");
    let lines = json_run(
        &scratch,
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    let statuses = status_lines(&lines);
    assert_eq!(
        phases(&statuses, "restore"),
        ["restoring", "finishing", "done"]
    );
    let last = ends_done(&statuses);
    let summary = summary_of_lines(&lines);
    assert_eq!(last["bytes_done"], summary["bytes_restored"], "{last}");
    assert_eq!(last["files_done"], summary["files_restored"], "{last}");

    let other = scratch.init_repo("other");
    let mut copy = scratch.cairn(&other);
    copy.args(["--json", "copy", "--from-repo"])
        .arg(&repo)
        .arg("--from-password-file")
        .arg(&scratch.password_file);
    let lines = json_lines(&run_ok(&mut copy));
    let statuses = status_lines(&lines);
    assert_eq!(
        phases(&statuses, "copy"),
        ["loading index", "planning", "copying", "done"]
    );
    let last = ends_done(&statuses);
    assert_eq!(last["files_done"], 2, "{last}");
    assert_eq!(last["files_total"], 2, "{last}");
}

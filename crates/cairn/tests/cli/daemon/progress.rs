//! A running job's progress, read the way people read it: `cairn jobs show ID` on a real
//! daemon backing up a large file. The record is the engine's progress model as the CLI's
//! JSON status lines carry it, and it follows the job within the 2 seconds.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::faults::slow_setup;
use super::DaemonSetup;
use crate::support::{run_ok, stdout};

/// `cairn jobs show ID --json`: the job's record.
fn show(setup: &DaemonSetup, id: i64) -> Value {
    let output = run_ok(
        setup
            .cairn()
            .args(["jobs", "show", &id.to_string(), "--json"]),
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("jobs show --json");
    answer["job"].clone()
}

#[test]
fn a_running_backup_shows_its_progress_within_two_seconds_and_it_moves() {
    let setup = slow_setup();
    let _daemon = setup.start();
    let started = run_ok(setup.cairn().args(["--json", "jobs", "start", "big"]));
    let started: Value = serde_json::from_slice(&started.stdout).expect("jobs start --json");
    let id = started["id"].as_i64().expect("job id");

    // From the moment the job is seen running, its progress must show within 2 seconds.
    let deadline = Instant::now() + Duration::from_secs(60);
    let running_at = loop {
        let job = show(&setup, id);
        if job["state"] == "running" {
            break Instant::now();
        }
        assert!(job["state"] == "queued", "job {id} did not run: {job}");
        assert!(Instant::now() < deadline, "job {id} never ran: {job}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let first = loop {
        let job = show(&setup, id);
        let progress = &job["progress"];
        if progress["phase"].is_string() && progress["bytes_done"].as_u64().unwrap_or(0) > 0 {
            break progress.clone();
        }
        assert!(
            running_at.elapsed() < Duration::from_secs(2) || progress["phase"].is_string(),
            "no progress 2 s after the job started: {job}"
        );
        assert!(
            job["state"] == "running",
            "job {id} ended before reading: {job}"
        );
        assert!(
            running_at.elapsed() < Duration::from_secs(30),
            "nothing read after 30 s: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(first["operation"], "backup", "{first}");
    assert_eq!(first["phase"], "uploading", "{first}");
    for field in [
        "percent_done",
        "files_done",
        "files_total",
        "bytes_total",
        "rate_bytes_per_second",
        "eta_seconds",
        "current_item",
        "seconds_elapsed",
        "error_count",
    ] {
        assert!(
            first.get(field).is_some(),
            "progress lacks {field}: {first}"
        );
    }
    assert!(first["current_item"].is_string(), "{first}");

    // While it reads, bytes_done never stands still for 2 seconds in the record.
    let mut last = first["bytes_done"].as_u64().unwrap();
    let mut changed_at = Instant::now();
    let mut changes = 0;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(4) {
        let job = show(&setup, id);
        if job["state"] != "running" || job["progress"]["phase"] != "uploading" {
            break;
        }
        let bytes = job["progress"]["bytes_done"].as_u64().unwrap();
        assert!(bytes >= last, "bytes_done went back: {last} then {bytes}");
        if bytes > last {
            changes += 1;
            last = bytes;
            changed_at = Instant::now();
        }
        assert!(
            changed_at.elapsed() < Duration::from_secs(2),
            "bytes_done stood at {last} for 2 s: {job}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(changes >= 1, "bytes_done did not move from {last}");

    // People read the same model.
    let text = stdout(&run_ok(setup.cairn().args([
        "jobs",
        "show",
        &id.to_string(),
    ])));
    assert!(text.contains("progress: backup "), "{text}");

    // The finished job keeps its last progress: done, all of it.
    let jobs = setup.wait_for("the backup to end", Duration::from_secs(300), |jobs| {
        jobs.iter()
            .any(|j| j["id"] == id && j["state"] == "succeeded")
    });
    let done = jobs.iter().find(|j| j["id"] == id).unwrap();
    assert_eq!(done["progress"]["phase"], "done", "{done}");
    assert_eq!(done["progress"]["percent_done"], 1.0, "{done}");
    // The 1 GiB file and the setup's small one.
    assert_eq!(
        done["progress"]["bytes_done"].as_u64(),
        done["progress"]["bytes_total"].as_u64(),
        "{done}"
    );
    assert!(
        done["progress"]["bytes_done"].as_u64().unwrap() > 1 << 30,
        "{done}"
    );
    setup.restic_check();
}

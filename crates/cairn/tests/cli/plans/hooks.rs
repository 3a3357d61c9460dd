//! Hooks through `cairn run`: their order, what they see, their output in the run's log, a
//! failing one, a hung one.

use std::time::{Duration, Instant};

use super::PlanSetup;
use crate::support::{run_ok, snapshots_json, stderr};

/// A hooks table whose every hook appends `NAME STATUS SNAPSHOT ERROR` to `log`.
fn recording_hooks(log: &std::path::Path, before: &str) -> String {
    let line = |name: &str| {
        format!(
            "\"echo {name} $CAIRN_PLAN $CAIRN_STATUS [$CAIRN_SNAPSHOT_ID] [$CAIRN_ERROR] >> {}\"",
            log.display()
        )
    };
    format!(
        "[plans.web.hooks]\nbefore_backup = [{}, {before:?}]\nafter_backup = [{}]\n\
         on_error = [{}]\nfinally = [{}]\ntimeout = \"2s\"\n",
        line("before"),
        line("after"),
        line("on_error"),
        line("finally"),
    )
}

#[test]
fn hooks_run_in_order_with_the_run_in_their_environment_and_their_output_logged() {
    let probe = tempfile::tempdir().unwrap();
    let log = probe.path().join("hooks.log");
    let setup = PlanSetup::new(
        "",
        &recording_hooks(&log, "echo hello from a hook; echo to stderr >&2"),
    );
    let run = setup.run_ok(&[]);
    let snapshot = run["job"]["snapshot"].as_str().unwrap();
    let recorded = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        recorded,
        format!(
            "before web running [] []\nafter web running [{snapshot}] []\nfinally web success [{snapshot}] []\n"
        )
    );
    let steps = PlanSetup::steps(&run);
    assert_eq!(
        steps,
        [
            "before_backup: succeeded",
            "open repository: succeeded",
            "backup: succeeded",
            "after_backup: succeeded",
            "finally: succeeded"
        ]
    );
    let log_lines: Vec<(String, String)> = run["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["source"].as_str().unwrap().into(),
                l["line"].as_str().unwrap().into(),
            )
        })
        .collect();
    for expected in ["hello from a hook", "to stderr"] {
        assert!(
            log_lines.contains(&("hook before_backup".to_string(), expected.to_string())),
            "{log_lines:?}"
        );
    }
}

#[test]
fn a_failing_before_hook_aborts_before_anything_is_read() {
    let probe = tempfile::tempdir().unwrap();
    let log = probe.path().join("hooks.log");
    let setup = PlanSetup::new(
        "",
        &recording_hooks(&log, "echo cannot stop the app >&2; exit 3"),
    );
    let output = setup.cairn().args(["run", "web"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(
            "before_backup hook `echo cannot stop the app >&2; exit 3` failed (exit status: 3)"
        ),
        "{message}"
    );
    let recorded = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = recorded
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(names, ["before", "on_error", "finally"], "{recorded}");
    assert!(
        recorded.contains("finally web failure [] [before_backup hook"),
        "{recorded}"
    );
    assert!(
        snapshots_json(&mut setup.scratch.cairn(setup.repo())).is_empty(),
        "nothing backed up"
    );
    let plans: Vec<serde_json::Value> =
        serde_json::from_slice(&run_ok(setup.cairn().args(["plans", "--json"])).stdout).unwrap();
    assert_eq!(plans[0]["last_run"]["state"], "failed");
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_fails_the_run() {
    let probe = tempfile::tempdir().unwrap();
    let log = probe.path().join("hooks.log");
    let setup = PlanSetup::new("", &recording_hooks(&log, "sleep 60"));
    let started = Instant::now();
    let output = setup.cairn().args(["run", "web"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let message = stderr(&output);
    assert!(
        message.contains("did not finish within 2s and was killed"),
        "{message}"
    );
    assert!(snapshots_json(&mut setup.scratch.cairn(setup.repo())).is_empty());
}

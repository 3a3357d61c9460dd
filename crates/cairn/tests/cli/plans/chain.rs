//! The chain of `cairn run`: backup, retention as the CLI's forget decides it, prune after a
//! forget that removed something, check when due, offsite; dry runs; errors.

use std::os::unix::fs::PermissionsExt;

use cairn_storage::s3_test_server::{self as server, unique_prefix, S3TestServer};

use super::PlanSetup;
use crate::s3::with_s3_env;
use crate::support::{restic, run_fail, run_ok, snapshots_json, stderr, stdout};

fn ids(list: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = list
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn runs_back_up_keep_what_forget_keeps_prune_and_check_when_due() {
    let setup = PlanSetup::new(
        "retention = { keep_last = 2 }\ncheck = { every = \"1d\" }\n",
        "",
    );
    let first = setup.run_ok(&[]);
    assert_eq!(first["job"]["state"], "succeeded", "{first}");
    assert_eq!(
        PlanSetup::steps(&first),
        [
            "open repository: succeeded",
            "backup: succeeded",
            "forget: succeeded",
            "check: succeeded"
        ]
    );
    for day in 2..=3 {
        std::fs::write(setup.source.join("notes.txt"), format!("day {day}\n")).unwrap();
        let run = setup.run_ok(&[]);
        let steps = PlanSetup::steps(&run);
        assert!(
            steps.contains(&"check: skipped".to_string()),
            "checked at most daily: {steps:?}"
        );
        if day == 3 {
            assert!(steps.contains(&"prune: succeeded".to_string()), "{steps:?}");
        } else {
            assert!(
                !steps.iter().any(|s| s.starts_with("prune")),
                "nothing forgotten: {steps:?}"
            );
        }
    }
    let snapshots = snapshots_json(&mut setup.scratch.cairn(setup.repo()));
    assert_eq!(snapshots.len(), 2, "keep_last = 2");
    for snapshot in &snapshots {
        let tags: Vec<&str> = snapshot["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tags, ["plan:web"]);
    }
    // The kept set is what restic's forget keeps for the same policy.
    let output = run_ok(setup.scratch.restic(setup.repo()).args([
        "forget",
        "--keep-last",
        "2",
        "--tag",
        "plan:web",
        "--dry-run",
        "--json",
    ]));
    let groups: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let kept: Vec<serde_json::Value> = groups[0]["keep"].as_array().unwrap().clone();
    assert_eq!(ids(&kept), ids(&snapshots));
    assert!(groups[0]["remove"].is_null() || groups[0]["remove"].as_array().unwrap().is_empty());
    run_ok(
        setup
            .scratch
            .restic(setup.repo())
            .args(["check", "--read-data"]),
    );

    // Runs are recorded in the configured state directory, which only its owner may read.
    let mode = std::fs::metadata(&setup.state)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    assert!(setup.state.join("state.db").exists());
    // `cairn plans` reports the last run.
    let plans: Vec<serde_json::Value> =
        serde_json::from_slice(&run_ok(setup.cairn().args(["plans", "--json"])).stdout).unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0]["name"], "web");
    assert_eq!(plans[0]["last_run"]["state"], "succeeded");
    assert_eq!(plans[0]["last_run"]["snapshot"], snapshots[1]["id"]);
    let table = stdout(&run_ok(setup.cairn().arg("plans")));
    assert!(table.lines().nth(1).unwrap().starts_with("web "), "{table}");
}

#[test]
fn a_dry_run_changes_nothing_runs_no_hook_and_is_recorded() {
    let marker = "/nonexistent";
    let setup = PlanSetup::new(
        "retention = { keep_last = 1 }\n",
        &format!("[plans.web.hooks]\nbefore_backup = [\"touch {marker}-cairn-dry-run-hook\"]\n"),
    );
    let run = setup.run_ok(&["--dry-run"]);
    assert_eq!(run["job"]["dry_run"], true);
    assert_eq!(run["job"]["state"], "succeeded");
    assert_eq!(run["job"]["snapshot"], serde_json::Value::Null);
    assert_eq!(
        PlanSetup::steps(&run),
        [
            "before_backup: skipped",
            "open repository: succeeded",
            "backup: succeeded",
            "forget: succeeded"
        ]
    );
    assert!(snapshots_json(&mut setup.scratch.cairn(setup.repo())).is_empty());
    assert!(!std::path::Path::new("/nonexistent-cairn-dry-run-hook").exists());
    let plans: Vec<serde_json::Value> =
        serde_json::from_slice(&run_ok(setup.cairn().args(["plans", "--json"])).stdout).unwrap();
    assert_eq!(plans[0]["last_run"]["dry_run"], true);
}

#[test]
fn an_unknown_plan_and_a_broken_config_are_one_line() {
    let setup = PlanSetup::new("", "");
    let output = run_fail(setup.cairn().args(["run", "wbe"]));
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("has no plan \"wbe\"; did you mean \"web\""),
        "{text}"
    );
    std::fs::write(&setup.config, "[plans.web]\nrepository = 1\n").unwrap();
    let output = run_fail(setup.cairn().args(["run", "web"]));
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(&format!("{}:", setup.config.display())),
        "{text}"
    );
}

#[test]
fn a_repository_with_an_offsite_is_mirrored_after_the_backup() {
    let offsite = S3TestServer::shared();
    let prefix = unique_prefix("plan-offsite");
    let credentials = {
        let setup_dir = tempfile::tempdir().unwrap();
        let path = setup_dir.path().join("offsite.env");
        std::fs::write(
            &path,
            format!(
                "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
                server::ACCESS_KEY_ID,
                server::SECRET_ACCESS_KEY
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        (setup_dir, path)
    };
    let destination = offsite.url(server::BUCKET, &prefix);
    let setup = PlanSetup::new(
        "",
        &format!(
            "[repositories.main.offsite]\ndestination = \"{destination}\"\ncredentials_file = \"{}\"\n",
            credentials.1.display()
        ),
    );
    let run = setup.run_ok(&[]);
    let steps = PlanSetup::steps(&run);
    assert_eq!(steps.last().unwrap(), "offsite: succeeded", "{steps:?}");
    let mut restic = restic();
    with_s3_env(&mut restic)
        .arg("-r")
        .arg(&destination)
        .arg("--password-file")
        .arg(&setup.scratch.password_file);
    let mirrored = snapshots_json(restic.arg("--no-lock"));
    assert_eq!(mirrored.len(), 1);
    assert_eq!(mirrored[0]["id"], run["job"]["snapshot"]);
}

//! The schedule and the queue of a real daemon: scheduled runs happen, one job per repository
//! runs at a time under a burst of manual starts, and what status and metrics report.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{status, DaemonSetup};
use crate::support::run_ok;

#[test]
fn scheduled_runs_happen_and_status_and_metrics_report_them() {
    let setup = DaemonSetup::new(&[("web", "schedule = \"*/2 * * * * *\"\n")], "");
    let _daemon = setup.start();
    let jobs = setup.wait_for("two scheduled backups", Duration::from_secs(60), |jobs| {
        jobs.iter()
            .filter(|j| j["trigger"] == "schedule" && j["state"] == "succeeded")
            .count()
            >= 2
    });
    for job in &jobs {
        for field in [
            "id",
            "kind",
            "plan",
            "repository",
            "state",
            "trigger",
            "created",
            "started",
            "finished",
            "error",
            "progress",
        ] {
            assert!(job.get(field).is_some(), "job lacks {field}: {job}");
        }
    }
    let done = jobs.iter().find(|j| j["state"] == "succeeded").unwrap();
    assert_eq!(done["kind"], "backup");
    assert_eq!(done["plan"], "web");
    assert_eq!(done["progress"]["files_done"], 1, "{done}");
    let plans = status(&setup);
    assert_eq!(plans[0]["name"], "web");
    assert!(plans[0]["last_success"].is_string(), "{plans:?}");
    assert_eq!(plans[0]["stale"], false);

    let (code, text) = super::faults::http(&setup, "GET", "/metrics");
    assert_eq!(code, 200);
    let metrics = parse_metrics(&text);
    assert!(metrics[&sample("cairn_plan_last_success_timestamp_seconds", "plan", "web")] > 1.7e9);
    assert_eq!(metrics[&sample("cairn_plan_stale", "plan", "web")], 0.0);
    assert!(metrics[&sample("cairn_jobs", "state", "succeeded")] >= 2.0);
    assert!(metrics[&sample("cairn_repository_size_bytes", "repository", "main")] > 0.0);
}

#[test]
fn a_burst_of_manual_starts_runs_one_job_per_repository_at_a_time() {
    let setup = DaemonSetup::new(
        &[("a", ""), ("b", ""), ("c", "")],
        "[daemon]\nmax_concurrent_jobs = 3\n",
    );
    let _daemon = setup.start();
    for _ in 0..2 {
        for plan in ["a", "b", "c"] {
            run_ok(setup.cairn().args(["-q", "jobs", "start", plan]));
        }
    }
    let jobs = setup.wait_for("six jobs to end", Duration::from_secs(120), |jobs| {
        jobs.len() == 6 && jobs.iter().all(|j| j["state"] == "succeeded")
    });
    // All three plans share one repository: no two of their runs overlapped.
    let mut spans: Vec<(String, String)> = jobs
        .iter()
        .map(|j| {
            (
                j["started"].as_str().unwrap().to_string(),
                j["finished"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two jobs of one repository overlapped: {pair:?}"
        );
    }
    assert!(jobs.iter().all(|j| j["trigger"] == "manual"));
    setup.restic_check();
}

fn sample(name: &str, label: &str, value: &str) -> (String, Vec<(String, String)>) {
    (
        name.to_string(),
        vec![(label.to_string(), value.to_string())],
    )
}

/// Samples by (name, labels), through the prometheus-parse crate's text-format parser.
fn parse_metrics(text: &str) -> BTreeMap<(String, Vec<(String, String)>), f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("a valid Prometheus text scrape");
    let mut out = BTreeMap::new();
    for sample in scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Counter(v) => v,
            other => panic!("{} is not a gauge or counter: {other:?}", sample.metric),
        };
        let mut labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        out.insert((sample.metric, labels), value);
    }
    assert!(
        scrape.docs.contains_key("cairn_plan_stale"),
        "HELP lines are parsed"
    );
    out
}

#[test]
fn a_run_missed_while_the_daemon_was_down_runs_once_at_start() {
    // Hourly; the daemon was last seen five hours ago: five runs missed, one catch-up.
    let setup = DaemonSetup::new(&[("web", "schedule = \"0 * * * *\"\n")], "");
    {
        let state = cairn_state::StateStore::open(setup.state_dir()).unwrap();
        let long_ago = chrono::Utc::now() - chrono::Duration::hours(5);
        state
            .set_daemon_value("last_tick", &long_ago.to_rfc3339())
            .unwrap();
    }
    let _daemon = setup.start();
    let jobs = setup.wait_for("the catch-up run", Duration::from_secs(60), |jobs| {
        jobs.iter().any(|j| j["state"] == "succeeded")
    });
    std::thread::sleep(Duration::from_secs(2));
    let jobs_after = setup.jobs();
    assert_eq!(
        jobs_after.len(),
        1,
        "one catch-up, not one per missed run: {jobs_after:#?}"
    );
    assert_eq!(jobs[0]["trigger"], "catch-up");
}

#[test]
fn a_job_log_can_be_followed_to_the_end_and_shown_with_its_steps() {
    let setup = DaemonSetup::new(
        &[(
            "web",
            "[plans.web.hooks]\nbefore_backup = [\"echo first; sleep 1; echo second\"]\n",
        )],
        "",
    );
    let _daemon = setup.start();
    let queued: serde_json::Value = serde_json::from_slice(
        &run_ok(setup.cairn().args(["jobs", "start", "web", "--json"])).stdout,
    )
    .unwrap();
    let id = queued["id"].as_i64().unwrap().to_string();
    let output = run_ok(setup.cairn().args(["jobs", "log", &id, "--follow"]));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("hook before_backup: first"), "{text}");
    assert!(text.contains("hook before_backup: second"), "{text}");
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("job {id} succeeded")));
    let shown = String::from_utf8_lossy(&run_ok(setup.cairn().args(["jobs", "show", &id])).stdout)
        .into_owned();
    for step in ["before_backup", "open repository", "backup"] {
        assert!(shown.contains(step), "{shown}");
    }
}

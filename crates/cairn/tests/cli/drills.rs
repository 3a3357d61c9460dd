//! Restore drills through the real binary: a verified sample restore with its report and RTO,
//! a drill of a damaged repository failing with the object named, and the daemon's drill
//! raising `drill_failed` and exporting the RTO.

use std::time::{Duration, Instant};

use cairn_jobs::notify::test_receivers::HttpReceiver;

use crate::daemon::DaemonSetup;
use crate::plans::PlanSetup;
use crate::support::damage::flip_byte;
use crate::support::rng::Rng;
use crate::support::{run_fail, run_ok, stdout};

/// 150 files of 1 KiB to 40 KiB in 3 directories, plus the setup's two.
fn many_files(setup: &PlanSetup) -> u64 {
    for dir in 0..3 {
        let path = setup.source.join(format!("dir-{dir}"));
        std::fs::create_dir_all(&path).unwrap();
        for file in 0..50 {
            let size = 1024 * (1 + (dir * 50 + file) % 40);
            let content = Rng::new((dir * 50 + file) as u64).bytes(size);
            std::fs::write(path.join(format!("file-{file}.bin")), content).unwrap();
        }
    }
    152
}

/// Flips a byte in the middle of every pack of file content (the large ones; the tree packs of
/// these small trees stay small and intact) of a local repository.
fn damage_every_data_pack(repo: &std::path::Path) -> usize {
    let mut damaged = 0;
    for dir in std::fs::read_dir(repo.join("data")).unwrap() {
        for pack in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = pack.unwrap().path();
            let len = std::fs::metadata(&path).unwrap().len();
            if len < 256 * 1024 {
                continue;
            }
            flip_byte(&path, len / 3);
            damaged += 1;
        }
    }
    damaged
}

fn drill_json(setup: &PlanSetup) -> (std::process::Output, serde_json::Value) {
    let output = setup
        .cairn()
        .args(["drills", "run", "web", "--json"])
        .output()
        .unwrap();
    let value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("drills run --json: {e}: {}", stdout(&output)));
    (output, value)
}

#[test]
fn a_drill_restores_a_verified_sample_records_its_report_and_removes_its_sandbox() {
    let setup = PlanSetup::new(
        "[plans.web.drill]\nschedule = \"@weekly\"\nsample = \"5%\"\nsample_min_files = 3\n",
        "",
    );
    let files = many_files(&setup);
    let backup = setup.run_ok(&[]);
    let snapshot = backup["job"]["snapshot"].as_str().unwrap().to_string();

    let (output, run) = drill_json(&setup);
    assert!(output.status.success(), "{run:#}");
    assert_eq!(run["job"]["kind"], "drill");
    assert_eq!(run["job"]["state"], "succeeded", "{run:#}");
    assert_eq!(
        PlanSetup::steps(&run),
        [
            "open repository: succeeded",
            "restore sample: succeeded",
            "load databases: skipped"
        ]
    );
    let report = &run["drill"];
    assert_eq!(report["snapshot"], snapshot.as_str());
    assert_eq!(report["files_in_snapshot"], files);
    // 5 % of 152 is 7.6: eight files, each read back and compared with its blobs.
    assert_eq!(report["files_restored"], 8, "{report:#}");
    assert_eq!(report["files_verified"], 8, "{report:#}");
    assert!(report["bytes_restored"].as_u64().unwrap() >= 8 * 1024);
    let total: u64 = report["bytes_in_snapshot"].as_u64().unwrap();
    assert!(total > 1_000_000, "{report:#}");
    let rate = report["rate_bytes_per_second"].as_f64().unwrap();
    let rto = report["rto_seconds"].as_f64().unwrap();
    assert!(rate > 0.0 && rto > 0.0, "{report:#}");
    assert!(
        (rto - total as f64 / rate).abs() < 1e-6 * rto.max(1.0),
        "the RTO is the snapshot at the measured rate: {report:#}"
    );
    let job = run["job"]["id"].as_i64().unwrap();
    assert!(
        !setup
            .state
            .join("drills")
            .join(format!("job-{job}"))
            .exists(),
        "the sandbox is removed"
    );

    // The next drill of the same snapshot repeats the same sample; `cairn drills` shows it.
    let (_, again) = drill_json(&setup);
    assert_eq!(again["drill"]["files_verified"], 8);
    let output = run_ok(setup.cairn().args(["drills", "--json"]));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["plan"], "web");
    assert_eq!(list[0]["schedule"], "@weekly");
    assert_eq!(list[0]["last_drill"]["state"], "succeeded");
    assert_eq!(list[0]["report"]["files_verified"], 8);
    let table = stdout(&run_ok(setup.cairn().arg("drills")));
    assert!(table.contains("8/152 files"), "{table}");
}

#[test]
fn a_full_drill_of_a_damaged_repository_fails_and_names_what_is_damaged() {
    let setup = PlanSetup::new(
        "[plans.web.drill]\nschedule = \"@weekly\"\nsample = \"full\"\n",
        "",
    );
    many_files(&setup);
    setup.run_ok(&[]);
    assert!(damage_every_data_pack(setup.repo()) > 0);
    let (output, run) = drill_json(&setup);
    assert_eq!(output.status.code(), Some(1), "{run:#}");
    assert_eq!(run["job"]["state"], "failed");
    let error = run["job"]["error"].as_str().unwrap();
    assert!(
        error.contains("did not restore from snapshot")
            && error.contains(&format!("first {}/dir-", setup.source.display())),
        "the error names a file that did not restore: {error}"
    );
    assert!(run["drill"].is_null(), "no report of a failed drill");

    let output = run_fail(setup.cairn().args(["drills", "run", "web"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("cairn: plan web drill failed (job ")
            && last.contains(": content at offset 0 is lost: data blob "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("/drills/job-"),
        "files are named as in the snapshot, not in the sandbox: {stderr}"
    );
}

#[test]
fn a_drill_without_a_snapshot_says_to_run_the_plan_first() {
    let setup = PlanSetup::new("", "");
    let (output, run) = drill_json(&setup);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        run["job"]["error"],
        "plan web has no snapshot to drill yet; run `cairn run web` first"
    );
}

#[test]
fn the_daemon_exports_the_drill_rto_and_a_failed_drill_notifies() {
    let hook = HttpReceiver::start(&[200]);
    let channel = format!(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\non = [\"drill_failed\"]\n",
        hook.url("/drills")
    );
    let setup = DaemonSetup::new(
        &[(
            "web",
            "[plans.web.drill]\nschedule = \"@weekly\"\nsample = \"full\"\n",
        )],
        &channel,
    );
    std::fs::write(
        setup.source("web").join("large.bin"),
        Rng::new(7).bytes(1 << 20),
    )
    .unwrap();
    let _daemon = setup.start();
    run_ok(setup.cairn().args(["jobs", "start", "web"]));
    let wait = |what: &str, done: &dyn Fn(&[serde_json::Value]) -> bool| {
        setup.wait_for(what, Duration::from_secs(60), |jobs| done(jobs))
    };
    wait("the backup", &|jobs| {
        jobs.iter()
            .any(|j| j["kind"] == "backup" && j["state"] == "succeeded")
    });
    run_ok(
        setup
            .cairn()
            .args(["jobs", "start", "web", "--kind", "drill"]),
    );
    wait("the drill", &|jobs| {
        jobs.iter()
            .any(|j| j["kind"] == "drill" && j["state"] == "succeeded")
    });
    let (code, metrics) = crate::daemon::faults::http(&setup, "GET", "/metrics");
    assert_eq!(code, 200, "{metrics}");
    let rto = metrics
        .lines()
        .find(|l| l.starts_with("cairn_drill_rto_seconds{plan=\"web\"}"))
        .unwrap_or_else(|| panic!("no drill RTO in:\n{metrics}"));
    let value: f64 = rto.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value > 0.0, "{rto}");
    let status = crate::daemon::status(&setup);
    assert_eq!(status[0]["last_drill"]["state"], "succeeded");

    assert!(damage_every_data_pack(&setup.repo) > 0);
    run_ok(
        setup
            .cairn()
            .args(["jobs", "start", "web", "--kind", "drill"]),
    );
    wait("the failed drill", &|jobs| {
        jobs.iter()
            .any(|j| j["kind"] == "drill" && j["state"] == "failed")
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while hook.requests().is_empty() {
        assert!(Instant::now() < deadline, "no drill_failed notification");
        std::thread::sleep(Duration::from_millis(100));
    }
    let body: serde_json::Value = serde_json::from_slice(&hook.requests()[0].body).unwrap();
    assert_eq!(body["event"], "drill_failed");
    assert_eq!(body["plan"], "web");
    assert_eq!(body["job_kind"], "drill");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("did not restore")),
        "{body}"
    );
}

#[test]
fn a_drill_loads_every_dump_into_a_throwaway_database_counts_its_rows_and_drops_it() {
    use crate::plans::dumps::{mariadb_entry, postgres_entry, sqlite_entry};
    use crate::plans::servers::{psql, Database};

    let pg = Database::postgres("drilled");
    pg.query("CREATE TABLE items (x int); INSERT INTO items SELECT generate_series(1, 1234)");
    pg.query("CREATE TABLE tags (t text); INSERT INTO tags VALUES ('a'), ('b')");
    let maria = Database::mariadb("drilled");
    maria.query("CREATE TABLE orders (id INT PRIMARY KEY) ENGINE=InnoDB");
    maria.query("INSERT INTO orders VALUES (1), (2), (3), (4), (5)");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("app.db");
    rusqlite::Connection::open(&sqlite)
        .unwrap()
        .execute_batch("CREATE TABLE notes (n TEXT); INSERT INTO notes VALUES ('x'), ('y'), ('z');")
        .unwrap();
    let entries = format!(
        "{}{}{}",
        postgres_entry(&pg.name, "custom"),
        mariadb_entry(&maria.name),
        sqlite_entry("app", &sqlite)
    );
    let setup = PlanSetup::new(
        "[plans.web.drill]\nschedule = \"@weekly\"\nsample = \"full\"\n",
        &entries,
    );
    setup.run_ok(&[]);
    let (output, run) = drill_json(&setup);
    assert!(output.status.success(), "{run:#}");
    assert_eq!(
        PlanSetup::steps(&run),
        [
            "open repository: succeeded",
            "restore sample: succeeded",
            "load databases: succeeded"
        ]
    );
    let report = &run["drill"];
    let databases = report["databases"].as_array().unwrap();
    let by_kind = |kind: &str| {
        databases
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {report:#}"))
    };
    let loaded = by_kind("postgresql");
    assert_eq!(
        (loaded["tables"].as_u64(), loaded["rows"].as_u64()),
        (Some(2), Some(1236))
    );
    assert!(loaded["loaded_into"]
        .as_str()
        .unwrap()
        .starts_with("cairn_drill_"));
    let loaded = by_kind("mariadb");
    assert_eq!(
        (loaded["tables"].as_u64(), loaded["rows"].as_u64()),
        (Some(1), Some(5))
    );
    let loaded = by_kind("sqlite");
    assert_eq!(
        (loaded["tables"].as_u64(), loaded["rows"].as_u64()),
        (Some(1), Some(3))
    );
    let database_seconds: f64 = databases
        .iter()
        .map(|d| d["seconds"].as_f64().unwrap())
        .sum();
    let rto = report["rto_seconds"].as_f64().unwrap();
    assert!(rto >= database_seconds, "{report:#}");
    // The throwaway databases are gone again.
    let throwaway = |kind: &str| {
        by_kind(kind)["loaded_into"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    let name = throwaway("postgresql");
    assert!(name.starts_with("cairn_drill_"), "{name}");
    let left = psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    );
    assert_eq!(left.trim(), "0", "{name} was dropped");
    let name = throwaway("mariadb");
    let left = crate::plans::servers::mariadb(&format!(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"
    ));
    assert_eq!(left.trim(), "0", "{name} was dropped");
}

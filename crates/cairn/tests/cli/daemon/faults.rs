//! A daemon meeting trouble: a job cancelled mid-backup, the daemon killed with SIGKILL
//! mid-backup and started again, a broken config on SIGHUP, and SIGTERM.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::{states, DaemonSetup};
use crate::support::inspect::lock_entries;
use crate::support::rng::Rng;
use crate::support::{run_ok, snapshots_json};

/// A request to the daemon's socket as any HTTP client makes it; (status, body).
pub fn http(setup: &DaemonSetup, method: &str, path: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(setup.state_dir().join("cairn.sock")).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A plan whose backup takes long enough to be caught in the middle: 1 GiB of random data.
pub fn slow_setup() -> DaemonSetup {
    let setup = DaemonSetup::new(&[("big", "")], "");
    let mut rng = Rng::new(7);
    let mut file = std::fs::File::create(setup.source("big").join("random.bin")).unwrap();
    for _ in 0..64 {
        file.write_all(&rng.bytes(16 << 20)).unwrap();
    }
    setup
}

/// Waits until the job is running and has read something; returns its id.
fn wait_until_reading(setup: &DaemonSetup) -> i64 {
    let jobs = setup.wait_for("a backup under way", Duration::from_secs(60), |jobs| {
        jobs.iter().any(|j| {
            j["state"] == "running" && j["progress"]["bytes_done"].as_u64().unwrap_or(0) > 0
        })
    });
    jobs.iter().find(|j| j["state"] == "running").unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn a_cancelled_backup_stops_within_seconds_and_leaves_the_repository_clean() {
    let setup = slow_setup();
    let _daemon = setup.start();
    run_ok(setup.cairn().args(["-q", "jobs", "start", "big"]));
    let id = wait_until_reading(&setup);
    let asked = Instant::now();
    run_ok(
        setup
            .cairn()
            .args(["-q", "jobs", "cancel", &id.to_string()]),
    );
    let jobs = setup.wait_for("the cancel", Duration::from_secs(30), |jobs| {
        jobs.iter()
            .any(|j| j["id"] == id && j["state"] == "cancelled")
    });
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        states(&jobs),
        [(id, "cancelled".to_string())],
        "no retry of a cancel"
    );
    assert!(
        lock_entries(&setup.repo).is_empty(),
        "the lock was released"
    );
    assert!(snapshots_json(&mut setup.scratch.cairn(&setup.repo)).is_empty());
    setup.restic_check();
    // Cancelling an ended job says why it cannot.
    let output = setup
        .cairn()
        .args(["jobs", "cancel", &id.to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is cancelled"));
}

#[test]
fn a_daemon_killed_mid_backup_marks_the_job_interrupted_and_runs_it_again_once() {
    let setup = slow_setup();
    let mut daemon = setup.start();
    run_ok(setup.cairn().args(["-q", "jobs", "start", "big"]));
    let id = wait_until_reading(&setup);
    daemon.signal(libc::SIGKILL);
    daemon.wait(Duration::from_secs(10));
    // The repository is consistent at the instant of the kill. Its lock is stale (dead PID):
    // restic 0.14 honours even stale locks, so it checks without locking.
    run_ok(
        setup
            .scratch
            .restic(&setup.repo)
            .args(["--no-lock", "check"]),
    );

    let _daemon = setup.start();
    let jobs = setup.wait_for("the re-run", Duration::from_secs(180), |jobs| {
        jobs.iter()
            .any(|j| j["retry_of"] == id && j["state"] == "succeeded")
    });
    let interrupted = jobs.iter().find(|j| j["id"] == id).unwrap();
    assert_eq!(interrupted["state"], "interrupted");
    let rerun = jobs.iter().find(|j| j["retry_of"] == id).unwrap();
    assert_eq!(rerun["trigger"], "retry");
    assert_eq!(jobs.len(), 2, "queued again once: {jobs:#?}");
    assert_eq!(
        snapshots_json(&mut setup.scratch.cairn(&setup.repo)).len(),
        1
    );
    setup.restic_check();
}

#[test]
fn sighup_takes_a_good_config_and_keeps_the_old_one_over_a_broken_one() {
    let setup = DaemonSetup::new(&[("web", "")], "");
    let mut daemon = setup.start();
    let original = std::fs::read_to_string(&setup.config).unwrap();

    std::fs::write(&setup.config, format!("{original}\n[plans.broken\n")).unwrap();
    daemon.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !daemon.log_text().contains("reload refused") {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The old config still runs jobs.
    let (code, body) = http(&setup, "POST", "/api/v1/plans/web/run");
    assert_eq!(code, 202, "{body}");

    let second_source = setup.scratch.path("src-web");
    std::fs::write(
        &setup.config,
        format!(
            "{original}\n[plans.docs]\nrepository = \"main\"\nsources = [\"{}\"]\n",
            second_source.display()
        ),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, plans) = http(&setup, "GET", "/api/v1/plans");
        if plans.contains("\"docs\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new plan never appeared: {plans}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait(Duration::from_secs(40)), Some(0));
    assert!(
        !setup.state_dir().join("cairn.sock").exists(),
        "the socket is removed"
    );
}

#[test]
fn a_job_refused_by_a_held_lock_is_retried_later_and_a_missing_source_is_not() {
    let setup = DaemonSetup::new(&[("web", ""), ("gone", "")], "");
    std::fs::remove_dir_all(setup.source("gone")).unwrap();
    // Another process holds a lock on the repository for the whole test: a backup reading
    // from a command that waits.
    let mut holder = setup
        .scratch
        .cairn(&setup.repo)
        .args([
            "backup",
            "--stdin-from-command",
            "--stdin-filename",
            "held",
            "--",
        ])
        .args(["sleep", "60"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while lock_entries(&setup.repo).is_empty() {
        assert!(Instant::now() < deadline, "the holder took no lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _daemon = setup.start();
    // Prune needs the repository alone: refused while the lock is held, a passing reason.
    run_ok(
        setup
            .cairn()
            .args(["jobs", "start", "web", "--kind", "prune"]),
    );
    run_ok(setup.cairn().args(["jobs", "start", "gone"]));
    let jobs = setup.wait_for("both jobs to fail", Duration::from_secs(60), |jobs| {
        jobs.iter().filter(|j| j["state"] == "failed").count() == 2
    });
    let prune = jobs
        .iter()
        .find(|j| j["kind"] == "prune" && j["state"] == "failed")
        .unwrap();
    assert!(prune["error"].as_str().unwrap().contains("lock"), "{prune}");
    let retry = jobs
        .iter()
        .find(|j| j["retry_of"] == prune["id"])
        .unwrap_or_else(|| panic!("no retry of the prune: {jobs:#?}"));
    assert_eq!(retry["state"], "queued");
    assert_eq!(retry["trigger"], "retry");
    assert_eq!(retry["attempt"], 2);
    let failed_at: chrono::DateTime<chrono::Utc> =
        prune["finished"].as_str().unwrap().parse().unwrap();
    let not_before: chrono::DateTime<chrono::Utc> =
        retry["not_before"].as_str().unwrap().parse().unwrap();
    let wait = (not_before - failed_at).num_seconds();
    assert!((55..=65).contains(&wait), "waits a minute: {wait} s");
    // A missing source will not pass by waiting: no retry.
    let gone = jobs.iter().find(|j| j["plan"] == "gone").unwrap();
    assert_eq!(gone["state"], "failed");
    assert!(
        !jobs.iter().any(|j| j["retry_of"] == gone["id"]),
        "{jobs:#?}"
    );
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn cancelling_a_backup_whose_dump_tool_is_silent_kills_the_tool_within_seconds() {
    let bin = tempfile::tempdir().unwrap();
    let pid_file = crate::plans::dumps::silent_pg_dump(bin.path());
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let setup = DaemonSetup::new(
        &[(
            "web",
            "[[plans.web.postgresql]]\ndatabase = \"silent\"\nhost = \"127.0.0.1\"\n",
        )],
        "",
    );
    let _daemon = setup.start_with(&[("PATH", &path)]);
    run_ok(setup.cairn().args(["jobs", "start", "web"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&pid_file)
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the dump tool did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid: libc::pid_t = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let job = setup.jobs()[0]["id"].as_i64().unwrap();
    let cancelled = Instant::now();
    run_ok(setup.cairn().args(["jobs", "cancel", &job.to_string()]));
    let jobs = setup.wait_for("the job to end", Duration::from_secs(20), |jobs| {
        jobs.iter()
            .any(|j| j["id"] == job && j["state"] == "cancelled")
    });
    assert!(
        cancelled.elapsed() < Duration::from_secs(10),
        "stopped within seconds: {:?} {jobs:#?}",
        cancelled.elapsed()
    );
    // SAFETY: signal 0 only asks whether the process exists.
    assert_eq!(
        unsafe { libc::kill(pid, 0) },
        -1,
        "the silent tool was killed"
    );
    assert!(snapshots_json(&mut setup.scratch.cairn(&setup.repo)).is_empty());
    assert!(
        lock_entries(&setup.repo).is_empty(),
        "the lock was released"
    );
}

//! Database dumps through `cairn run` against the real servers: consistent under a writer
//! (PostgreSQL, MariaDB InnoDB, SQLite in WAL mode), `database = "all"`, and every way a dump
//! fails (a missing database, a wrong password, a tool that dies mid-way): the run fails with
//! exit 1, says which database, writes no snapshot, and leaves a repository that checks.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::servers::{
    assert_bank_consistent, mariadb, transfer, unique_name, Database, Kind, ACCOUNTS, HOST,
    START_BALANCE,
};
use super::PlanSetup;
use crate::support::{run_fail, run_ok, snapshots_json, stderr, stdout};

pub fn postgres_entry(database: &str, format: &str) -> String {
    format!(
        "[[plans.web.postgresql]]\ndatabase = \"{database}\"\nhost = \"{HOST}\"\n\
         username = \"postgres\"\nformat = \"{format}\"\n"
    )
}

pub fn mariadb_entry(database: &str) -> String {
    format!("[[plans.web.mariadb]]\ndatabase = \"{database}\"\nhost = \"{HOST}\"\nusername = \"root\"\n")
}

pub fn sqlite_entry(name: &str, path: &Path) -> String {
    format!(
        "[[plans.web.sqlite]]\nname = \"{name}\"\npath = \"{}\"\n",
        path.display()
    )
}

fn transfers(db: &Database) -> i64 {
    db.query("SELECT count(*) FROM transfers").parse().unwrap()
}

/// Waits until the writer has committed something, so the dump runs under load.
fn wait_for_writes(count: impl Fn() -> i64) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n = count();
        if n >= 20 {
            return n;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the writer wrote nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A dump under a writer, restored `--into` a new database: the bank is consistent, its
/// transfers are between the counts seen before and after the run (the dump is one point in
/// time during it), and the writer did commit during the run.
fn consistent_under_load(kind: Kind, entry: impl Fn(&str) -> String) {
    let db = match kind {
        Kind::Postgres => Database::postgres("load"),
        Kind::Mariadb => Database::mariadb("load"),
    };
    db.create_bank(20_000);
    let setup = PlanSetup::new("", &entry(&db.name));
    let writer = db.start_writer();
    let before = wait_for_writes(|| transfers(&db));
    let run = setup.run_ok(&[]);
    let after = transfers(&db);
    writer.stop();
    assert_eq!(run["job"]["state"], "succeeded", "{run}");
    assert!(after > before, "the writer committed during the run");
    let copy = Database::later(kind, "copy");
    let restored = setup.restore_db(&["--database", &db.name, "--into", &copy.name]);
    assert_eq!(restored["job"]["kind"], "restore-db");
    assert_eq!(restored["job"]["state"], "succeeded", "{restored}");
    let seen = assert_bank_consistent(&copy);
    assert!(
        (before..=after).contains(&seen),
        "the dump saw {seen} transfers, between {before} and {after}"
    );
    assert_eq!(copy.query("SELECT count(*) FROM filler"), "20000");
    // The original is untouched and still consistent.
    assert!(assert_bank_consistent(&db) >= after);
}

#[test]
fn postgresql_dump_under_a_writer_restores_consistent() {
    consistent_under_load(Kind::Postgres, |name| postgres_entry(name, "custom"));
}

#[test]
fn mariadb_dump_under_a_writer_restores_consistent() {
    consistent_under_load(Kind::Mariadb, mariadb_entry);
}

#[test]
fn sqlite_copy_under_a_wal_writer_restores_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; \
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); \
         CREATE TABLE transfers (id INTEGER PRIMARY KEY, from_id, to_id, amount); \
         CREATE TABLE filler (id INTEGER PRIMARY KEY, pad TEXT); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ACCOUNTS}) \
         INSERT INTO accounts SELECT i, {START_BALANCE} FROM n; \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
         INSERT INTO filler SELECT i, hex(randomblob(512)) FROM n;"
    ))
    .unwrap();
    drop(db);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            let mut db = rusqlite::Connection::open(&path).unwrap();
            db.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let (from, to, amount) = transfer(n);
                let tx = db.transaction().unwrap();
                tx.execute(
                    "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2",
                    [amount, from],
                )
                .unwrap();
                tx.execute(
                    "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2",
                    [amount, to],
                )
                .unwrap();
                tx.execute(
                    "INSERT INTO transfers (from_id, to_id, amount) VALUES (?1, ?2, ?3)",
                    [from, to, amount],
                )
                .unwrap();
                tx.commit().unwrap();
            }
        })
    };
    let count = |path: &Path| -> i64 {
        let db = rusqlite::Connection::open(path).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
        db.query_row("SELECT count(*) FROM transfers", [], |r| r.get(0))
            .unwrap()
    };
    let setup = PlanSetup::new("", &sqlite_entry("bank", &path));
    let before = wait_for_writes(|| count(&path));
    let run = setup.run_ok(&[]);
    let after = count(&path);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(run["job"]["state"], "succeeded", "{run}");
    assert!(after > before, "the writer committed during the run");

    let restored_path = dir.path().join("restored.db");
    let restored = setup.restore_db(&[
        "--database",
        "bank",
        "--into",
        restored_path.to_str().unwrap(),
    ]);
    assert_eq!(restored["job"]["state"], "succeeded", "{restored}");
    let copy = rusqlite::Connection::open(&restored_path).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let sum: i64 = copy
        .query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sum, ACCOUNTS * START_BALANCE);
    let mismatches: i64 = copy
        .query_row(
            &format!(
                "SELECT count(*) FROM accounts a WHERE a.balance <> {START_BALANCE} \
                 + coalesce((SELECT sum(amount) FROM transfers WHERE to_id = a.id), 0) \
                 - coalesce((SELECT sum(amount) FROM transfers WHERE from_id = a.id), 0)"
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        mismatches, 0,
        "accounts and transfers are one point in time"
    );
    let seen: i64 = copy
        .query_row("SELECT count(*) FROM transfers", [], |r| r.get(0))
        .unwrap();
    assert!(
        (before..=after).contains(&seen),
        "{before} <= {seen} <= {after}"
    );
    // The copy the dump made in the scratch directory is gone.
    let leftovers: Vec<_> = std::fs::read_dir(&setup.state)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() == "tmp")
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
        .collect();
    assert!(leftovers.is_empty(), "scratch left behind: {leftovers:?}");
}

/// The paths below `/cairn-dumps` of the latest snapshot, as cairn lists them.
fn dump_paths(setup: &PlanSetup) -> Vec<String> {
    let output = run_ok(setup.scratch.cairn(setup.repo()).args(["ls", "latest"]));
    stdout(&output)
        .lines()
        .filter(|l| l.starts_with("/cairn-dumps/"))
        .map(str::to_string)
        .collect()
}

/// Runs the plan; other tests create and drop databases on the same servers, so a database
/// that vanished between the listing and its dump is tried again (only that failure).
fn run_all(setup: &PlanSetup) {
    for _ in 0..5 {
        let output = setup.cairn().args(["run", "web"]).output().unwrap();
        if output.status.success() {
            return;
        }
        let message = stderr(&output);
        assert!(
            message.contains("does not exist") || message.contains("Unknown database"),
            "{message}"
        );
    }
    panic!("a database vanished during every one of 5 runs");
}

#[test]
fn database_all_dumps_every_database_of_both_servers() {
    let pg_one = Database::postgres("all");
    let pg_two = Database::postgres("all");
    let maria = Database::mariadb("all");
    pg_one.query("CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
    maria.query("CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
    let entries = format!("{}{}", postgres_entry("all", "plain"), mariadb_entry("all"));
    let setup = PlanSetup::new("", &entries);
    run_all(&setup);
    let paths = dump_paths(&setup);
    for expected in [
        format!("/cairn-dumps/postgresql/{HOST}/{}.sql", pg_one.name),
        format!("/cairn-dumps/postgresql/{HOST}/{}.sql", pg_two.name),
        format!("/cairn-dumps/postgresql/{HOST}/globals.sql"),
        format!("/cairn-dumps/postgresql/{HOST}/test.sql"),
        format!("/cairn-dumps/mariadb/{HOST}/{}.sql", maria.name),
        format!("/cairn-dumps/mariadb/{HOST}/mysql.sql"),
    ] {
        assert!(paths.contains(&expected), "{expected} in {paths:?}");
    }
    for left_out in [
        "information_schema",
        "performance_schema",
        "sys",
        "template0",
    ] {
        assert!(
            !paths
                .iter()
                .any(|p| p.ends_with(&format!("/{left_out}.sql"))),
            "{left_out} is not dumped: {paths:?}"
        );
    }
}

/// Runs the plan expecting failure: exit 1, the database named on standard error and in the
/// job's error, no snapshot. The message, and the JSON of a second failed run (job, log).
fn run_fails_naming(setup: &PlanSetup, database: &str) -> (String, serde_json::Value) {
    let before = snapshots_json(&mut setup.scratch.cairn(setup.repo())).len();
    let output = run_fail(setup.cairn().args(["run", "web"]));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(database), "names {database}: {message}");
    let output = run_fail(setup.cairn().args(["run", "web", "--json"]));
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).expect("run --json");
    assert_eq!(run["job"]["state"], "failed");
    assert!(
        run["job"]["error"].as_str().unwrap().contains(database),
        "{run}"
    );
    assert_eq!(
        snapshots_json(&mut setup.scratch.cairn(setup.repo())).len(),
        before,
        "no snapshot"
    );
    (message, run)
}

#[test]
fn a_missing_database_fails_the_run_without_a_snapshot() {
    let missing = unique_name("missing");
    let setup = PlanSetup::new("", &postgres_entry(&missing, "custom"));
    let (message, _) = run_fails_naming(&setup, &missing);
    assert!(message.contains("pg_dump of"), "{message}");
    assert!(message.contains("exit 1"), "{message}");

    let setup = PlanSetup::new("", &mariadb_entry(&missing));
    let (message, _) = run_fails_naming(&setup, &missing);
    assert!(message.contains("mariadb-dump of"), "{message}");
    run_ok(setup.scratch.cairn(setup.repo()).arg("check"));
}

/// A MariaDB user with a password (quotes, `#`, a backslash: the option file escapes them).
struct MariadbUser {
    name: String,
}

impl MariadbUser {
    fn new(database: &str, password: &str) -> MariadbUser {
        let name = unique_name("u");
        let escaped = password.replace('\\', "\\\\").replace('\'', "\\'");
        mariadb(&format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY '{escaped}'; \
             GRANT ALL ON {database}.* TO '{name}'@'%'"
        ));
        MariadbUser { name }
    }
}

impl Drop for MariadbUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("mariadb")
            .args(["-h", HOST, "-u", "root", "-e"])
            .arg(format!("DROP USER IF EXISTS '{}'@'%'", self.name))
            .output();
    }
}

#[test]
fn passwords_reach_the_tools_but_never_a_message_log_or_leftover_file() {
    let password = "s3cr\"et #pass\\word'";
    let db = Database::mariadb("pw");
    db.query("CREATE TABLE t (x int); INSERT INTO t VALUES (42)");
    let user = MariadbUser::new(&db.name, password);
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("db.pass");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let entry = |user: &str| {
        format!(
            "[[plans.web.mariadb]]\ndatabase = \"{}\"\nhost = \"{HOST}\"\nusername = \"{user}\"\n\
             password_file = \"{}\"\n",
            db.name,
            password_file.display()
        )
    };
    // The right password: the dump runs.
    let setup = PlanSetup::new("", &entry(&user.name));
    let run = setup.run_ok(&[]);
    assert_eq!(run["job"]["state"], "succeeded", "{run}");
    assert!(!run.to_string().contains("s3cr"), "{run}");
    let scratch = setup.state.join("tmp");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "option files left: {left:?}");

    // A wrong one: the run fails, names the database, and the password is nowhere.
    std::fs::write(&password_file, "not the password\n").unwrap();
    let (message, log) = run_fails_naming(&setup, &db.name);
    assert!(message.contains("Access denied"), "{message}");
    for text in [&message, &log.to_string()] {
        assert!(!text.contains("not the password"), "{text}");
    }

    // PostgreSQL here trusts 127.0.0.1 (any password is accepted), so a wrong password cannot
    // fail; a role that does not exist can. Its password still reaches no message.
    std::fs::write(&password_file, "pg secret value\n").unwrap();
    let pg = Database::postgres("pw");
    let role = unique_name("nobody");
    let setup = PlanSetup::new(
        "",
        &format!(
            "[[plans.web.postgresql]]\ndatabase = \"{}\"\nhost = \"{HOST}\"\nusername = \"{role}\"\n\
             password_file = \"{}\"\n",
            pg.name,
            password_file.display()
        ),
    );
    let (message, log) = run_fails_naming(&setup, &pg.name);
    assert!(message.contains(&role), "{message}");
    for text in [&message, &log.to_string()] {
        assert!(!text.contains("pg secret value"), "{text}");
    }
}

#[test]
fn a_dump_that_dies_midway_fails_the_run_and_the_repository_still_checks() {
    let db = Database::postgres("killed");
    db.create_bank(2_000);
    // pg_dump as a wrapper: the real dump, cut off after 64 KiB, then an error.
    let bin = tempfile::tempdir().unwrap();
    let wrapper = bin.path().join("pg_dump");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\n/usr/bin/pg_dump \"$@\" | head -c 65536\n\
         echo 'pg_dump: error: killed mid-way by the test' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let setup = PlanSetup::new("", &postgres_entry(&db.name, "custom"));
    let output = run_fail(setup.cairn().env("PATH", &path).args(["run", "web"]));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "pg_dump of {} on {HOST}:5432 failed (exit 1)",
            db.name
        )),
        "{message}"
    );
    assert!(message.contains("killed mid-way by the test"), "{message}");
    assert!(snapshots_json(&mut setup.scratch.cairn(setup.repo())).is_empty());
    run_ok(setup.scratch.cairn(setup.repo()).arg("check"));
    run_ok(
        setup
            .scratch
            .restic(setup.repo())
            .args(["--no-lock", "check"]),
    );
    // The same plan with the real tool succeeds afterwards.
    let run = setup.run_ok(&[]);
    assert_eq!(run["job"]["state"], "succeeded", "{run}");
}

/// Writes `DIR/pg_dump`: a tool that says a few bytes, then hangs (as one waiting for a lock
/// would), its pid in the returned file.
pub fn silent_pg_dump(dir: &Path) -> std::path::PathBuf {
    let pid_file = dir.join("pid");
    let wrapper = dir.join("pg_dump");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho $$ > {}\nprintf PGDMP\nexec sleep 300\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    pid_file
}

#[test]
fn a_failing_dump_stops_a_silent_one_and_leaves_no_process_behind() {
    let bin = tempfile::tempdir().unwrap();
    let pid_file = silent_pg_dump(bin.path());
    // mariadb-dump as a tool that fails once the silent one is running.
    let failing = bin.path().join("mariadb-dump");
    std::fs::write(
        &failing,
        format!(
            "#!/bin/sh\nfor i in $(seq 600); do [ -s {} ] && break; sleep 0.05; done\n\
             echo 'mariadb-dump: error: failing on purpose' >&2\nexit 1\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let entries = format!(
        "{}{}",
        postgres_entry("silent", "custom"),
        mariadb_entry("failing")
    );
    let setup = PlanSetup::new("", &entries);
    let started = std::time::Instant::now();
    let output = run_fail(setup.cairn().env("PATH", &path).args(["run", "web"]));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the run ended without waiting for the silent tool"
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("failing on purpose"), "{message}");
    let pid: libc::pid_t = std::fs::read_to_string(&pid_file)
        .expect("the silent dump was started")
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signal 0 only asks whether the process exists.
    assert_eq!(
        unsafe { libc::kill(pid, 0) },
        -1,
        "the silent tool was killed"
    );
    assert!(snapshots_json(&mut setup.scratch.cairn(setup.repo())).is_empty());
}

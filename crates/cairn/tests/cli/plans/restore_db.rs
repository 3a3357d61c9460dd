//! `cairn restore-db`: the dump streamed back into a new database or over the original,
//! SQLite files replaced in place, the errors (no such dump, several, a failing tool), and
//! restic 0.14 reading the same snapshot, dumps included, byte for byte.

use std::os::unix::fs::PermissionsExt;

use super::dumps::{mariadb_entry, postgres_entry, sqlite_entry};
use super::servers::{psql, Database, Kind, HOST};
use super::PlanSetup;
use crate::support::{run_fail, run_ok, stderr};

fn sqlite_db(path: &std::path::Path, rows: i64) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (x INTEGER); DELETE FROM t; \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         INSERT INTO t SELECT i FROM n;"
    ))
    .unwrap();
}

fn sqlite_count(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn restic_lists_and_restores_the_snapshot_with_the_dumps_restore_db_uses() {
    let pg = Database::postgres("restic");
    pg.query("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 1000)");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("app.db");
    sqlite_db(&sqlite, 500);
    let entries = format!(
        "{}{}",
        postgres_entry(&pg.name, "plain"),
        sqlite_entry("app", &sqlite)
    );
    let setup = PlanSetup::new("", &entries);
    let run = setup.run_ok(&[]);
    assert_eq!(run["job"]["state"], "succeeded", "{run}");

    let pg_path = format!("/cairn-dumps/postgresql/{HOST}/{}.sql", pg.name);
    let sqlite_path = "/cairn-dumps/sqlite/app.sqlite".to_string();
    let listing = run_ok(setup.scratch.restic(setup.repo()).args(["ls", "latest"]));
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    for path in [&pg_path, &sqlite_path] {
        assert!(listing.lines().any(|l| l == path), "{path} in {listing}");
    }
    assert!(listing.contains("/notes.txt"), "sources beside the dumps");
    let target = dir.path().join("restic-restore");
    run_ok(setup.scratch.restic(setup.repo()).args([
        "restore",
        "latest",
        "--target",
        target.to_str().unwrap(),
    ]));
    let restic_pg = std::fs::read(target.join(&pg_path[1..])).unwrap();
    let restic_sqlite = std::fs::read(target.join(&sqlite_path[1..])).unwrap();
    assert!(String::from_utf8_lossy(&restic_pg).contains("CREATE TABLE public.t"));
    for (path, bytes) in [(&pg_path, &restic_pg), (&sqlite_path, &restic_sqlite)] {
        let dumped = run_ok(
            setup
                .scratch
                .cairn(setup.repo())
                .args(["dump", "latest", path]),
        );
        assert!(
            dumped.stdout == *bytes,
            "cairn dump of {path} = restic's file"
        );
    }

    // restore-db streams the same bytes: the PostgreSQL count, the SQLite file itself.
    let copy = Database::later(Kind::Postgres, "rcopy");
    let restored = setup.restore_db(&["--database", &pg.name, "--into", &copy.name]);
    assert_eq!(restored["restored"]["bytes"], restic_pg.len() as u64);
    assert_eq!(restored["restored"]["dump"], pg_path.as_str());
    assert_eq!(copy.query("SELECT count(*) FROM t"), "1000");
    let restored_file = dir.path().join("restored.sqlite");
    let restored = setup.restore_db(&[
        "--database",
        "app",
        "--into",
        restored_file.to_str().unwrap(),
    ]);
    assert_eq!(restored["restored"]["kind"], "sqlite");
    assert!(std::fs::read(&restored_file).unwrap() == restic_sqlite);
    assert_eq!(sqlite_count(&restored_file), 500);
}

#[test]
fn without_into_the_original_database_gets_its_dumped_state_back() {
    let pg = Database::postgres("orig");
    pg.query("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 100)");
    let maria = Database::mariadb("orig");
    maria.query("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2), (3)");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("orig.db");
    sqlite_db(&sqlite, 10);
    let entries = format!(
        "{}{}{}",
        postgres_entry(&pg.name, "custom"),
        mariadb_entry(&maria.name),
        sqlite_entry("orig", &sqlite)
    );
    let setup = PlanSetup::new("", &entries);
    setup.run_ok(&[]);

    pg.query("DELETE FROM t WHERE x > 10; CREATE TABLE later (y int)");
    maria.query("DELETE FROM t");
    sqlite_db(&sqlite, 3);
    // An application holding the SQLite database open meanwhile is no obstacle.
    let holder = rusqlite::Connection::open(&sqlite).unwrap();

    let restored = setup.restore_db(&["--database", &pg.name, "--kind", "postgresql"]);
    assert_eq!(restored["job"]["state"], "succeeded", "{restored}");
    assert_eq!(pg.query("SELECT count(*) FROM t"), "100");
    setup.restore_db(&["--database", &maria.name]);
    assert_eq!(maria.query("SELECT count(*) FROM t"), "3");
    setup.restore_db(&["--database", "orig", "--kind", "sqlite"]);
    let count: i64 = holder
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 10, "the open connection sees the restored database");

    // Dropped meanwhile: created again.
    drop(holder);
    psql("test", &format!("drop database {} with (force)", pg.name));
    setup.restore_db(&["--database", &pg.name]);
    assert_eq!(pg.query("SELECT count(*) FROM t"), "100");

    // Each restore is a job of kind restore-db in the state database, with its steps.
    let state = cairn_state::StateStore::open(&setup.state).unwrap();
    let jobs = state.jobs(Some("web"), 50).unwrap();
    let restores: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind == cairn_state::JobKind::RestoreDb)
        .collect();
    assert_eq!(restores.len(), 4);
    assert!(restores
        .iter()
        .all(|j| j.state == cairn_state::JobState::Succeeded));
    let steps: Vec<String> = state
        .steps(restores[0].id)
        .unwrap()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(steps, ["open repository", "find dump", "restore"]);
}

#[test]
fn a_missing_or_ambiguous_dump_and_a_failing_tool_are_errors_that_say_what_to_do() {
    let pg = Database::postgres("err");
    pg.query("CREATE TABLE t (x int)");
    let dir = tempfile::tempdir().unwrap();
    // A SQLite dump with the same name as the PostgreSQL database.
    let sqlite = dir.path().join("same.db");
    sqlite_db(&sqlite, 1);
    let entries = format!(
        "{}[[plans.web.sqlite]]\nname = \"{}\"\npath = \"{}\"\n",
        postgres_entry(&pg.name, "custom"),
        pg.name,
        sqlite.display()
    );
    let setup = PlanSetup::new("", &entries);

    // No snapshot yet.
    let output = run_fail(setup.cairn().args(["restore-db", "web", "--database", "x"]));
    assert!(
        stderr(&output).contains("has no snapshot yet"),
        "{}",
        stderr(&output)
    );
    setup.run_ok(&[]);

    let output = run_fail(
        setup
            .cairn()
            .args(["restore-db", "web", "--database", "nope"]),
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("no dump of database nope"), "{message}");
    assert!(
        message.contains(&format!("postgresql {} on {HOST}", pg.name)),
        "lists what exists: {message}"
    );

    let output = run_fail(
        setup
            .cairn()
            .args(["restore-db", "web", "--database", &pg.name]),
    );
    let message = stderr(&output);
    assert!(message.contains("2 dumps of database"), "{message}");
    assert!(message.contains("--kind"), "{message}");

    // --into a database that exists: refused, the existing one untouched.
    let output = run_fail(setup.cairn().args([
        "restore-db",
        "web",
        "--database",
        &pg.name,
        "--kind",
        "postgresql",
        "--into",
        "test",
    ]));
    let message = stderr(&output);
    assert!(message.contains("already exists"), "{message}");

    // A restore tool that fails: exit 1 with its last line; the new database is gone again.
    let bin = tempfile::tempdir().unwrap();
    let wrapper = bin.path().join("pg_restore");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nhead -c 100 >/dev/null\necho 'pg_restore: error: broken by the test' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let copy = Database::later(Kind::Postgres, "failed");
    let output = run_fail(setup.cairn().env("PATH", path).args([
        "restore-db",
        "web",
        "--database",
        &pg.name,
        "--kind",
        "postgresql",
        "--into",
        &copy.name,
    ]));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("pg_restore into")
            && message.contains("failed (exit 1): pg_restore: error: broken by the test"),
        "{message}"
    );
    let exists = psql(
        "test",
        &format!(
            "select count(*) from pg_database where datname = '{}'",
            copy.name
        ),
    );
    assert_eq!(exists, "0", "the half-restored database was dropped");
}

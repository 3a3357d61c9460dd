//! Bringing one dump back: streamed from the repository into `pg_restore`, `psql` or
//! `mariadb` (no temporary file), or written as a SQLite file.
//!
//! `--into NAME` creates a new database (an error if it exists) and leaves the original
//! alone; a failed restore drops the new database again. Without it the dump goes into the
//! original database (created if it is gone): PostgreSQL custom dumps with `pg_restore --clean
//! --if-exists`, plain ones and MariaDB dumps drop and recreate what they hold; PostgreSQL
//! restores run in one transaction, so a failure leaves the original as it was.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cairn_config::PostgresFormat;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;

use crate::dumps::mariadb::MariadbConnection;
use crate::dumps::postgresql::PgConnection;
use crate::dumps::process::feed;
use crate::dumps::sqlite::with_suffix;
use crate::{JobError, Result};

/// Restores a PostgreSQL dump of `format` into `database`; `create` makes it first (`--into`).
pub(crate) fn postgresql(
    connection: &PgConnection,
    format: PostgresFormat,
    database: &str,
    create: bool,
    dump: &mut dyn Read,
) -> Result<u64> {
    // The original is created again when it is gone; a new one must not exist yet.
    if create || !connection.exists(database)? {
        connection.create(database)?;
    }
    let (command, tool) = connection.restore_command(format, database, !create);
    let describe = format!("{tool} into {database} on {}", connection.server());
    let result = feed(command, &describe, connection.password.as_ref(), dump);
    if result.is_err() && create {
        // The new database holds half a restore; the original was never touched.
        let _ = connection.drop_database(database);
    }
    result
}

/// Restores a MariaDB dump into `database`; `create` makes it first (`--into`).
pub(crate) fn mariadb(
    connection: &MariadbConnection,
    database: &str,
    create: bool,
    dump: &mut dyn Read,
) -> Result<u64> {
    connection.create(database, !create)?;
    let command = connection.restore_command(database)?;
    let describe = format!("mariadb into {database} on {}", connection.server());
    let result = feed(command, &describe, connection.password.as_ref(), dump);
    if result.is_err() && create {
        let _ = connection.drop_database(database);
    }
    result
}

/// Writes a SQLite dump to `target`. A new file (`--into`) must not exist; an existing
/// database is replaced through SQLite's backup API (one transaction, safe while others have
/// it open, its WAL included), never by renaming over it.
pub(crate) fn sqlite(target: &Path, new_file: bool, dump: &mut dyn Read) -> Result<u64> {
    let fail = |what: String| JobError::Database(format!("sqlite {}: {what}", target.display()));
    if new_file && target.exists() {
        return Err(fail(
            "already exists; --into names a new file (remove it or choose another name)".into(),
        ));
    }
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staged = Staged(dir.join(format!(".{name}.cairn-restore-{}", std::process::id())));
    let bytes =
        write_new(&staged.0, dump).map_err(|e| fail(format!("cannot write the copy: {e}")))?;
    quick_check(&staged.0).map_err(fail)?;
    if new_file || !target.exists() {
        std::fs::rename(&staged.0, target)
            .map_err(|e| fail(format!("cannot put it in place: {e}")))?;
        sync_dir(dir);
    } else {
        replace_contents(&staged.0, target).map_err(fail)?;
    }
    Ok(bytes)
}

/// A file being written; removed unless it was renamed into place.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&self.0, suffix));
        }
    }
}

fn write_new(path: &Path, dump: &mut dyn Read) -> std::io::Result<u64> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let bytes = std::io::copy(dump, &mut file)?;
    file.flush()?;
    file.sync_all()?;
    Ok(bytes)
}

/// `PRAGMA quick_check` on the restored copy before it replaces anything.
fn quick_check(path: &Path) -> std::result::Result<(), String> {
    let db = Connection::open(path).map_err(|e| format!("the dump does not open: {e}"))?;
    let verdict: String = db
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| format!("the dump cannot be checked: {e}"))?;
    if verdict != "ok" {
        return Err(format!("the dump fails SQLite's quick_check: {verdict}"));
    }
    Ok(())
}

/// Copies `from` over the database at `to` with the backup API.
fn replace_contents(from: &Path, to: &Path) -> std::result::Result<(), String> {
    let source = Connection::open(from).map_err(|e| format!("cannot open the copy: {e}"))?;
    let mut target = Connection::open(to).map_err(|e| format!("cannot open it: {e}"))?;
    target
        .busy_timeout(std::time::Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let backup =
        Backup::new(&source, &mut target).map_err(|e| format!("cannot replace it: {e}"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match backup.step(-1) {
            Ok(StepResult::Done) => return Ok(()),
            Ok(StepResult::More) => {}
            Ok(StepResult::Busy | StepResult::Locked) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Ok(other) => return Err(format!("it stayed locked ({other:?}); stop its users")),
            Err(e) => return Err(format!("replacing it failed: {e}")),
        }
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

//! A consistent copy of the state database while the daemon keeps writing: SQLite's online
//! backup API, in one step. One step copies every page under one read transaction, and in WAL
//! mode a reader does not hold writers up, so the copy is one transaction's view, never a torn
//! file (a plain file copy of a WAL database can be). A copy in several steps would start over
//! each time another connection wrote between them: under a busy daemon (progress written every
//! second, a large database) it could start over forever, and did in the test below.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::store::STATE_FILE;
use crate::{Result, StateError};

/// Waits between tries while the source is locked (a checkpoint), and for how long in all.
const BUSY_PAUSE: Duration = Duration::from_millis(20);
const BUSY_LIMIT: Duration = Duration::from_secs(30);

/// Copies `STATE_DIR/state.db` into `target` (a new file, mode 0600).
pub fn backup_state(state_dir: &Path, target: &Path) -> Result<()> {
    let source_path = state_dir.join(STATE_FILE);
    let sqlite = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StateError::Sqlite { path, source }
    };
    // Read-write flags (it only reads): a read-only connection cannot open a WAL database
    // whose `-shm` file no other connection has made.
    let source = Connection::open_with_flags(
        &source_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(&source_path))?;
    source
        .busy_timeout(Duration::from_secs(10))
        .map_err(sqlite(&source_path))?;
    let mut copy = Connection::open(target).map_err(sqlite(target))?;
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        StateError::Directory {
            path: target.to_path_buf(),
            source,
        }
    })?;
    {
        let backup = Backup::new(&source, &mut copy).map_err(sqlite(target))?;
        let started = std::time::Instant::now();
        loop {
            match backup.step(-1).map_err(sqlite(target))? {
                StepResult::Done => break,
                StepResult::More => continue,
                _ if started.elapsed() < BUSY_LIMIT => std::thread::sleep(BUSY_PAUSE),
                _ => {
                    return Err(StateError::Busy {
                        path: source_path.clone(),
                        waited: BUSY_LIMIT,
                    })
                }
            }
        }
    }
    // The copy is a standalone file: no WAL beside it.
    copy.execute_batch("PRAGMA journal_mode = DELETE;")
        .map_err(sqlite(target))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateStore;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_copy_taken_while_a_writer_runs_is_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        drop(StateStore::open(&state).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        // Each transaction writes a pair that sums to zero and a padding row: a copy holding
        // half a transaction would have a sum other than zero.
        let writer = {
            let path = state.join(STATE_FILE);
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut connection = Connection::open(path).unwrap();
                connection.busy_timeout(Duration::from_secs(10)).unwrap();
                connection
                    .execute_batch("CREATE TABLE pairs (value INTEGER, padding TEXT)")
                    .unwrap();
                let mut written = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    written += 1;
                    let transaction = connection.transaction().unwrap();
                    let padding = "x".repeat(3000);
                    transaction
                        .execute(
                            "INSERT INTO pairs VALUES (?1, ?2)",
                            rusqlite::params![written, padding],
                        )
                        .unwrap();
                    transaction
                        .execute(
                            "INSERT INTO pairs VALUES (?1, ?2)",
                            rusqlite::params![-written, padding],
                        )
                        .unwrap();
                    transaction.commit().unwrap();
                }
                written
            })
        };
        std::thread::sleep(Duration::from_millis(150));
        let mut copies = Vec::new();
        for n in 0..3 {
            let target = dir.path().join(format!("copy-{n}.db"));
            backup_state(&state, &target).unwrap();
            copies.push(target);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(writer.join().unwrap() > 0);
        for target in copies {
            let copy = Connection::open(&target).unwrap();
            let check: String = copy
                .query_row("PRAGMA integrity_check", [], |row| row.get(0))
                .unwrap();
            assert_eq!(check, "ok");
            let (rows, sum): (i64, i64) = copy
                .query_row(
                    "SELECT COUNT(*), COALESCE(SUM(value), 0) FROM pairs",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .unwrap();
            assert!(rows > 0 && rows % 2 == 0, "{rows} rows");
            assert_eq!(sum, 0);
            let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}

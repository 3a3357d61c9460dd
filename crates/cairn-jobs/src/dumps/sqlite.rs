//! SQLite: SQLite's online backup API copies the database into the scratch directory (one read
//! transaction, so a consistent copy while writers keep writing, WAL or not); the copy is then
//! the stream. The copy is unlinked as soon as it is open, so nothing is left behind.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cairn_config::SqliteDump;
use cairn_repo::backup::{StreamEntry, StreamSource};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::group::DumpGroup;

/// How long the copy waits for a writer holding the database's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a busy or locked step is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

pub(crate) fn stream(dump: &SqliteDump, scratch: &Path, group: &Arc<DumpGroup>) -> StreamEntry {
    StreamEntry {
        path: dump.snapshot_path().into(),
        source: Box::new(SqliteCopy {
            source: dump.path.clone(),
            copy: scratch.join(format!("sqlite-{}.sqlite", dump.name)),
            group: Arc::clone(group),
        }),
    }
}

struct SqliteCopy {
    source: PathBuf,
    copy: PathBuf,
    group: Arc<DumpGroup>,
}

impl StreamSource for SqliteCopy {
    fn open(&mut self) -> io::Result<OwnedFd> {
        let result = copy_database(&self.source, &self.copy).and_then(|()| {
            File::open(&self.copy).map_err(|e| format!("cannot open the copy: {e}"))
        });
        for leftover in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&self.copy, leftover));
        }
        if result.is_err() {
            self.group.fail();
        }
        result
            .map(OwnedFd::from)
            .map_err(|why| io::Error::other(format!("sqlite {}: {why}", self.source.display())))
    }

    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// `path` with `suffix` appended to its name (SQLite's `-journal`, `-wal`, `-shm` files).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Copies `source` into a new file `copy` with the online backup API, in one step (one read
/// transaction: the copy is one point in time, and a writer never makes it start over).
pub(crate) fn copy_database(source: &Path, copy: &Path) -> Result<(), String> {
    if !source.is_file() {
        return Err("no such database file".into());
    }
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open it: {e}"))?;
    from.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| format!("cannot set a busy timeout: {e}"))?;
    let _ = std::fs::remove_file(copy);
    let mut to = Connection::open(copy).map_err(|e| format!("cannot create the copy: {e}"))?;
    let backup = Backup::new(&from, &mut to).map_err(|e| format!("cannot start the copy: {e}"))?;
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match backup.step(-1) {
            Ok(StepResult::Done) => break,
            Ok(StepResult::More) => {}
            Ok(StepResult::Busy | StepResult::Locked) if std::time::Instant::now() < deadline => {
                std::thread::sleep(RETRY_PAUSE)
            }
            Ok(other) => return Err(format!("the copy could not finish ({other:?})")),
            Err(e) => return Err(format!("copying failed: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_copy_is_a_whole_database_and_is_not_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("app.db");
        let db = Connection::open(&source).unwrap();
        db.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);",
        )
        .unwrap();
        let dump = SqliteDump {
            name: "app".into(),
            path: source.clone(),
        };
        let mut entry = stream(&dump, dir.path(), &DumpGroup::new());
        assert_eq!(entry.path, Path::new("/cairn-dumps/sqlite/app.sqlite"));
        let fd = entry.source.open().unwrap();
        assert!(!dir.path().join("sqlite-app.sqlite").exists());
        let mut bytes = Vec::new();
        File::from(fd).read_to_end(&mut bytes).unwrap();
        entry.source.finish().unwrap();
        let restored = dir.path().join("restored.db");
        std::fs::write(&restored, &bytes).unwrap();
        let count: i64 = Connection::open(&restored)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 2);

        let missing = SqliteDump {
            name: "gone".into(),
            path: dir.path().join("gone.db"),
        };
        let error = stream(&missing, dir.path(), &DumpGroup::new())
            .source
            .open()
            .unwrap_err();
        assert!(error.to_string().contains("gone.db"), "{error}");
    }
}

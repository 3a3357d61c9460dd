//! [`StateStore`]: the one handle on the state database.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::job::{JobId, JobKind, JobRecord, JobState, LogLine, NewJob, StepRecord, StepState};
use crate::migrations::{current_version, MIGRATIONS};
use crate::{Result, StateError};

/// The file under the state directory.
pub const STATE_FILE: &str = "state.db";

/// Open connections wait this long for another writer (the daemon, a `cairn run`) to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct StateStore {
    path: PathBuf,
    /// One connection, used by one thread at a time: SQLite serialises writers anyway, and
    /// the state's writes are a few rows per step.
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish()
    }
}

impl StateStore {
    /// Opens `STATE_DIR/state.db`, creating the directory (0700) and the file (0600) when
    /// missing, and brings the schema up to date.
    pub fn open(state_dir: &Path) -> Result<StateStore> {
        let directory_error = |source| StateError::Directory {
            path: state_dir.to_path_buf(),
            source,
        };
        if !state_dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(state_dir)
                .map_err(directory_error)?;
        }
        let path = state_dir.join(STATE_FILE);
        let fresh = !path.exists();
        let sqlite = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let connection = Connection::open(&path).map_err(sqlite)?;
        if fresh {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(directory_error)?;
        }
        connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(sqlite)?;
        let store = StateStore {
            path,
            connection: Mutex::new(connection),
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Sets `last_used_at` of row `id` of `table` to `at`, unless a use after `unless_after`
    /// is already recorded: what keeps a busy credential (API token, REST login) from writing
    /// on every request. `table` is one of this crate's own table names, never input.
    pub(crate) fn touch_last_used(
        &self,
        table: &'static str,
        id: i64,
        at: DateTime<Utc>,
        unless_after: DateTime<Utc>,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {table} SET last_used_at = ?2 \
             WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?3)"
        );
        self.with(|c| c.execute(&sql, params![id, millis(at), millis(unless_after)]))
            .map(|_| ())
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        f(&connection).map_err(|e| self.sqlite(e))
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        self.with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }

    fn migrate(&self) -> Result<()> {
        let found = self.schema_version()?;
        let known = current_version();
        if found > known {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        for (index, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = index as u32 + 1;
            let transaction = connection.transaction().map_err(|e| self.sqlite(e))?;
            transaction
                .execute_batch(step)
                .and_then(|()| transaction.pragma_update(None, "user_version", version))
                .and_then(|()| transaction.commit())
                .map_err(|e| self.sqlite(e))?;
        }
        Ok(())
    }

    /// Records a new job (queued, or running at once when `running` is given).
    pub fn create_job(&self, job: &NewJob, running: Option<DateTime<Utc>>) -> Result<JobId> {
        let state = if running.is_some() {
            JobState::Running
        } else {
            JobState::Queued
        };
        self.with(|c| {
            c.execute(
                "INSERT INTO jobs (kind, plan, repository, state, trigger, dry_run, created_at, \
                 started_at, attempt, retry_of, not_before, request) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    job.kind.as_str(),
                    job.plan,
                    job.repository,
                    state.as_str(),
                    job.trigger.as_str(),
                    job.dry_run,
                    millis(job.created_at),
                    running.map(millis),
                    job.attempt,
                    job.retry_of,
                    job.not_before.map(millis),
                    job.request.as_ref().map(|r| r.to_string()),
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Marks a queued job running; false when it was no longer queued (cancelled meanwhile).
    pub fn start_job(&self, id: JobId, at: DateTime<Utc>) -> Result<bool> {
        let changed = self.with(|c| {
            c.execute(
                "UPDATE jobs SET state = 'running', started_at = ?2 WHERE id = ?1 AND state = 'queued'",
                params![id, millis(at)],
            )
        })?;
        Ok(changed == 1)
    }

    /// Queued jobs in the order they should start: manual ones first, then by age.
    pub fn queued_jobs(&self) -> Result<Vec<JobRecord>> {
        self.with(|c| {
            let mut query = c.prepare(&format!(
                "{JOB_COLUMNS} WHERE state = 'queued' \
                 ORDER BY CASE trigger WHEN 'manual' THEN 0 ELSE 1 END, created_at, id"
            ))?;
            let rows = query.query_map([], job_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?
        .into_iter()
        .collect()
    }

    /// Jobs in `state`, newest first.
    pub fn jobs_in(&self, state: JobState) -> Result<Vec<JobRecord>> {
        self.with(|c| {
            let mut query =
                c.prepare(&format!("{JOB_COLUMNS} WHERE state = ?1 ORDER BY id DESC"))?;
            let rows = query.query_map(params![state.as_str()], job_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?
        .into_iter()
        .collect()
    }

    /// Ends a job that never ran (cancelled while queued); false when it was not queued.
    pub fn cancel_queued(&self, id: JobId, at: DateTime<Utc>) -> Result<bool> {
        let changed = self.with(|c| {
            c.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?2, error = 'cancelled before it started' \
                 WHERE id = ?1 AND state = 'queued'",
                params![id, millis(at)],
            )
        })?;
        Ok(changed == 1)
    }

    /// The latest progress of a running job (a JSON object).
    pub fn set_progress(&self, id: JobId, progress: &serde_json::Value) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET progress = ?2 WHERE id = ?1",
                params![id, progress.to_string()],
            )
        })
        .map(|_| ())
    }

    /// How many jobs are in each state.
    pub fn job_counts(&self) -> Result<Vec<(JobState, u64)>> {
        let rows: Vec<(String, i64)> = self.with(|c| {
            let mut query = c.prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
            let rows = query.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(state, count)| Ok((state.parse()?, count as u64)))
            .collect()
    }

    /// A value the daemon keeps between runs (its last tick, say).
    pub fn daemon_value(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT value FROM daemon_values WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    pub fn set_daemon_value(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO daemon_values (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
        })
        .map(|_| ())
    }

    /// Raises `alert` for `plan`; true when it was not raised already (notify once).
    pub fn raise_alert(&self, plan: &str, alert: &str, at: DateTime<Utc>) -> Result<bool> {
        let changed = self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO plan_alerts (plan, alert, raised_at) VALUES (?1, ?2, ?3)",
                params![plan, alert, millis(at)],
            )
        })?;
        Ok(changed == 1)
    }

    /// Clears `alert` for `plan`; true when it was raised.
    pub fn clear_alert(&self, plan: &str, alert: &str) -> Result<bool> {
        let changed = self.with(|c| {
            c.execute(
                "DELETE FROM plan_alerts WHERE plan = ?1 AND alert = ?2",
                params![plan, alert],
            )
        })?;
        Ok(changed == 1)
    }

    /// The alerts raised for `plan`, with when.
    pub fn alerts(&self, plan: &str) -> Result<Vec<(String, DateTime<Utc>)>> {
        self.with(|c| {
            let mut query = c.prepare(
                "SELECT alert, raised_at FROM plan_alerts WHERE plan = ?1 ORDER BY alert",
            )?;
            let rows =
                query.query_map(params![plan], |r| Ok((r.get(0)?, from_millis(r.get(1)?))))?;
            rows.collect()
        })
    }

    /// Ends a job: its final state, and what it produced or why it failed.
    pub fn finish_job(&self, id: JobId, end: &JobEnd, at: DateTime<Utc>) -> Result<()> {
        debug_assert!(end.state.is_final());
        self.update(id, |c| {
            c.execute(
                "UPDATE jobs SET state = ?2, finished_at = ?3, snapshot = ?4, bytes_added = ?5, \
                 error = ?6 WHERE id = ?1",
                params![
                    id,
                    end.state.as_str(),
                    millis(at),
                    end.snapshot,
                    end.bytes_added.map(|b| b as i64),
                    end.error,
                ],
            )
        })
    }

    fn update(
        &self,
        id: JobId,
        f: impl FnOnce(&Connection) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        match self.with(f)? {
            0 => Err(StateError::NoSuchJob(id)),
            _ => Ok(()),
        }
    }

    /// Starts the next step of a job; returns its position.
    pub fn begin_step(&self, id: JobId, name: &str, at: DateTime<Utc>) -> Result<u32> {
        self.with(|c| {
            let seq: u32 = c.query_row(
                "SELECT COUNT(*) FROM job_steps WHERE job = ?1",
                params![id],
                |r| r.get(0),
            )?;
            c.execute(
                "INSERT INTO job_steps (job, seq, name, state, started_at) \
                 VALUES (?1, ?2, ?3, 'running', ?4)",
                params![id, seq, name, millis(at)],
            )?;
            Ok(seq)
        })
    }

    /// Ends a step.
    pub fn finish_step(
        &self,
        id: JobId,
        seq: u32,
        state: StepState,
        detail: Option<&str>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE job_steps SET state = ?3, detail = ?4, error = ?5, finished_at = ?6 \
                 WHERE job = ?1 AND seq = ?2",
                params![id, seq, state.as_str(), detail, error, millis(at)],
            )
        })
        .map(|_| ())
    }

    /// Appends lines to a job's log; returns the position of the first.
    pub fn append_log(
        &self,
        id: JobId,
        source: &str,
        lines: &[&str],
        at: DateTime<Utc>,
    ) -> Result<u32> {
        let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        let transaction = connection.transaction().map_err(|e| self.sqlite(e))?;
        let result = (|| {
            let next: u32 = transaction.query_row(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM job_log WHERE job = ?1",
                params![id],
                |r| r.get(0),
            )?;
            let mut insert = transaction.prepare(
                "INSERT INTO job_log (job, seq, at, source, line) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (offset, line) in lines.iter().enumerate() {
                insert.execute(params![id, next + offset as u32, millis(at), source, line])?;
            }
            drop(insert);
            transaction.commit().map(|()| next)
        })();
        result.map_err(|e| self.sqlite(e))
    }

    pub fn job(&self, id: JobId) -> Result<JobRecord> {
        self.with(|c| {
            c.query_row(
                &format!("{JOB_COLUMNS} WHERE id = ?1"),
                params![id],
                job_from_row,
            )
            .optional()
        })?
        .ok_or(StateError::NoSuchJob(id))?
    }

    /// Jobs, newest first; of one plan when `plan` is given.
    pub fn jobs(&self, plan: Option<&str>, limit: usize) -> Result<Vec<JobRecord>> {
        self.with(|c| {
            let mut query = c.prepare(&format!(
                "{JOB_COLUMNS} WHERE (?1 IS NULL OR plan = ?1) ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = query.query_map(params![plan, limit as i64], job_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?
        .into_iter()
        .collect()
    }

    /// The newest finished job of `kind` for `plan` (in `state` when given).
    pub fn last_job(
        &self,
        plan: &str,
        kind: JobKind,
        state: Option<JobState>,
    ) -> Result<Option<JobRecord>> {
        let found = self.with(|c| {
            c.query_row(
                &format!(
                    "{JOB_COLUMNS} WHERE plan = ?1 AND kind = ?2 AND finished_at IS NOT NULL \
                     AND (?3 IS NULL OR state = ?3) ORDER BY finished_at DESC, id DESC LIMIT 1"
                ),
                params![plan, kind.as_str(), state.map(JobState::as_str)],
                job_from_row,
            )
            .optional()
        })?;
        found.transpose()
    }

    /// When the newest job of `kind` for `plan` was created (whatever became of it).
    pub fn last_job_created(&self, plan: &str, kind: JobKind) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = self.with(|c| {
            c.query_row(
                "SELECT MAX(created_at) FROM jobs WHERE plan = ?1 AND kind = ?2",
                params![plan, kind.as_str()],
                |r| r.get(0),
            )
        })?;
        Ok(at.map(from_millis))
    }

    /// When a step named `name` last succeeded in a (non dry-run) job of `plan`.
    pub fn last_step_success(&self, plan: &str, name: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = self.with(|c| {
            c.query_row(
                "SELECT MAX(s.finished_at) FROM job_steps s JOIN jobs j ON j.id = s.job \
                 WHERE j.plan = ?1 AND j.dry_run = 0 AND s.name = ?2 AND s.state = 'succeeded'",
                params![plan, name],
                |r| r.get(0),
            )
        })?;
        Ok(at.map(from_millis))
    }

    pub fn steps(&self, id: JobId) -> Result<Vec<StepRecord>> {
        self.with(|c| {
            let mut query = c.prepare(
                "SELECT job, seq, name, state, started_at, finished_at, detail, error \
                 FROM job_steps WHERE job = ?1 ORDER BY seq",
            )?;
            let rows = query.query_map(params![id], |r| {
                Ok((
                    StepRecord {
                        job: r.get(0)?,
                        seq: r.get(1)?,
                        name: r.get(2)?,
                        state: StepState::Skipped,
                        started_at: from_millis(r.get(4)?),
                        finished_at: r.get::<_, Option<i64>>(5)?.map(from_millis),
                        detail: r.get(6)?,
                        error: r.get(7)?,
                    },
                    r.get::<_, String>(3)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?
        .into_iter()
        .map(|(mut step, state)| {
            step.state = state.parse()?;
            Ok(step)
        })
        .collect()
    }

    pub fn log(&self, id: JobId) -> Result<Vec<LogLine>> {
        self.with(|c| {
            let mut query =
                c.prepare("SELECT seq, at, source, line FROM job_log WHERE job = ?1 ORDER BY seq")?;
            let rows = query.query_map(params![id], |r| {
                Ok(LogLine {
                    seq: r.get(0)?,
                    at: from_millis(r.get(1)?),
                    source: r.get(2)?,
                    line: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEnd {
    pub state: JobState,
    pub snapshot: Option<String>,
    pub bytes_added: Option<u64>,
    pub error: Option<String>,
}

pub(crate) const JOB_COLUMNS: &str = "SELECT id, kind, plan, repository, state, trigger, dry_run, \
    created_at, started_at, finished_at, snapshot, bytes_added, error, attempt, retry_of, \
    not_before, progress, request FROM jobs";

/// A job row; the enums are parsed afterwards so a bad value is our error, not SQLite's.
pub(crate) fn job_from_row(r: &Row<'_>) -> rusqlite::Result<Result<JobRecord>> {
    let (kind, state, trigger): (String, String, String) = (r.get(1)?, r.get(4)?, r.get(5)?);
    let record = |kind: JobKind, state: JobState, trigger| -> rusqlite::Result<JobRecord> {
        Ok(JobRecord {
            id: r.get(0)?,
            kind,
            plan: r.get(2)?,
            repository: r.get(3)?,
            state,
            trigger,
            dry_run: r.get(6)?,
            created_at: from_millis(r.get(7)?),
            started_at: r.get::<_, Option<i64>>(8)?.map(from_millis),
            finished_at: r.get::<_, Option<i64>>(9)?.map(from_millis),
            snapshot: r.get(10)?,
            bytes_added: r.get::<_, Option<i64>>(11)?.map(|b| b as u64),
            error: r.get(12)?,
            attempt: r.get(13)?,
            retry_of: r.get(14)?,
            not_before: r.get::<_, Option<i64>>(15)?.map(from_millis),
            progress: r
                .get::<_, Option<String>>(16)?
                .and_then(|text| serde_json::from_str(&text).ok()),
            request: r
                .get::<_, Option<String>>(17)?
                .and_then(|text| serde_json::from_str(&text).ok()),
        })
    };
    let parsed = (|| Ok((kind.parse()?, state.parse()?, trigger.parse()?)))();
    match parsed {
        Ok((kind, state, trigger)) => record(kind, state, trigger).map(Ok),
        Err(e) => Ok(Err(e)),
    }
}

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Trigger;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn new_job(plan: &str) -> NewJob {
        NewJob::first(
            JobKind::Backup,
            Some(plan.into()),
            Some("main".into()),
            Trigger::Manual,
            at(0),
        )
    }

    #[test]
    fn a_job_records_its_steps_log_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state")).unwrap();
        let id = store.create_job(&new_job("web"), Some(at(1))).unwrap();
        let backup = store.begin_step(id, "backup", at(2)).unwrap();
        store
            .append_log(id, "cairn", &["reading /etc", "done"], at(3))
            .unwrap();
        store
            .finish_step(
                id,
                backup,
                StepState::Succeeded,
                Some("12 files"),
                None,
                at(4),
            )
            .unwrap();
        let end = JobEnd {
            state: JobState::Succeeded,
            snapshot: Some("abcd".into()),
            bytes_added: Some(42),
            error: None,
        };
        store.finish_job(id, &end, at(5)).unwrap();

        let job = store.job(id).unwrap();
        assert_eq!(job.state, JobState::Succeeded);
        assert_eq!(
            (job.started_at, job.finished_at),
            (Some(at(1)), Some(at(5)))
        );
        assert_eq!(job.snapshot.as_deref(), Some("abcd"));
        assert_eq!(job.bytes_added, Some(42));
        let steps = store.steps(id).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].detail.as_deref(), Some("12 files"));
        let log: Vec<String> = store.log(id).unwrap().into_iter().map(|l| l.line).collect();
        assert_eq!(log, ["reading /etc", "done"]);
        assert_eq!(
            store.last_step_success("web", "backup").unwrap(),
            Some(at(4))
        );
        assert_eq!(store.last_step_success("other", "backup").unwrap(), None);
        let last = store
            .last_job("web", JobKind::Backup, Some(JobState::Succeeded))
            .unwrap();
        assert_eq!(last.map(|j| j.id), Some(id));
        assert!(matches!(store.job(id + 1), Err(StateError::NoSuchJob(_))));
    }

    #[test]
    fn the_file_is_private_and_reopens_at_the_same_version() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let store = StateStore::open(&state_dir).unwrap();
        let id = store.create_job(&new_job("web"), None).unwrap();
        drop(store);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state_dir), 0o700);
        assert_eq!(mode(&state_dir.join(STATE_FILE)), 0o600);
        let store = StateStore::open(&state_dir).unwrap();
        assert_eq!(store.schema_version().unwrap(), current_version());
        assert_eq!(store.job(id).unwrap().state, JobState::Queued);
    }

    #[test]
    fn a_database_from_a_newer_cairn_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        store
            .with(|c| c.pragma_update(None, "user_version", current_version() + 1))
            .unwrap();
        drop(store);
        let error = StateStore::open(dir.path()).unwrap_err();
        assert!(matches!(error, StateError::TooNew { .. }), "{error}");
        assert!(
            error.to_string().contains("newer than this cairn knows"),
            "{error}"
        );
    }

    #[test]
    fn every_migration_applies_in_order_from_an_empty_database() {
        // Each prefix of the chain leaves a database the next steps accept: what an old
        // cairn left behind upgrades to the same schema a new one creates.
        for applied in 0..=MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(STATE_FILE);
            let connection = Connection::open(&path).unwrap();
            for (i, step) in MIGRATIONS.iter().take(applied).enumerate() {
                connection.execute_batch(step).unwrap();
                connection
                    .pragma_update(None, "user_version", i as u32 + 1)
                    .unwrap();
            }
            drop(connection);
            let store = StateStore::open(dir.path()).unwrap();
            assert_eq!(store.schema_version().unwrap(), current_version());
            store.create_job(&new_job("p"), Some(at(0))).unwrap();
        }
    }
}

//! The client's change log of its job records, for multihost operation history.
//!
//! Triggers on `jobs` (migration 8) keep it: every insert, every update of a field peers see
//! (not the progress a running job reports several times a second), every delete replaces
//! the job's row in `sync_changes` with one numbered above every change ever made. So the log
//! holds each job's latest change, in the writer's own transaction, whoever the writer is.
//! A deletion stays as a tombstone with the plan and repository scopes are judged by.
//!
//! The incarnation (a random id the sync crate makes) names this state directory's history;
//! a wiped state directory gets a new one.

use rusqlite::{params, OptionalExtension};

use crate::job::{JobId, JobRecord};
use crate::store::{job_from_row, StateStore, JOB_COLUMNS};
use crate::Result;

const INCARNATION_KEY: &str = "sync.incarnation";

/// One change: the job as it is now, or a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChange {
    pub seq: u64,
    pub job: JobId,
    pub plan: Option<String>,
    pub repository: Option<String>,
    /// `None`: the job was deleted.
    pub record: Option<JobRecord>,
}

impl StateStore {
    /// Changes numbered above `after`, in order, at most `limit`.
    pub fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<StoredChange>> {
        type Row = (u64, JobId, bool, Option<String>, Option<String>);
        let found = self.with(|c| {
            // One read transaction: the changes and the records they name agree.
            let transaction = c.unchecked_transaction()?;
            let rows: Vec<Row> = {
                let mut query = transaction.prepare(
                    "SELECT seq, job, deleted, plan, repository FROM sync_changes \
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = query.query_map(params![after as i64, limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut found = Vec::with_capacity(rows.len());
            let mut query = transaction.prepare(&format!("{JOB_COLUMNS} WHERE id = ?1"))?;
            for (seq, job, deleted, plan, repository) in rows {
                let record = if deleted {
                    None
                } else {
                    query.query_row(params![job], job_from_row).optional()?
                };
                found.push((seq, job, plan, repository, record));
            }
            Ok(found)
        })?;
        found
            .into_iter()
            .map(|(seq, job, plan, repository, record)| {
                Ok(StoredChange {
                    seq,
                    job,
                    plan,
                    repository,
                    record: record.transpose()?,
                })
            })
            .collect()
    }

    /// The highest change number given out (0 before any change). The row holding it is
    /// never removed (only replaced by a higher one), so the maximum is the last one.
    pub fn last_change_seq(&self) -> Result<u64> {
        self.with(|c| {
            c.query_row("SELECT COALESCE(MAX(seq), 0) FROM sync_changes", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map(|seq| seq as u64)
    }

    /// This state directory's incarnation, made with `generate` the first time.
    pub fn sync_incarnation(&self, generate: impl FnOnce() -> String) -> Result<String> {
        if let Some(existing) = self.daemon_value(INCARNATION_KEY)? {
            return Ok(existing);
        }
        let fresh = generate();
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO daemon_values (key, value) VALUES (?1, ?2)",
                params![INCARNATION_KEY, fresh],
            )
        })?;
        Ok(self.daemon_value(INCARNATION_KEY)?.unwrap_or(fresh))
    }

    /// Starts a new incarnation (the state went back in time: its numbers would collide with
    /// changes the server already holds).
    pub fn replace_sync_incarnation(&self, incarnation: &str) -> Result<()> {
        self.set_daemon_value(INCARNATION_KEY, incarnation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobEnd, JobKind, JobState, NewJob, Trigger};
    use chrono::{TimeZone, Utc};

    #[test]
    fn every_job_write_numbers_a_change_and_the_log_keeps_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let job = |plan: &str| {
            NewJob::first(
                JobKind::Backup,
                Some(plan.into()),
                Some("main".into()),
                Trigger::Manual,
                now,
            )
        };
        assert_eq!(store.last_change_seq().unwrap(), 0);
        let a = store.create_job(&job("a"), None).unwrap();
        let b = store.create_job(&job("b"), None).unwrap();
        assert_eq!(store.last_change_seq().unwrap(), 2);
        assert!(store.start_job(a, now).unwrap());
        // Progress is not a change peers see.
        store
            .set_progress(a, &serde_json::json!({"files": 3}))
            .unwrap();
        assert_eq!(store.last_change_seq().unwrap(), 3);
        let end = JobEnd {
            state: JobState::Succeeded,
            snapshot: Some("abc".into()),
            bytes_added: Some(9),
            error: None,
        };
        store.finish_job(a, &end, now).unwrap();
        let changes = store.changes_after(0, 10).unwrap();
        let seqs: Vec<(u64, JobId)> = changes.iter().map(|c| (c.seq, c.job)).collect();
        assert_eq!(seqs, [(2, b), (4, a)]);
        let record = changes[1].record.as_ref().unwrap();
        assert_eq!(record.snapshot.as_deref(), Some("abc"));
        assert_eq!(store.changes_after(2, 10).unwrap().len(), 1);
        assert_eq!(store.changes_after(0, 1).unwrap().len(), 1);
        store
            .with(|c| c.execute("DELETE FROM jobs WHERE id = ?1", params![b]))
            .unwrap();
        let tombstone = store.changes_after(4, 10).unwrap();
        assert_eq!(tombstone.len(), 1);
        assert_eq!((tombstone[0].seq, tombstone[0].record.is_none()), (5, true));
        assert_eq!(tombstone[0].plan.as_deref(), Some("b"));

        let first = store.sync_incarnation(|| "one".into()).unwrap();
        assert_eq!(store.sync_incarnation(|| "two".into()).unwrap(), first);
        store.replace_sync_incarnation("three").unwrap();
        assert_eq!(store.sync_incarnation(|| "four".into()).unwrap(), "three");
    }
}

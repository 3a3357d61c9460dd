//! A multihost server's replicas of its clients' operation history: per (peer, client
//! incarnation) a high-water mark (every change numbered up to it is applied) and the latest
//! record of each job (`NULL` for a tombstone, kept with its number so a late, older update
//! cannot bring the job back). Records are JSON as the sync crate writes them.

use rusqlite::params;

use crate::job::JobId;
use crate::store::StateStore;
use crate::users::immediate;
use crate::Result;

/// One change as the replica applies it.
#[derive(Debug, Clone)]
pub struct ReplicaChange {
    pub seq: u64,
    pub job: JobId,
    /// The record as JSON; `None` for a tombstone.
    pub record: Option<String>,
}

/// A live record of a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRecord {
    pub incarnation: String,
    pub job: JobId,
    pub seq: u64,
    pub record: String,
}

impl StateStore {
    /// The high-water mark of (peer, incarnation); 0 for one never seen.
    pub fn replica_high_water(&self, peer: &str, incarnation: &str) -> Result<u64> {
        self.with(|c| {
            c.query_row(
                "SELECT COALESCE(MAX(high_water), 0) FROM sync_replicas \
                 WHERE peer = ?1 AND incarnation = ?2",
                params![peer, incarnation],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|hw| hw as u64)
    }

    /// In one transaction: applies each change whose number is above the held one's, and
    /// raises the high-water mark to `upto`. Returns the new high-water mark.
    pub fn apply_replica_batch(
        &self,
        peer: &str,
        incarnation: &str,
        changes: &[ReplicaChange],
        upto: u64,
    ) -> Result<u64> {
        self.with(|c| {
            let transaction = immediate(c)?;
            {
                let mut upsert = transaction.prepare(
                    "INSERT INTO sync_replica_jobs (peer, incarnation, job, seq, record) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (peer, incarnation, job) DO UPDATE \
                     SET seq = excluded.seq, record = excluded.record \
                     WHERE excluded.seq > sync_replica_jobs.seq",
                )?;
                for change in changes {
                    upsert.execute(params![
                        peer,
                        incarnation,
                        change.job,
                        change.seq as i64,
                        change.record
                    ])?;
                }
            }
            transaction.execute(
                "INSERT INTO sync_replicas (peer, incarnation, high_water) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (peer, incarnation) DO UPDATE \
                 SET high_water = MAX(high_water, excluded.high_water)",
                params![peer, incarnation, upto as i64],
            )?;
            let high_water: i64 = transaction.query_row(
                "SELECT high_water FROM sync_replicas WHERE peer = ?1 AND incarnation = ?2",
                params![peer, incarnation],
                |r| r.get(0),
            )?;
            transaction.commit()?;
            Ok(high_water as u64)
        })
    }

    /// The live records of every replica of `peer` (each incarnation it had: a wiped client's
    /// history stays), by incarnation, then newest job first.
    pub fn replica_records(&self, peer: &str) -> Result<Vec<ReplicaRecord>> {
        self.with(|c| {
            let mut query = c.prepare(
                "SELECT incarnation, job, seq, record FROM sync_replica_jobs \
                 WHERE peer = ?1 AND record IS NOT NULL ORDER BY incarnation, job DESC",
            )?;
            let rows = query.query_map(params![peer], |r| {
                Ok(ReplicaRecord {
                    incarnation: r.get(0)?,
                    job: r.get(1)?,
                    seq: r.get::<_, i64>(2)? as u64,
                    record: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: u64, job: JobId, record: Option<&str>) -> ReplicaChange {
        ReplicaChange {
            seq,
            job,
            record: record.map(String::from),
        }
    }

    #[test]
    fn batches_apply_idempotently_and_tombstones_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.replica_high_water("p", "i").unwrap(), 0);
        let batch = [change(1, 10, Some("a1")), change(2, 11, Some("b1"))];
        assert_eq!(store.apply_replica_batch("p", "i", &batch, 2).unwrap(), 2);
        // The same batch again changes nothing; an older high water does not lower it.
        assert_eq!(store.apply_replica_batch("p", "i", &batch, 1).unwrap(), 2);
        let later = [change(5, 10, None), change(4, 11, Some("b2"))];
        assert_eq!(store.apply_replica_batch("p", "i", &later, 5).unwrap(), 5);
        // A late, older update of the deleted job does not bring it back.
        store
            .apply_replica_batch("p", "i", &[change(3, 10, Some("a0"))], 5)
            .unwrap();
        let records = store.replica_records("p").unwrap();
        let live: Vec<(JobId, &str)> = records.iter().map(|r| (r.job, r.record.as_str())).collect();
        assert_eq!(live, [(11, "b2")]);
        // Another incarnation is another replica; the first stays.
        store
            .apply_replica_batch("p", "j", &[change(1, 1, Some("new"))], 1)
            .unwrap();
        assert_eq!(store.replica_high_water("p", "j").unwrap(), 1);
        assert_eq!(store.replica_records("p").unwrap().len(), 2);
    }
}

//! Multihost config on a server, per client: the desired config pushed to it (one generation
//! at a time; queued until the client acknowledges it), how applying it went, and the config
//! the client last reported. Items are JSON lists the sync layer writes; this store does not
//! look inside them.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::store::{from_millis, millis, StateStore};
use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredPeerConfig {
    pub peer: String,
    /// The desired config's generation (0: never pushed).
    pub generation: u64,
    /// JSON list of the plans pushed.
    pub plans: String,
    /// JSON list of the repositories pushed.
    pub repositories: String,
    pub pushed_at: Option<DateTime<Utc>>,
    /// The last generation the client acknowledged (0: none).
    pub acked_generation: u64,
    /// Why the client refused that generation; `None`: applied.
    pub ack_error: Option<String>,
    pub acked_at: Option<DateTime<Utc>>,
    /// JSON of the client's last config report.
    pub report: Option<String>,
    pub reported_at: Option<DateTime<Utc>>,
}

impl StateStore {
    /// Stores a new desired config for `peer`; returns its generation (one more than the
    /// last, in the same transaction).
    pub fn push_peer_config(
        &self,
        peer: &str,
        plans: &str,
        repositories: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO peer_configs (peer, generation, plans, repositories, pushed_at) \
                 VALUES (?1, 1, ?2, ?3, ?4) \
                 ON CONFLICT (peer) DO UPDATE SET generation = generation + 1, \
                 plans = excluded.plans, repositories = excluded.repositories, \
                 pushed_at = excluded.pushed_at",
                params![peer, plans, repositories, millis(at)],
            )?;
            c.query_row(
                "SELECT generation FROM peer_configs WHERE peer = ?1",
                params![peer],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|g| g as u64)
    }

    /// The client acknowledged `generation` (an older one than the stored ack is ignored).
    pub fn ack_peer_config(
        &self,
        peer: &str,
        generation: u64,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE peer_configs SET acked_generation = ?2, ack_error = ?3, acked_at = ?4 \
                 WHERE peer = ?1 AND acked_generation <= ?2",
                params![peer, generation as i64, error, millis(at)],
            )
        })
        .map(|_| ())
    }

    /// The client's config report (replacing the previous one).
    pub fn store_peer_config_report(
        &self,
        peer: &str,
        report: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO peer_configs (peer, report, reported_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (peer) DO UPDATE SET report = excluded.report, \
                 reported_at = excluded.reported_at",
                params![peer, report, millis(at)],
            )
        })
        .map(|_| ())
    }

    pub fn peer_config(&self, peer: &str) -> Result<Option<StoredPeerConfig>> {
        self.with(|c| {
            c.query_row(
                "SELECT peer, generation, plans, repositories, pushed_at, acked_generation, \
                 ack_error, acked_at, report, reported_at FROM peer_configs WHERE peer = ?1",
                params![peer],
                |r| {
                    Ok(StoredPeerConfig {
                        peer: r.get(0)?,
                        generation: r.get::<_, i64>(1)? as u64,
                        plans: r.get(2)?,
                        repositories: r.get(3)?,
                        pushed_at: r.get::<_, Option<i64>>(4)?.map(from_millis),
                        acked_generation: r.get::<_, i64>(5)? as u64,
                        ack_error: r.get(6)?,
                        acked_at: r.get::<_, Option<i64>>(7)?.map(from_millis),
                        report: r.get(8)?,
                        reported_at: r.get::<_, Option<i64>>(9)?.map(from_millis),
                    })
                },
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_count_up_and_acks_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let now = Utc::now();
        assert_eq!(store.peer_config("p").unwrap(), None);
        assert_eq!(store.push_peer_config("p", "[]", "[]", now).unwrap(), 1);
        store.store_peer_config_report("p", "{}", now).unwrap();
        assert_eq!(store.push_peer_config("p", "[1]", "[]", now).unwrap(), 2);
        store.ack_peer_config("p", 2, Some("bad"), now).unwrap();
        store.ack_peer_config("p", 1, None, now).unwrap();
        let stored = store.peer_config("p").unwrap().unwrap();
        assert_eq!(
            (
                stored.generation,
                stored.acked_generation,
                stored.plans.as_str()
            ),
            (2, 2, "[1]")
        );
        assert_eq!(stored.ack_error.as_deref(), Some("bad"));
        assert_eq!(stored.report.as_deref(), Some("{}"));
    }
}

//! Notification deliveries: one record per message a channel was sent (or could not be sent),
//! written after the last attempt, so `cairn status` can name the channels that keep failing.
//!
//! A record holds the channel's name, never its address or a secret: an error is stored as
//! the notifier wrote it, and the notifier keeps secrets out of its messages.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use crate::job::JobId;
use crate::store::{from_millis, millis, StateStore};
use crate::Result;

/// A delivery as the notifier reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The `[[notify]]` channel's name.
    pub channel: String,
    /// `failure`, `success`, …, `start` (a healthchecks start ping), `test`.
    pub event: String,
    pub plan: Option<String>,
    pub job: Option<JobId>,
    /// When the last attempt ended.
    pub at: DateTime<Utc>,
    pub attempts: u32,
    /// `None`: delivered.
    pub error: Option<String>,
}

/// A delivery as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub channel: String,
    pub event: String,
    pub plan: Option<String>,
    pub job: Option<JobId>,
    pub at: DateTime<Utc>,
    pub attempts: u32,
    pub ok: bool,
    pub error: Option<String>,
}

/// A channel whose last deliveries all failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailingChannel {
    pub channel: String,
    /// How many of its newest deliveries failed in a row (at least the number asked for).
    pub failed_in_a_row: u32,
    pub last_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

impl StateStore {
    pub fn record_delivery(&self, delivery: &NewDelivery) -> Result<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO notify_deliveries (channel, event, plan, job, at, attempts, ok, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    delivery.channel,
                    delivery.event,
                    delivery.plan,
                    delivery.job,
                    millis(delivery.at),
                    delivery.attempts,
                    delivery.error.is_none(),
                    delivery.error,
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Deliveries, newest first; of one channel when `channel` is given.
    pub fn deliveries(&self, channel: Option<&str>, limit: usize) -> Result<Vec<DeliveryRecord>> {
        self.with(|c| {
            let mut query = c.prepare(
                "SELECT id, channel, event, plan, job, at, attempts, ok, error \
                 FROM notify_deliveries WHERE (?1 IS NULL OR channel = ?1) \
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = query.query_map(params![channel, limit as i64], |r| {
                Ok(DeliveryRecord {
                    id: r.get(0)?,
                    channel: r.get(1)?,
                    event: r.get(2)?,
                    plan: r.get(3)?,
                    job: r.get(4)?,
                    at: from_millis(r.get(5)?),
                    attempts: r.get(6)?,
                    ok: r.get(7)?,
                    error: r.get(8)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The channels whose newest `last` deliveries (at least one, and all of them) failed,
    /// by name. A channel with fewer deliveries than `last` is not listed: one failure of a
    /// fresh channel may be a blip, `last` in a row is a channel someone must fix.
    pub fn failing_channels(&self, last: u32) -> Result<Vec<FailingChannel>> {
        let last = last.max(1);
        self.with(|c| {
            // Per channel: its run of failures since its last success (id > last ok id).
            let mut query = c.prepare(
                "SELECT d.channel, COUNT(*), MAX(d.at), \
                   (SELECT e.error FROM notify_deliveries e WHERE e.channel = d.channel \
                    ORDER BY e.id DESC LIMIT 1) \
                 FROM notify_deliveries d \
                 WHERE d.ok = 0 AND d.id > COALESCE( \
                   (SELECT MAX(o.id) FROM notify_deliveries o \
                    WHERE o.channel = d.channel AND o.ok = 1), 0) \
                 GROUP BY d.channel HAVING COUNT(*) >= ?1 ORDER BY d.channel",
            )?;
            let rows = query.query_map(params![last], |r| {
                Ok(FailingChannel {
                    channel: r.get(0)?,
                    failed_in_a_row: r.get(1)?,
                    last_at: from_millis(r.get(2)?),
                    last_error: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn delivery(channel: &str, secs: i64, error: Option<&str>) -> NewDelivery {
        NewDelivery {
            channel: channel.into(),
            event: "failure".into(),
            plan: Some("web".into()),
            job: Some(7),
            at: at(secs),
            attempts: 3,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn channels_failing_their_last_deliveries_are_listed_with_the_newest_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        // ops: failed, then recovered, then failed twice: two in a row.
        store
            .record_delivery(&delivery("ops", 1, Some("old")))
            .unwrap();
        store.record_delivery(&delivery("ops", 2, None)).unwrap();
        store
            .record_delivery(&delivery("ops", 3, Some("first")))
            .unwrap();
        store
            .record_delivery(&delivery("ops", 4, Some("second")))
            .unwrap();
        // phone: three failures, never a success.
        for secs in 5..8 {
            store
                .record_delivery(&delivery("phone", secs, Some("unreachable")))
                .unwrap();
        }
        // mail: failed long ago, delivered since.
        store
            .record_delivery(&delivery("mail", 1, Some("refused")))
            .unwrap();
        store.record_delivery(&delivery("mail", 9, None)).unwrap();

        let names = |list: Vec<FailingChannel>| -> Vec<(String, u32)> {
            list.into_iter()
                .map(|f| (f.channel, f.failed_in_a_row))
                .collect()
        };
        assert_eq!(
            names(store.failing_channels(2).unwrap()),
            [("ops".to_string(), 2), ("phone".to_string(), 3)]
        );
        assert_eq!(
            names(store.failing_channels(3).unwrap()),
            [("phone".to_string(), 3)]
        );
        let ops = &store.failing_channels(1).unwrap()[0];
        assert_eq!(ops.channel, "ops");
        assert_eq!(ops.last_error.as_deref(), Some("second"));
        assert_eq!(ops.last_at, at(4));

        let newest = store.deliveries(Some("ops"), 10).unwrap();
        assert_eq!(newest.len(), 4);
        assert_eq!(newest[0].error.as_deref(), Some("second"));
        assert!(!newest[0].ok && newest[2].ok);
        assert_eq!(
            (newest[0].attempts, newest[0].job, newest[0].plan.as_deref()),
            (3, Some(7), Some("web"))
        );
    }
}

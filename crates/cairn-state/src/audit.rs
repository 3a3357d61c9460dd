//! The audit log: who did what, from where, to what, and how it went. Rows are only ever
//! appended; `detail` holds the refusal or error message (callers keep secrets out of it).

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use crate::store::{from_millis, millis, StateStore};
use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `user:alice`, `token:ci`, `local:root`, `anonymous`.
    pub actor: String,
    /// The client's address, or `cli`.
    pub address: String,
    /// What was done: `user.add`, `token.revoke`, `login`, …
    pub action: String,
    /// What it was done to (a user, token, plan name), or empty.
    pub target: String,
    /// `ok` or `failed`.
    pub result: String,
    pub detail: Option<String>,
}

/// An audit record to append.
#[derive(Debug, Clone)]
pub struct NewAuditRecord<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub address: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub result: &'a str,
    pub detail: Option<&'a str>,
}

impl StateStore {
    pub fn insert_audit(&self, record: &NewAuditRecord<'_>) -> Result<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO audit_log (at, actor, address, action, target, result, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    millis(record.at),
                    record.actor,
                    record.address,
                    record.action,
                    record.target,
                    record.result,
                    record.detail,
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Records newest first, at most `limit`, older than `before_id` when given (paging).
    pub fn audit_records(&self, limit: usize, before_id: Option<i64>) -> Result<Vec<AuditRecord>> {
        self.with(|c| {
            let mut query = c.prepare(
                "SELECT id, at, actor, address, action, target, result, detail FROM audit_log \
                 WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = query.query_map(params![before_id, limit as i64], |r| {
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at: from_millis(r.get(1)?),
                    actor: r.get(2)?,
                    address: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    result: r.get(6)?,
                    detail: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }
}

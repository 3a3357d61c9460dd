//! Login sessions of the web server. A session is found by the SHA-256 of its cookie value
//! (the cookie itself is never stored); its CSRF token is stored as issued, because every
//! page must show it again. Expiry (idle and absolute) is decided by `cairn-access`, which
//! passes the cut-off times here.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::store::{from_millis, millis, StateStore};
use crate::users::immediate;
use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSession {
    /// SHA-256 of the cookie value, hex.
    #[serde(skip)]
    pub id_hash: String,
    pub user_id: i64,
    #[serde(skip)]
    pub csrf_token: String,
    /// Where the login came from (the client's address).
    pub address: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub second_factor_done: bool,
}

const SESSION_COLUMNS: &str = "SELECT id_hash, user_id, csrf_token, address, created_at, \
    last_seen_at, second_factor_done FROM sessions";

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<StoredSession> {
    Ok(StoredSession {
        id_hash: r.get(0)?,
        user_id: r.get(1)?,
        csrf_token: r.get(2)?,
        address: r.get(3)?,
        created_at: from_millis(r.get(4)?),
        last_seen_at: from_millis(r.get(5)?),
        second_factor_done: r.get(6)?,
    })
}

fn insert(c: &rusqlite::Connection, session: &StoredSession) -> rusqlite::Result<usize> {
    c.execute(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, address, created_at, \
         last_seen_at, second_factor_done) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            session.id_hash,
            session.user_id,
            session.csrf_token,
            session.address,
            millis(session.created_at),
            millis(session.last_seen_at),
            session.second_factor_done,
        ],
    )
}

impl StateStore {
    pub fn insert_session(&self, session: &StoredSession) -> Result<()> {
        self.with(|c| insert(c, session)).map(|_| ())
    }

    pub fn session_by_hash(&self, id_hash: &str) -> Result<Option<StoredSession>> {
        self.with(|c| {
            c.query_row(
                &format!("{SESSION_COLUMNS} WHERE id_hash = ?1"),
                params![id_hash],
                session_from_row,
            )
            .optional()
        })
    }

    pub fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1",
                params![id_hash, millis(at)],
            )
        })
        .map(|_| ())
    }

    /// Replaces the session `old_hash` with `new` in one step (rotation: the old cookie stops
    /// working the moment the new one exists); false when `old_hash` was not a session.
    pub fn replace_session(&self, old_hash: &str, new: &StoredSession) -> Result<bool> {
        self.with(|c| {
            let transaction = immediate(c)?;
            let removed = transaction
                .execute("DELETE FROM sessions WHERE id_hash = ?1", params![old_hash])?;
            if removed == 0 {
                return Ok(false);
            }
            insert(&transaction, new)?;
            transaction.commit()?;
            Ok(true)
        })
    }

    pub fn delete_session(&self, id_hash: &str) -> Result<bool> {
        self.with(|c| c.execute("DELETE FROM sessions WHERE id_hash = ?1", params![id_hash]))
            .map(|n| n == 1)
    }

    /// Ends every session of a user; how many there were.
    pub fn delete_user_sessions(&self, user_id: i64) -> Result<usize> {
        self.with(|c| c.execute("DELETE FROM sessions WHERE user_id = ?1", params![user_id]))
    }

    /// Removes sessions idle since before `seen_before` or created before `created_before`.
    pub fn delete_expired_sessions(
        &self,
        seen_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> Result<usize> {
        self.with(|c| {
            c.execute(
                "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2",
                params![millis(seen_before), millis(created_before)],
            )
        })
    }
}

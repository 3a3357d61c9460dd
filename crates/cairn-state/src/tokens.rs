//! API tokens: a name, a role, scopes (a JSON list of scope strings), and the SHA-256 of the
//! token, which is shown once and never stored. Revoked tokens stay listed (who made what,
//! when it was last used) until a new token takes the name.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::store::{from_millis, millis, StateStore};
use crate::users::immediate;
use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredToken {
    pub id: i64,
    pub name: String,
    pub role: String,
    /// A JSON list of scope strings; `[]` is every repository and plan.
    pub scopes: String,
    /// SHA-256 of the token, hex.
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token to record.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub scopes: &'a str,
    pub token_hash: &'a str,
    pub created_at: DateTime<Utc>,
    pub created_by: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

const TOKEN_COLUMNS: &str = "SELECT id, name, role, scopes, token_hash, created_at, created_by, \
    expires_at, last_used_at, revoked_at FROM api_tokens";

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<StoredToken> {
    let time = |i| r.get::<_, Option<i64>>(i).map(|t| t.map(from_millis));
    Ok(StoredToken {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        scopes: r.get(3)?,
        token_hash: r.get(4)?,
        created_at: from_millis(r.get(5)?),
        created_by: r.get(6)?,
        expires_at: time(7)?,
        last_used_at: time(8)?,
        revoked_at: time(9)?,
    })
}

impl StateStore {
    /// Records a token; `None` when a token that is not revoked has the name. A revoked
    /// token of the same name is replaced.
    pub fn insert_token(&self, token: &NewToken<'_>) -> Result<Option<i64>> {
        self.with(|c| {
            let transaction = immediate(c)?;
            transaction.execute(
                "DELETE FROM api_tokens WHERE name = ?1 AND revoked_at IS NOT NULL",
                params![token.name],
            )?;
            let changed = transaction.execute(
                "INSERT INTO api_tokens (name, role, scopes, token_hash, created_at, created_by, \
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO NOTHING",
                params![
                    token.name,
                    token.role,
                    token.scopes,
                    token.token_hash,
                    millis(token.created_at),
                    token.created_by,
                    token.expires_at.map(millis),
                ],
            )?;
            let id = transaction.last_insert_rowid();
            transaction.commit()?;
            Ok((changed == 1).then_some(id))
        })
    }

    /// Every token, by name.
    pub fn list_tokens(&self) -> Result<Vec<StoredToken>> {
        self.with(|c| {
            let mut query = c.prepare(&format!("{TOKEN_COLUMNS} ORDER BY name"))?;
            let rows = query.query_map([], token_from_row)?;
            rows.collect()
        })
    }

    pub fn token_by_hash(&self, token_hash: &str) -> Result<Option<StoredToken>> {
        self.with(|c| {
            c.query_row(
                &format!("{TOKEN_COLUMNS} WHERE token_hash = ?1"),
                params![token_hash],
                token_from_row,
            )
            .optional()
        })
    }

    pub fn token_by_name(&self, name: &str) -> Result<Option<StoredToken>> {
        self.with(|c| {
            c.query_row(
                &format!("{TOKEN_COLUMNS} WHERE name = ?1"),
                params![name],
                token_from_row,
            )
            .optional()
        })
    }

    /// Revokes a token; false when there is none of that name or it was revoked already.
    pub fn revoke_token(&self, name: &str, at: DateTime<Utc>) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, millis(at)],
            )
        })
        .map(|n| n == 1)
    }

    /// Records a use at `at`, unless one was recorded after `unless_after` (so a busy token
    /// writes at most once a minute).
    pub fn touch_token(
        &self,
        id: i64,
        at: DateTime<Utc>,
        unless_after: DateTime<Utc>,
    ) -> Result<()> {
        self.touch_last_used("api_tokens", id, at, unless_after)
    }
}

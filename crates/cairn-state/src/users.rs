//! Users of the web server: name, role, password hash, second factor, recovery codes, and
//! the one-time setup token that creates the first one.
//!
//! This layer stores what `cairn-access` computed (argon2id hashes, sealed TOTP seeds, SHA-256
//! of recovery codes and setup tokens) and keeps the rules that must hold across processes
//! (the CLI and the daemon write the same file) inside one transaction each: the last admin
//! cannot go, the first user needs the setup token and no other user, a TOTP step and a
//! recovery code are used once. Roles are plain text here; `cairn-access` owns their meaning.
//! A record serializes without its hash and secrets (`#[serde(skip)]`).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::store::{from_millis, millis, StateStore};
use crate::Result;

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredUser {
    pub id: i64,
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub password_hash: String,
    /// The enabled TOTP seed, sealed with the instance key.
    #[serde(skip)]
    pub totp_secret_sealed: Option<String>,
    /// A seed being enrolled (shown as a QR code, not yet confirmed), sealed.
    #[serde(skip)]
    pub totp_pending_sealed: Option<String>,
    /// The last TOTP time step accepted (a code of this step or an earlier one is refused).
    #[serde(skip)]
    pub totp_last_step: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a guarded change of a user ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Done,
    NotFound,
    /// Refused: it would leave no user with the guarded role (the last admin).
    LastOfRole,
}

/// How an attempt to create the first user ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUser {
    Created(i64),
    /// The setup token is not the current one (or was used already).
    BadToken,
    /// A user exists: setup is over.
    UsersExist,
}

const USER_COLUMNS: &str = "SELECT id, name, role, password_hash, totp_secret_sealed, \
    totp_pending_sealed, totp_last_step, created_at, updated_at FROM users";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<StoredUser> {
    Ok(StoredUser {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        password_hash: r.get(3)?,
        totp_secret_sealed: r.get(4)?,
        totp_pending_sealed: r.get(5)?,
        totp_last_step: r.get(6)?,
        created_at: from_millis(r.get(7)?),
        updated_at: from_millis(r.get(8)?),
    })
}

/// A write transaction that takes the database's write lock at once, so a check and the
/// write it guards see the same rows even with another process writing.
pub(crate) fn immediate(c: &Connection) -> rusqlite::Result<Transaction<'_>> {
    Transaction::new_unchecked(c, TransactionBehavior::Immediate)
}

fn others_with_role(c: &Connection, role: &str, name: &str) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT COUNT(*) FROM users WHERE role = ?1 AND name <> ?2",
        params![role, name],
        |r| r.get(0),
    )
}

impl StateStore {
    pub fn count_users(&self) -> Result<u64> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
    }

    /// Adds a user; `None` when the name is taken.
    pub fn insert_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        self.with(|c| {
            let changed = c.execute(
                "INSERT INTO users (name, role, password_hash, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name) DO NOTHING",
                params![name, role, password_hash, millis(at)],
            )?;
            Ok((changed == 1).then(|| c.last_insert_rowid()))
        })
    }

    /// Adds the first user when `setup_token_hash` is the current setup token and no user
    /// exists; the token is consumed.
    pub fn insert_first_user(
        &self,
        setup_token_hash: &str,
        name: &str,
        role: &str,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<FirstUser> {
        self.with(|c| {
            let transaction = immediate(c)?;
            let users: i64 =
                transaction.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
            if users > 0 {
                return Ok(FirstUser::UsersExist);
            }
            let taken = transaction.execute(
                "DELETE FROM setup_tokens WHERE token_hash = ?1",
                params![setup_token_hash],
            )?;
            if taken == 0 {
                return Ok(FirstUser::BadToken);
            }
            transaction.execute("DELETE FROM setup_tokens", [])?;
            transaction.execute(
                "INSERT INTO users (name, role, password_hash, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![name, role, password_hash, millis(at)],
            )?;
            let id = transaction.last_insert_rowid();
            transaction.commit()?;
            Ok(FirstUser::Created(id))
        })
    }

    /// Replaces every setup token with this one (its SHA-256).
    pub fn replace_setup_token(&self, token_hash: &str, at: DateTime<Utc>) -> Result<()> {
        self.with(|c| {
            let transaction = immediate(c)?;
            transaction.execute("DELETE FROM setup_tokens", [])?;
            transaction.execute(
                "INSERT INTO setup_tokens (token_hash, created_at) VALUES (?1, ?2)",
                params![token_hash, millis(at)],
            )?;
            transaction.commit()
        })
    }

    pub fn user_by_name(&self, name: &str) -> Result<Option<StoredUser>> {
        self.with(|c| {
            c.query_row(
                &format!("{USER_COLUMNS} WHERE name = ?1"),
                params![name],
                user_from_row,
            )
            .optional()
        })
    }

    pub fn user_by_id(&self, id: i64) -> Result<Option<StoredUser>> {
        self.with(|c| {
            c.query_row(
                &format!("{USER_COLUMNS} WHERE id = ?1"),
                params![id],
                user_from_row,
            )
            .optional()
        })
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<StoredUser>> {
        self.with(|c| {
            let mut query = c.prepare(&format!("{USER_COLUMNS} ORDER BY name"))?;
            let rows = query.query_map([], user_from_row)?;
            rows.collect()
        })
    }

    /// Removes a user (its sessions and recovery codes go with it), unless it is the last one
    /// with `guarded_role`.
    pub fn delete_user(&self, name: &str, guarded_role: &str) -> Result<UserChange> {
        self.with(|c| {
            let transaction = immediate(c)?;
            let role: Option<String> = transaction
                .query_row(
                    "SELECT role FROM users WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(role) = role else {
                return Ok(UserChange::NotFound);
            };
            if role == guarded_role && others_with_role(&transaction, guarded_role, name)? == 0 {
                return Ok(UserChange::LastOfRole);
            }
            transaction.execute("DELETE FROM users WHERE name = ?1", params![name])?;
            transaction.commit()?;
            Ok(UserChange::Done)
        })
    }

    /// Changes a user's role, unless that takes the last `guarded_role` away.
    pub fn set_user_role(
        &self,
        name: &str,
        role: &str,
        guarded_role: &str,
        at: DateTime<Utc>,
    ) -> Result<UserChange> {
        self.with(|c| {
            let transaction = immediate(c)?;
            let current: Option<String> = transaction
                .query_row(
                    "SELECT role FROM users WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(current) = current else {
                return Ok(UserChange::NotFound);
            };
            let demotes = current == guarded_role && role != guarded_role;
            if demotes && others_with_role(&transaction, guarded_role, name)? == 0 {
                return Ok(UserChange::LastOfRole);
            }
            transaction.execute(
                "UPDATE users SET role = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, role, millis(at)],
            )?;
            transaction.commit()?;
            Ok(UserChange::Done)
        })
    }

    /// Sets a user's password hash and ends all its sessions; false when there is no such user.
    pub fn set_password_hash(&self, name: &str, hash: &str, at: DateTime<Utc>) -> Result<bool> {
        self.with(|c| {
            let transaction = immediate(c)?;
            let changed = transaction.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, hash, millis(at)],
            )?;
            transaction.execute(
                "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE name = ?1)",
                params![name],
            )?;
            transaction.commit()?;
            Ok(changed == 1)
        })
    }

    /// Records (or with `None` drops) a TOTP seed being enrolled.
    pub fn set_totp_pending(
        &self,
        user_id: i64,
        sealed: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE users SET totp_pending_sealed = ?2, updated_at = ?3 WHERE id = ?1",
                params![user_id, sealed, millis(at)],
            )
        })
        .map(|changed| changed == 1)
    }

    /// Turns the second factor on: `sealed_secret` becomes the seed, `step` the last step used,
    /// and `recovery_code_hashes` replace any earlier codes.
    pub fn enable_totp(
        &self,
        user_id: i64,
        sealed_secret: &str,
        step: i64,
        recovery_code_hashes: &[String],
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.with(|c| {
            let transaction = immediate(c)?;
            let changed = transaction.execute(
                "UPDATE users SET totp_secret_sealed = ?2, totp_pending_sealed = NULL, \
                 totp_last_step = ?3, updated_at = ?4 WHERE id = ?1",
                params![user_id, sealed_secret, step, millis(at)],
            )?;
            if changed == 0 {
                return Ok(false);
            }
            transaction.execute(
                "DELETE FROM recovery_codes WHERE user_id = ?1",
                params![user_id],
            )?;
            for hash in recovery_code_hashes {
                transaction.execute(
                    "INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)",
                    params![user_id, hash],
                )?;
            }
            transaction.commit()?;
            Ok(true)
        })
    }

    /// Turns the second factor off: seed, pending seed and recovery codes go.
    pub fn clear_second_factor(&self, name: &str, at: DateTime<Utc>) -> Result<bool> {
        self.with(|c| {
            let transaction = immediate(c)?;
            let changed = transaction.execute(
                "UPDATE users SET totp_secret_sealed = NULL, totp_pending_sealed = NULL, \
                 totp_last_step = NULL, updated_at = ?2 WHERE name = ?1",
                params![name, millis(at)],
            )?;
            transaction.execute(
                "DELETE FROM recovery_codes WHERE user_id IN (SELECT id FROM users WHERE name = ?1)",
                params![name],
            )?;
            transaction.commit()?;
            Ok(changed == 1)
        })
    }

    /// Records that a TOTP code of `step` was used; false when that step or a later one was
    /// used already (a replay).
    pub fn advance_totp_step(&self, user_id: i64, step: i64) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 \
                 AND totp_secret_sealed IS NOT NULL \
                 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
                params![user_id, step],
            )
        })
        .map(|changed| changed == 1)
    }

    /// Uses a recovery code (its SHA-256); false when it is not the user's or was used.
    pub fn use_recovery_code(
        &self,
        user_id: i64,
        code_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE recovery_codes SET used_at = ?3 \
                 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
                params![user_id, code_hash, millis(at)],
            )
        })
        .map(|changed| changed == 1)
    }

    /// How many of a user's recovery codes are still unused.
    pub fn unused_recovery_codes(&self, user_id: i64) -> Result<u64> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
                params![user_id],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n as u64)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::StoredSession;

    #[test]
    fn removing_a_user_removes_its_sessions_and_recovery_codes() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        store
            .insert_user("root", "admin", "h0", at)
            .unwrap()
            .unwrap();
        let id = store
            .insert_user("alice", "viewer", "h1", at)
            .unwrap()
            .unwrap();
        assert_eq!(
            store.insert_user("alice", "viewer", "h2", at).unwrap(),
            None
        );
        store
            .enable_totp(id, "sealed", 1, &["c1".into(), "c2".into()], at)
            .unwrap();
        store
            .insert_session(&StoredSession {
                id_hash: "s1".into(),
                user_id: id,
                csrf_token: "t".into(),
                address: "a".into(),
                created_at: at,
                last_seen_at: at,
                second_factor_done: true,
            })
            .unwrap();
        assert_eq!(
            store.delete_user("alice", "admin").unwrap(),
            UserChange::Done
        );
        assert!(store.session_by_hash("s1").unwrap().is_none());
        assert_eq!(store.unused_recovery_codes(id).unwrap(), 0);
        assert_eq!(
            store.delete_user("root", "admin").unwrap(),
            UserChange::LastOfRole
        );
    }
}

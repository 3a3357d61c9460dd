//! Logins of restic clients at the REST endpoint (`cairn rest-user`): HTTP Basic credentials,
//! the password stored as argon2id, each login limited to the repositories it was given.
//!
//! restic makes many requests per backup (every pack, index and lock is one), and argon2 costs
//! tens of milliseconds each: a correct login is remembered in a [`RestLoginCache`] for a few
//! minutes, keyed by the SHA-256 of (name, password). The stored row is still read on every
//! request, and a cached verification counts only while the row's hash is the one it was
//! verified against, so removing a login (from the CLI, in another process) or giving it a new
//! password takes effect at the next request.

use std::collections::HashMap;
use std::sync::Mutex;

use cairn_state::{NewRestUser, StoredRestUser};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{check_name, Accounts, AccountsError, Clock, Result};
use crate::password::{hash_password, password_problem, verify_nothing, verify_password};
use crate::secret::constant_time_eq;

/// How long a verified password is taken without argon2.
pub const REST_LOGIN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5 * 60);
const LAST_USED_GRANULARITY: chrono::Duration = chrono::Duration::minutes(1);
/// Entries are dropped when they expire; past this many the table is swept.
const CACHE_SIZE_BEFORE_SWEEP: usize = 4096;

/// A REST login as the CLI shows it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestUserRecord {
    pub id: i64,
    pub name: String,
    pub repositories: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl RestUserRecord {
    pub fn may_use(&self, repository: &str) -> bool {
        self.repositories.iter().any(|r| r == repository)
    }
}

fn record(stored: &StoredRestUser) -> Result<RestUserRecord> {
    let repositories: Vec<String> = serde_json::from_str(&stored.repositories).map_err(|_| {
        AccountsError::State(cairn_state::StateError::BadValue {
            column: "rest_users.repositories",
            value: stored.repositories.clone(),
        })
    })?;
    Ok(RestUserRecord {
        id: stored.id,
        name: stored.name.clone(),
        repositories,
        created_at: stored.created_at,
        created_by: stored.created_by.clone(),
        last_used_at: stored.last_used_at,
    })
}

/// Verified REST logins, in memory. One per server.
pub struct RestLoginCache {
    clock: Clock,
    ttl: chrono::Duration,
    entries: Mutex<HashMap<[u8; 32], CachedLogin>>,
}

struct CachedLogin {
    name: String,
    /// The stored hash the password was verified against.
    password_hash: String,
    verified_at: DateTime<Utc>,
}

impl std::fmt::Debug for RestLoginCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestLoginCache").finish_non_exhaustive()
    }
}

impl RestLoginCache {
    pub fn new(clock: Clock, ttl: std::time::Duration) -> RestLoginCache {
        RestLoginCache {
            clock,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5)),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(name: &str, password: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(password.as_bytes());
        hasher.finalize().into()
    }

    /// Whether this password was verified against `stored_hash` recently.
    fn holds(&self, key: &[u8; 32], stored_hash: &str) -> bool {
        let now = (self.clock)();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).is_some_and(|entry| {
            now - entry.verified_at < self.ttl
                && constant_time_eq(&entry.password_hash, stored_hash)
        })
    }

    fn insert(&self, key: [u8; 32], name: &str, stored_hash: &str) {
        let now = (self.clock)();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > CACHE_SIZE_BEFORE_SWEEP {
            entries.retain(|_, entry| now - entry.verified_at < self.ttl);
        }
        entries.insert(
            key,
            CachedLogin {
                name: name.to_string(),
                password_hash: stored_hash.to_string(),
                verified_at: now,
            },
        );
    }

    /// Forgets every verification of `name` (it was removed, or its password failed).
    pub fn forget(&self, name: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, entry| entry.name != name);
    }
}

impl Accounts {
    /// Adds a login for `repositories` (at least one; the caller checks they are served).
    pub fn add_rest_user(
        &self,
        name: &str,
        repositories: &[String],
        password: &str,
        created_by: &str,
    ) -> Result<RestUserRecord> {
        check_name("rest user", name)?;
        if repositories.is_empty() {
            return Err(AccountsError::InvalidInput(format!(
                "rest user {name:?} would reach no repository; give --repository NAME"
            )));
        }
        if let Some(problem) = password_problem(password) {
            return Err(AccountsError::InvalidInput(problem));
        }
        let mut repositories = repositories.to_vec();
        repositories.sort();
        repositories.dedup();
        let repositories_json = serde_json::to_string(&repositories).expect("names serialize");
        let hash = hash_password(password);
        let inserted = self.state.insert_rest_user(&NewRestUser {
            name,
            password_hash: &hash,
            repositories: &repositories_json,
            created_at: self.now(),
            created_by,
        })?;
        if inserted.is_none() {
            return Err(AccountsError::Conflict(format!(
                "a rest user named {name:?} exists already; choose another name or remove it first"
            )));
        }
        let stored = self
            .state
            .rest_user_by_name(name)?
            .ok_or_else(|| AccountsError::NotFound(format!("rest user {name:?}")))?;
        record(&stored)
    }

    /// Every REST login, by name.
    pub fn rest_users(&self) -> Result<Vec<RestUserRecord>> {
        self.state.list_rest_users()?.iter().map(record).collect()
    }

    pub fn remove_rest_user(&self, name: &str) -> Result<()> {
        if self.state.remove_rest_user(name)? {
            Ok(())
        } else {
            Err(AccountsError::NotFound(format!(
                "rest user {name:?}; see `cairn rest-user list`"
            )))
        }
    }

    /// The login these Basic credentials are, or `None` (unknown name or wrong password,
    /// after the same argon2 work either way, unless `cache` holds a recent verification).
    pub fn rest_login(
        &self,
        name: &str,
        password: &str,
        cache: &RestLoginCache,
    ) -> Result<Option<RestUserRecord>> {
        let Some(stored) = self.state.rest_user_by_name(name)? else {
            cache.forget(name);
            verify_nothing(password);
            return Ok(None);
        };
        let key = RestLoginCache::key(name, password);
        if !cache.holds(&key, &stored.password_hash) {
            if !verify_password(&stored.password_hash, password) {
                return Ok(None);
            }
            cache.insert(key, name, &stored.password_hash);
        }
        let now = self.now();
        self.state
            .touch_rest_user(stored.id, now, now - LAST_USED_GRANULARITY)?;
        record(&stored).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::testing::{Fixture, PASSWORD};
    use super::*;

    fn cache(f: &Fixture) -> RestLoginCache {
        let now = f.now.clone();
        RestLoginCache::new(Arc::new(move || *now.lock().unwrap()), REST_LOGIN_CACHE_TTL)
    }

    #[test]
    fn a_rest_login_reaches_its_repositories_and_is_checked_against_the_row() {
        let f = Fixture::new();
        let cache = cache(&f);
        let added = f
            .accounts
            .add_rest_user(
                "laptop",
                &["clients".into(), "clients".into(), "archive".into()],
                PASSWORD,
                "local:root",
            )
            .unwrap();
        assert_eq!(added.repositories, ["archive", "clients"]);
        let user = f
            .accounts
            .rest_login("laptop", PASSWORD, &cache)
            .unwrap()
            .unwrap();
        assert!(user.may_use("clients") && !user.may_use("other"));
        assert_eq!(
            f.accounts
                .rest_login("laptop", "wrong password!", &cache)
                .unwrap(),
            None
        );
        assert_eq!(
            f.accounts.rest_login("nobody", PASSWORD, &cache).unwrap(),
            None
        );
        // Removed in the database (as the CLI does from another process): the cached
        // verification no longer counts.
        f.accounts.remove_rest_user("laptop").unwrap();
        assert_eq!(
            f.accounts.rest_login("laptop", PASSWORD, &cache).unwrap(),
            None
        );
        // A new login of the same name with another password: the old one does not open it.
        f.accounts
            .add_rest_user("laptop", &["clients".into()], "another long password", "x")
            .unwrap();
        assert_eq!(
            f.accounts.rest_login("laptop", PASSWORD, &cache).unwrap(),
            None
        );
        assert!(matches!(
            f.accounts.remove_rest_user("ghost"),
            Err(AccountsError::NotFound(_))
        ));
    }

    #[test]
    fn cached_verifications_expire_and_bad_input_is_refused() {
        let f = Fixture::new();
        let cache = cache(&f);
        f.accounts
            .add_rest_user("laptop", &["clients".into()], PASSWORD, "x")
            .unwrap();
        let key = RestLoginCache::key("laptop", PASSWORD);
        assert!(f
            .accounts
            .rest_login("laptop", PASSWORD, &cache)
            .unwrap()
            .is_some());
        let hash = f
            .state
            .rest_user_by_name("laptop")
            .unwrap()
            .unwrap()
            .password_hash;
        assert!(cache.holds(&key, &hash));
        f.advance(REST_LOGIN_CACHE_TTL.as_secs() as i64 + 1);
        assert!(!cache.holds(&key, &hash), "expired");
        assert!(matches!(
            f.accounts
                .add_rest_user("laptop", &["clients".into()], PASSWORD, "x"),
            Err(AccountsError::Conflict(_))
        ));
        assert!(matches!(
            f.accounts.add_rest_user("other", &[], PASSWORD, "x"),
            Err(AccountsError::InvalidInput(_))
        ));
        assert!(matches!(
            f.accounts
                .add_rest_user("other", &["clients".into()], "short", "x"),
            Err(AccountsError::InvalidInput(_))
        ));
        assert!(matches!(
            f.accounts
                .add_rest_user("../x", &["clients".into()], PASSWORD, "x"),
            Err(AccountsError::InvalidInput(_))
        ));
    }
}

//! Logins of restic clients at the REST endpoint: a name, the argon2id hash of its password
//! (computed by `cairn-access`; the password itself is never stored) and the repositories it
//! may use, as a JSON list of names.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::store::{from_millis, millis, StateStore};
use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRestUser {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub password_hash: String,
    /// A JSON list of repository names.
    pub repositories: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A login to record.
#[derive(Debug, Clone)]
pub struct NewRestUser<'a> {
    pub name: &'a str,
    pub password_hash: &'a str,
    pub repositories: &'a str,
    pub created_at: DateTime<Utc>,
    pub created_by: &'a str,
}

const COLUMNS: &str = "SELECT id, name, password_hash, repositories, created_at, created_by, \
    last_used_at FROM rest_users";

fn from_row(r: &Row<'_>) -> rusqlite::Result<StoredRestUser> {
    Ok(StoredRestUser {
        id: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        repositories: r.get(3)?,
        created_at: from_millis(r.get(4)?),
        created_by: r.get(5)?,
        last_used_at: r.get::<_, Option<i64>>(6)?.map(from_millis),
    })
}

impl StateStore {
    /// Records a login; `None` when one of that name exists.
    pub fn insert_rest_user(&self, user: &NewRestUser<'_>) -> Result<Option<i64>> {
        self.with(|c| {
            let changed = c.execute(
                "INSERT INTO rest_users (name, password_hash, repositories, created_at, \
                 created_by) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                params![
                    user.name,
                    user.password_hash,
                    user.repositories,
                    millis(user.created_at),
                    user.created_by,
                ],
            )?;
            Ok((changed == 1).then(|| c.last_insert_rowid()))
        })
    }

    /// Every login, by name.
    pub fn list_rest_users(&self) -> Result<Vec<StoredRestUser>> {
        self.with(|c| {
            let mut query = c.prepare(&format!("{COLUMNS} ORDER BY name"))?;
            let rows = query.query_map([], from_row)?;
            rows.collect()
        })
    }

    pub fn rest_user_by_name(&self, name: &str) -> Result<Option<StoredRestUser>> {
        self.with(|c| {
            c.query_row(
                &format!("{COLUMNS} WHERE name = ?1"),
                params![name],
                from_row,
            )
            .optional()
        })
    }

    /// Removes a login; false when there is none of that name.
    pub fn remove_rest_user(&self, name: &str) -> Result<bool> {
        self.with(|c| c.execute("DELETE FROM rest_users WHERE name = ?1", params![name]))
            .map(|n| n == 1)
    }

    /// Records a use at `at`, unless one was recorded after `unless_after` (a busy client
    /// writes at most once a minute).
    pub fn touch_rest_user(
        &self,
        id: i64,
        at: DateTime<Utc>,
        unless_after: DateTime<Utc>,
    ) -> Result<()> {
        self.touch_last_used("rest_users", id, at, unless_after)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn rest_users_round_trip_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(dir.path()).unwrap();
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let user = NewRestUser {
            name: "laptop",
            password_hash: "$argon2id$…",
            repositories: "[\"clients\"]",
            created_at: at,
            created_by: "local:root",
        };
        assert!(state.insert_rest_user(&user).unwrap().is_some());
        assert_eq!(state.insert_rest_user(&user).unwrap(), None, "name taken");
        let stored = state.rest_user_by_name("laptop").unwrap().unwrap();
        assert_eq!(stored.repositories, "[\"clients\"]");
        assert_eq!(stored.last_used_at, None);
        state.touch_rest_user(stored.id, at, at).unwrap();
        let listed = state.list_rest_users().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_used_at, Some(at));
        assert!(
            !serde_json::to_string(&listed[0])
                .unwrap()
                .contains("argon2"),
            "the hash is never serialized"
        );
        assert!(state.remove_rest_user("laptop").unwrap());
        assert!(!state.remove_rest_user("laptop").unwrap());
        assert_eq!(state.rest_user_by_name("laptop").unwrap(), None);
    }
}

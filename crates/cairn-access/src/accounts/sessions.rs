//! Login sessions: a 256-bit cookie (only its SHA-256 is stored) with a CSRF token, ended
//! when idle or old, rotated when the second factor is done, ended by logout.

use cairn_state::StoredSession;
use chrono::{DateTime, Utc};

use super::{Accounts, AccountsError, NewSession, Result, SessionInfo};
use crate::secret::{random_token, sha256_hex};

fn duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Accounts {
    fn fresh_session(
        &self,
        user_id: i64,
        address: &str,
        created_at: DateTime<Utc>,
        second_factor_done: bool,
    ) -> (NewSession, StoredSession) {
        let cookie_value = random_token();
        let csrf_token = random_token();
        let stored = StoredSession {
            id_hash: sha256_hex(&cookie_value),
            user_id,
            csrf_token: csrf_token.clone(),
            address: address.to_string(),
            created_at,
            last_seen_at: self.now(),
            second_factor_done,
        };
        (
            NewSession {
                cookie_value,
                csrf_token,
            },
            stored,
        )
    }

    /// Starts a session for a user whose password (and, when `second_factor_done`, second
    /// factor) was checked.
    pub fn create_session(
        &self,
        user_id: i64,
        address: &str,
        second_factor_done: bool,
    ) -> Result<NewSession> {
        self.stored_user_by_id(user_id)?;
        let (new, stored) = self.fresh_session(user_id, address, self.now(), second_factor_done);
        self.state.insert_session(&stored)?;
        Ok(new)
    }

    /// The live session a cookie names, or `None` (unknown, idle too long, too old). Every
    /// expired session is removed on the way; a live one is marked as seen now.
    fn live_session(&self, cookie_value: &str) -> Result<Option<StoredSession>> {
        let now = self.now();
        self.state.delete_expired_sessions(
            now - duration(self.policy.idle),
            now - duration(self.policy.max_age),
        )?;
        let id_hash = sha256_hex(cookie_value);
        let Some(session) = self.state.session_by_hash(&id_hash)? else {
            return Ok(None);
        };
        self.state.touch_session(&id_hash, now)?;
        Ok(Some(session))
    }

    pub fn session(&self, cookie_value: &str) -> Result<Option<SessionInfo>> {
        let Some(session) = self.live_session(cookie_value)? else {
            return Ok(None);
        };
        let user = match self.user_by_id(session.user_id) {
            Ok(user) => user,
            Err(AccountsError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(SessionInfo {
            principal: self.user_principal(&user),
            csrf_token: session.csrf_token,
            user,
            second_factor_done: session.second_factor_done,
        }))
    }

    /// Records that the session passed its second factor, and rotates it: the old cookie
    /// stops working, the new cookie and CSRF token are returned. The absolute age still
    /// counts from the password step.
    pub fn mark_second_factor_done(&self, cookie_value: &str) -> Result<NewSession> {
        let Some(old) = self.live_session(cookie_value)? else {
            return Err(AccountsError::NotFound(
                "session (it ended or expired); log in again".to_string(),
            ));
        };
        let (new, stored) = self.fresh_session(old.user_id, &old.address, old.created_at, true);
        if !self.state.replace_session(&old.id_hash, &stored)? {
            return Err(AccountsError::NotFound(
                "session (it ended meanwhile); log in again".to_string(),
            ));
        }
        Ok(new)
    }

    /// Logout: the cookie stops working. Ending an unknown session is not an error.
    pub fn end_session(&self, cookie_value: &str) -> Result<()> {
        self.state.delete_session(&sha256_hex(cookie_value))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Fixture, IDLE_SECONDS, MAX_AGE_SECONDS, PASSWORD};
    use crate::{Identity, Role};

    #[test]
    fn a_session_ends_when_idle_too_long() {
        let f = Fixture::new();
        let user = f
            .accounts
            .add_user("alice", Role::Operator, PASSWORD)
            .unwrap();
        let new = f
            .accounts
            .create_session(user.id, "10.0.0.1", true)
            .unwrap();
        assert_eq!(new.cookie_value.len(), 43);
        f.advance(IDLE_SECONDS - 1);
        let info = f.accounts.session(&new.cookie_value).unwrap().unwrap();
        assert_eq!(info.csrf_token, new.csrf_token);
        assert_eq!(info.user.name, "alice");
        assert!(info.second_factor_done);
        assert_eq!(info.principal.role, Role::Operator);
        assert!(matches!(info.principal.identity, Identity::User { .. }));
        // Seen just now, so the idle time starts again.
        f.advance(IDLE_SECONDS - 1);
        assert!(f.accounts.session(&new.cookie_value).unwrap().is_some());
        f.advance(IDLE_SECONDS + 1);
        assert!(f.accounts.session(&new.cookie_value).unwrap().is_none());
        // The row is gone, not just ignored.
        let hash = crate::secret::sha256_hex(&new.cookie_value);
        assert!(f.state.session_by_hash(&hash).unwrap().is_none());
        assert!(f.accounts.session("not a cookie").unwrap().is_none());
    }

    #[test]
    fn a_session_ends_at_its_max_age_however_busy() {
        let f = Fixture::new();
        let user = f
            .accounts
            .add_user("alice", Role::Viewer, PASSWORD)
            .unwrap();
        let new = f
            .accounts
            .create_session(user.id, "10.0.0.1", true)
            .unwrap();
        let mut elapsed = 0;
        while elapsed + 600 < MAX_AGE_SECONDS {
            f.advance(600);
            elapsed += 600;
            assert!(f.accounts.session(&new.cookie_value).unwrap().is_some());
        }
        f.advance(MAX_AGE_SECONDS - elapsed + 1);
        assert!(f.accounts.session(&new.cookie_value).unwrap().is_none());
    }

    #[test]
    fn the_second_factor_rotates_the_session_and_logout_ends_it() {
        let f = Fixture::new();
        let user = f.accounts.add_user("alice", Role::Admin, PASSWORD).unwrap();
        let half = f
            .accounts
            .create_session(user.id, "10.0.0.1", false)
            .unwrap();
        let info = f.accounts.session(&half.cookie_value).unwrap().unwrap();
        assert!(!info.second_factor_done);
        let full = f
            .accounts
            .mark_second_factor_done(&half.cookie_value)
            .unwrap();
        assert_ne!(full.cookie_value, half.cookie_value);
        assert_ne!(full.csrf_token, half.csrf_token);
        assert!(f.accounts.session(&half.cookie_value).unwrap().is_none());
        assert!(f
            .accounts
            .mark_second_factor_done(&half.cookie_value)
            .is_err());
        let info = f.accounts.session(&full.cookie_value).unwrap().unwrap();
        assert!(info.second_factor_done);
        assert_eq!(info.csrf_token, full.csrf_token);
        f.accounts.end_session(&full.cookie_value).unwrap();
        assert!(f.accounts.session(&full.cookie_value).unwrap().is_none());
    }

    #[test]
    fn a_new_password_or_removal_ends_the_users_sessions() {
        let f = Fixture::new();
        f.accounts.add_user("root", Role::Admin, PASSWORD).unwrap();
        let user = f
            .accounts
            .add_user("alice", Role::Viewer, PASSWORD)
            .unwrap();
        let one = f.accounts.create_session(user.id, "a", true).unwrap();
        f.accounts
            .set_password("alice", "a brand new password")
            .unwrap();
        assert!(f.accounts.session(&one.cookie_value).unwrap().is_none());
        let two = f.accounts.create_session(user.id, "a", true).unwrap();
        f.accounts.remove_user("alice").unwrap();
        assert!(f.accounts.session(&two.cookie_value).unwrap().is_none());
    }
}

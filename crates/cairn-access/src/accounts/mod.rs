//! Accounts: the users of the web server (argon2id passwords, an optional TOTP second factor
//! with one-time recovery codes), their login sessions, API tokens, the one-time setup token
//! that creates the first admin, and the audit log.
//!
//! # Design
//! - The state database (`cairn-state`) keeps rows; this module decides what they mean. It
//!   stores only hashes of what a client presents (argon2id for passwords, SHA-256 for the
//!   256-bit cookies, tokens and setup tokens, and the recovery codes) and TOTP seeds sealed
//!   with the [`InstanceKey`] (purpose `"totp seed"`), so a copy of `state.db` logs nobody in.
//! - Rules that must hold across processes (the CLI and the daemon write the same file) are
//!   enforced inside one SQLite transaction each: the last admin stays, the setup token is
//!   single use, a TOTP step and a recovery code are used once.
//! - The clock is injected, so expiry is tested without waiting.
//! - A session is found by the SHA-256 of its cookie. It ends when idle longer than
//!   [`SessionPolicy::idle`] or older than [`SessionPolicy::max_age`]; completing the second
//!   factor rotates it (a new cookie and CSRF token; the old cookie stops working), so a
//!   cookie planted before login never becomes an authenticated one.
//!
//! # Layout
//! - [`users`](self::users): users, passwords, setup. [`second_factor`](self::second_factor):
//!   TOTP enrolment and checks, recovery codes. [`sessions`](self::sessions),
//!   [`tokens`](self::tokens), [`audit`](self::audit). [`rest_users`]: logins of restic
//!   clients at the REST endpoint. [`error`]: [`AccountsError`].

mod audit;
pub mod error;
pub mod rest_users;
mod second_factor;
mod sessions;
mod tokens;
mod users;

use std::sync::Arc;

use cairn_state::{StateError, StateStore};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use audit::AuditEntry;
pub use cairn_state::AuditRecord;
pub use error::{AccountsError, Result};
pub use rest_users::{RestLoginCache, RestUserRecord, REST_LOGIN_CACHE_TTL};

use crate::{Identity, InstanceKey, Principal, Role, Scopes};

/// "Now", injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: std::time::Duration,
    /// A session this old ends, however busy.
    pub max_age: std::time::Duration,
}

/// A user as the API shows it (no hash, no seed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// An API token as the API shows it (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// What a correct password leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    Done(UserRecord),
    /// The user has TOTP on: a session may be created, marked as waiting for the code.
    NeedsSecondFactor(UserRecord),
}

/// A session just made: the cookie to set (shown once; only its SHA-256 is stored) and the
/// CSRF token forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub cookie_value: String,
    pub csrf_token: String,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub principal: Principal,
    pub csrf_token: String,
    pub user: UserRecord,
    pub second_factor_done: bool,
}

/// A TOTP seed being enrolled: typed by hand or scanned, then confirmed with a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    pub secret_base32: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

/// The sealing purpose of TOTP seeds.
const TOTP_SEAL_PURPOSE: &str = "totp seed";
/// The role that must always have a user.
const GUARDED_ROLE: Role = Role::Admin;

pub struct Accounts {
    state: Arc<StateStore>,
    key: Arc<InstanceKey>,
    clock: Clock,
    policy: SessionPolicy,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("state", &self.state)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    pub fn new(
        state: Arc<StateStore>,
        key: Arc<InstanceKey>,
        clock: Clock,
        policy: SessionPolicy,
    ) -> Accounts {
        Accounts {
            state,
            key,
            clock,
            policy,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// A logged-in user: every repository and plan its role allows.
    pub fn user_principal(&self, user: &UserRecord) -> Principal {
        Principal {
            identity: Identity::User {
                id: user.id,
                name: user.name.clone(),
            },
            role: user.role,
            scopes: Scopes::all(),
        }
    }
}

/// A role read back from the database.
fn stored_role(column: &'static str, text: &str) -> Result<Role> {
    text.parse().map_err(|_| {
        AccountsError::State(StateError::BadValue {
            column,
            value: text.to_string(),
        })
    })
}

/// The longest user or token name.
pub const NAME_LENGTH_MAX: usize = 64;

/// User and token names follow the rules of plan names: they appear in URLs, audit records
/// and `user:NAME` actors.
fn check_name(kind: &str, name: &str) -> Result<()> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let problem = if name.is_empty() {
        "is empty".to_string()
    } else if name.len() > NAME_LENGTH_MAX {
        format!("is longer than {NAME_LENGTH_MAX} characters")
    } else if !first_ok || !rest_ok {
        "cannot be used in a URL".to_string()
    } else {
        return Ok(());
    };
    Err(AccountsError::InvalidInput(format!(
        "{kind} name {name:?} {problem}; use letters, digits, '_', '-' and '.', starting with a letter or digit"
    )))
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Mutex;

    use chrono::TimeZone;

    use super::*;

    /// Accounts on a fresh state directory with a clock the test moves.
    pub struct Fixture {
        pub _dir: tempfile::TempDir,
        pub accounts: Accounts,
        pub now: Arc<Mutex<DateTime<Utc>>>,
        pub state: Arc<StateStore>,
    }

    pub const IDLE_SECONDS: i64 = 30 * 60;
    pub const MAX_AGE_SECONDS: i64 = 8 * 3600;

    impl Fixture {
        pub fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let state = Arc::new(StateStore::open(&dir.path().join("state")).unwrap());
            let key = Arc::new(InstanceKey::load_or_create(&dir.path().join("state")).unwrap());
            let now = Arc::new(Mutex::new(Utc.timestamp_opt(1_800_000_000, 0).unwrap()));
            let shared = now.clone();
            let clock: Clock = Arc::new(move || *shared.lock().unwrap());
            let policy = SessionPolicy {
                idle: std::time::Duration::from_secs(IDLE_SECONDS as u64),
                max_age: std::time::Duration::from_secs(MAX_AGE_SECONDS as u64),
            };
            let accounts = Accounts::new(state.clone(), key, clock, policy);
            Fixture {
                _dir: dir,
                accounts,
                now,
                state,
            }
        }

        pub fn advance(&self, seconds: i64) {
            *self.now.lock().unwrap() += chrono::Duration::seconds(seconds);
        }

        pub fn now(&self) -> DateTime<Utc> {
            *self.now.lock().unwrap()
        }
    }

    pub const PASSWORD: &str = "correct horse battery";
}

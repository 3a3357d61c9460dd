//! cairn's one permission model. A [`Principal`] is whoever makes a request (a UI user, an
//! API token, the daemon's own user on the unix socket, later a multihost peer); its
//! [`Role`] says which [`Action`]s it may take and its [`Scopes`] on which repositories and
//! plans ([`Resource`]). Every check in the API, the UI and the sync protocol is
//! [`Principal::may`]; nothing else decides.
//!
//! # Layout
//! - [`role`]: `admin`, `operator`, `viewer` and the actions each permits.
//! - [`scope`]: `*`, `repo:NAME`, `plan:NAME`, `!repo:NAME`, `!plan:NAME`; deny wins.
//! - [`principal`]: who is asking, and the one check.
//! - [`instance_key`]: the server's own key, which seals the secrets it must read back.
//! - [`recovery_key`]: the X25519 key pair whose public half seals server backups
//!   ([`archive_seal`]: streamed XChaCha20-Poly1305 chunks); the server never holds the secret.
//! - [`accounts`]: users (passwords, TOTP, recovery codes), sessions, API tokens, the setup
//!   token and the audit log, kept in the state database.
//! - [`password`] (argon2id), [`totp`] (RFC 6238), [`secret`] (random tokens and their
//!   hashes), [`throttle`] (the login delay).

pub mod accounts;
pub mod archive_seal;
pub mod error;
pub mod instance_key;
pub mod password;
pub mod principal;
pub mod recovery_key;
pub mod role;
pub mod scope;
pub mod secret;
pub mod throttle;
pub mod totp;

pub use accounts::Accounts;
pub use accounts::{
    AccountsError, AuditEntry, AuditRecord, Clock, LoginStep, NewSession, RestLoginCache,
    RestUserRecord, SessionInfo, SessionPolicy, TokenRecord, TotpEnrolment, UserRecord,
};
pub use error::AccessError;
pub use instance_key::{InstanceKey, KeyError};
pub use principal::{Identity, Principal};
pub use recovery_key::{RecoveryError, RecoveryKey, RecoveryKeyInput, RecoveryPublic};
pub use role::{Action, Role};
pub use scope::{Resource, Scope, Scopes};
pub use throttle::LoginThrottle;

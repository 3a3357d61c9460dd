//! cairn's state database: what ran, when, how it went and what it said.
//!
//! # Layout
//! - [`store`] — [`StateStore`], the one handle on `STATE_DIR/state.db` (SQLite in WAL mode,
//!   so a reader such as `cairn plans` never waits for a running job's writes).
//! - [`migrations`] — the schema, as numbered steps applied in order and recorded in
//!   `PRAGMA user_version`.
//! - [`job`] — the job model every face shares (CLI, daemon, web UI, multihost peers): kinds,
//!   states, triggers, and the records of jobs, their steps and their log lines.
//! - [`delivery`] — notification deliveries and the channels that keep failing.
//! - [`drill`] — the reports of restore drills.
//! - [`users`], [`sessions`], [`tokens`], [`audit`] — the web server's accounts as
//!   `cairn-access` computes them (hashes and sealed secrets only; records serialize without
//!   them), and its audit log.
//! - [`pairing`], [`peers`], [`change_log`], [`replicas`] — multihost: a server's pairing
//!   tokens (secret hashes only) and peers, a client's change log of its job records (kept by
//!   triggers on `jobs`), a server's replicas of its clients' history. The sync crate's traits
//!   are implemented on these by `cairn-server` (this crate is below `cairn-sync`).
//! - [`rest_users`] — logins of restic clients at the REST endpoint (argon2id hashes).
//! - [`online_backup`] — a consistent copy of the database while writers run (server backups).
//! - [`error`] — [`StateError`].
//!
//! # Invariants
//! - Every writer of the state goes through this crate; nothing else opens the file.
//! - A schema change is a new migration appended to the list, never an edit of an old one; a
//!   database written by a newer cairn (a higher version) is refused, not downgraded.
//! - The file and its directory are private to the user (0600 / 0700): logs can name hosts,
//!   paths and databases.
//! - Times are UTC, stored as Unix milliseconds; callers pass "now" (the clock is injected).

pub mod audit;
pub mod change_log;
pub mod delivery;
pub mod drill;
pub mod error;
pub mod job;
pub mod migrations;
pub mod online_backup;
pub mod pairing;
pub mod peer_configs;
pub mod peers;
pub mod replicas;
pub mod rest_users;
pub mod sessions;
pub mod store;
pub mod tokens;
pub mod users;

pub use audit::{AuditRecord, NewAuditRecord};
pub use change_log::StoredChange;
pub use delivery::{DeliveryRecord, FailingChannel, NewDelivery};
pub use error::{Result, StateError};
pub use job::{
    JobId, JobKind, JobRecord, JobState, LogLine, NewJob, StepRecord, StepState, Trigger,
};
pub use pairing::{NewPairingToken, RedeemRefusal, StoredPairingToken};
pub use peer_configs::StoredPeerConfig;
pub use peers::{NewPeer, PeerRole, StoredPeer};
pub use replicas::{ReplicaChange, ReplicaRecord};
pub use rest_users::{NewRestUser, StoredRestUser};
pub use sessions::StoredSession;
pub use store::{JobEnd, StateStore};
pub use tokens::{NewToken, StoredToken};
pub use users::{FirstUser, StoredUser, UserChange};

//! Running what the config describes: a plan's chain, in the foreground (`cairn run`) or for
//! the daemon, recorded in the state database.
//!
//! # Layout
//! - [`secret`] — reading a [`cairn_config::SecretSource`] (file, command, environment).
//! - [`open`] — a configured repository as an open [`cairn_repo::Repository`] (its store, its
//!   S3 credentials file, its password, its metadata cache).
//! - [`hooks`] — hook commands with a timeout, in their own process group.
//! - [`notify`] — notifications to the config's channels (webhook, ntfy, healthchecks,
//!   email), retried, each delivery recorded in the state database.
//! - [`dumps`] — a plan's databases (PostgreSQL, MariaDB, SQLite) as backup streams.
//! - [`restore_db`] — one database dump of a snapshot back into its server (or a file).
//! - [`browse`] — configured repositories browsed by name (snapshots, directories, file
//!   versions, search, downloads, archives) through a cache of opened repositories, and
//!   restores run as daemon jobs.
//! - [`runner`] — a plan's chain (hooks, backup with dumps, forget, prune, check, offsite),
//!   each run a job in the state database.
//! - [`drill`] — restore drills: a verified sample restore, dumps loaded into throwaway
//!   databases, the recovery time estimated.
//! - [`server_backup`] — the server's own state archived, sealed to the recovery key and
//!   kept at a destination; `server-restore` on a fresh machine.
//! - [`error`] — [`JobError`].
//!
//! # Invariants
//! - Secrets are read when needed and held in [`cairn_crypto::Secret`]; they never reach a log
//!   line, an error message, a command line or the state database.
//! - Nothing here parses the config or serves HTTP: the config comes in as
//!   [`cairn_config::Config`], results go out as state records.

pub mod browse;
pub mod daemon;
pub mod drill;
pub mod dumps;
pub mod error;
pub mod hooks;
pub mod notify;
pub mod offsite_jobs;
pub mod open;
pub mod orphans;
pub mod restore_db;
pub mod runner;
pub mod secret;
pub mod server_backup;

pub use error::{JobError, Result};

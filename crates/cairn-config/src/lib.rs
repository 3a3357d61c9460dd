//! The cairn config model: one typed schema for `cairn.toml`, read by the CLI (`cairn run`),
//! scheduled by the daemon, edited by the web UI and pushed by the multihost server.
//!
//! # Layout
//! - [`load()`] finds and reads the file, validates it, checks the files it references and
//!   applies [`Overrides`] (defaults < file < environment < flags).
//! - [`Config::parse`] is the pure part: text in, a [`Config`] or every error out. It reads
//!   the TOML into a spanned document, records the position of every key ([`Positions`]),
//!   reads each repository and plan table with serde (`raw`: unknown keys refused), then
//!   builds the model table by table (`repository`, `plan`, `dumps`, `retention`), checking
//!   values and cross-references as it goes.
//! - Errors ([`ConfigError`]) are one line each, `FILE:LINE:COLUMN: what is wrong; what to
//!   write instead`, carry a matchable [`ErrorKind`] and the [`KeyPath`] they are about.
//!
//! The model is read-only. Changes go through [`edit`]: a `toml_edit` document of the text
//! the [`Config`] keeps, checked by [`Config::parse`] before [`edit::write_atomically`]
//! replaces the file (the web UI's plan and offsite forms). Nothing here runs a command,
//! opens a repository or touches the network.

mod config;
mod daemon;
mod dumps;
pub mod edit;
mod error;
mod files;
pub mod instant;
mod load;
mod location;
mod managed;
mod multihost;
mod names;
mod notify;
mod plan;
mod positions;
pub mod pushed;
mod raw;
mod repository;
mod retention;
mod schedule;
mod secret;
mod section;
mod serde_errors;
mod server;
mod server_backup;
mod source;
mod suggest;
pub mod units;

pub use config::{Config, STATE_DIR_DEFAULT};
pub use daemon::{Daemon, MAX_CONCURRENT_JOBS_DEFAULT};
pub use dumps::{
    DatabaseSelection, MariadbDump, PostgresDump, PostgresFormat, SqliteDump, DUMP_ROOT,
    HOST_DEFAULT, MARIADB_PORT_DEFAULT, POSTGRES_PORT_DEFAULT,
};
pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use files::{check_referenced_files, secret_files};
pub use load::{
    config_path, load, load_with_managed, merge_managed_file, read, Override, Overrides,
    CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH, STATE_DIR_ENV,
};
pub use location::StoreLocation;
pub use managed::{managed_path, Managed, MANAGED_FILE};
pub use multihost::Multihost;
pub use names::NAME_LENGTH_MAX;
pub use notify::{NotifyChannel, NotifyEvent, NotifyKind, SmtpTls};
pub use plan::{
    CheckPolicy, DrillPolicy, DrillSample, Hooks, Plan, DRILL_MIN_FILES_DEFAULT,
    HOOK_TIMEOUT_DEFAULT, RETRIES_DEFAULT,
};
pub use positions::{EntrySpan, KeyPath, Positions, Segment};
pub use repository::{
    Offsite, Repository, RestEndpoint, SealedCredentials, OFFSITE_DELETE_AFTER_DEFAULT,
    OFFSITE_TRANSFERS_DEFAULT, SEALED_PREFIX,
};
pub use schedule::{Schedule, Zone};
pub use secret::{shared_password_purpose, SecretSource};
pub use server::{Server, TlsFiles, SESSION_IDLE_DEFAULT, SESSION_MAX_AGE_DEFAULT};
pub use server_backup::{
    ServerBackup, ServerBackupTarget, SERVER_BACKUP_FOLDER, SERVER_BACKUP_KEEP_DEFAULT,
    SERVER_BACKUP_SCHEDULE_DEFAULT,
};
pub use source::{LineColumn, SourceText};
pub use units::{ByteSize, Duration};

/// An annotated config that validates on any machine (it references no file that must
/// exist); `cairn config example` prints it.
pub const EXAMPLE: &str = include_str!("example.toml");

// The engine's types the model hands out, so callers need not name cairn-repo for them.
pub use cairn_repo::check::ReadData;
pub use cairn_repo::forget::{CalendarDuration, KeepPolicy};
pub use cairn_storage::s3::ServerSideEncryption;

//! A plan's databases as backup streams: each `[[plans.X.postgresql|mariadb|sqlite]]` entry
//! becomes one stream per database, placed below `/cairn-dumps` in the plan's snapshot.
//!
//! # Layout
//! - [`process`] — the dump tool as a child whose standard output is the stream; killed with
//!   its process group when the backup stops early; its error output in the message.
//! - [`postgresql`] — `pg_dump`, `pg_dumpall --globals-only`, the listing of `all`, and the
//!   restore commands; password in `PGPASSWORD` of the child.
//! - [`mariadb`] — `mariadb-dump --single-transaction`; password in a 0600 option file.
//! - [`group`] — the dumps of one backup: one failing kills the others (a silent tool would
//!   otherwise keep its reader, and the backup, waiting).
//! - [`sqlite`] — the online backup API into the scratch directory, then that copy.
//!
//! # Invariants
//! - PostgreSQL and MariaDB dumps stream through a pipe, never a temporary file.
//! - Passwords never reach a command line, a message or a file anyone else can read.
//! - A dump tool that fails fails the backup with its last error lines; one stopped by a
//!   failing or cancelled backup is killed, never left running.

mod group;
pub(crate) mod mariadb;
pub(crate) mod postgresql;
pub(crate) mod process;
pub(crate) mod sqlite;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use cairn_config::Plan;
use cairn_crypto::Secret;
use cairn_repo::backup::StreamEntry;

use crate::{JobError, Result};

/// The kinds of database dump, as the config's table names and the snapshot's directories
/// spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DumpKind {
    Postgresql,
    Mariadb,
    Sqlite,
}

impl DumpKind {
    pub const ALL: [DumpKind; 3] = [DumpKind::Postgresql, DumpKind::Mariadb, DumpKind::Sqlite];

    pub fn as_str(self) -> &'static str {
        match self {
            DumpKind::Postgresql => "postgresql",
            DumpKind::Mariadb => "mariadb",
            DumpKind::Sqlite => "sqlite",
        }
    }
}

impl std::fmt::Display for DumpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DumpKind {
    type Err = JobError;

    fn from_str(text: &str) -> Result<DumpKind> {
        DumpKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                JobError::InvalidInput(format!(
                    "{text:?} is not a kind of dump; write postgresql, mariadb or sqlite"
                ))
            })
    }
}

/// The streams of every database `plan` dumps. `scratch` is the run's private directory
/// (0700, ours): MariaDB option files and SQLite copies are written there.
///
/// PostgreSQL and MariaDB `all` entries list their databases now; the dumps themselves start
/// when the backup reads their streams.
///
/// When `cancel` is set during the backup, every tool of the run is killed: a tool that is
/// silent (waiting for a lock) would otherwise keep the backup's reader, and the run, waiting.
pub fn streams_of(
    plan: &Plan,
    scratch: &Path,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<Vec<StreamEntry>> {
    check_private(scratch)?;
    let group = group::DumpGroup::new();
    if let Some(cancel) = cancel {
        group::stop_on_cancel(&group, cancel);
    }
    let mut streams = Vec::new();
    for dump in &plan.postgresql {
        streams.extend(postgresql::streams(dump, &group)?);
    }
    for (index, dump) in plan.mariadb.iter().enumerate() {
        streams.extend(mariadb::streams(dump, scratch, index, &group)?);
    }
    for dump in &plan.sqlite {
        streams.push(sqlite::stream(dump, scratch, &group));
    }
    Ok(streams)
}

/// Refuses a scratch directory that is missing, not ours, or open to others: option files
/// and database copies go there.
pub(crate) fn check_private(dir: &Path) -> Result<()> {
    let refuse = |why: String| {
        JobError::InvalidInput(format!(
            "scratch directory {} {why}; it must be a directory of this user with mode 0700",
            dir.display()
        ))
    };
    let metadata =
        std::fs::symlink_metadata(dir).map_err(|e| refuse(format!("is unusable: {e}")))?;
    if !metadata.is_dir() {
        return Err(refuse("is not a directory".into()));
    }
    // SAFETY: geteuid(2) cannot fail.
    let uid = unsafe { libc::geteuid() };
    if metadata.uid() != uid {
        return Err(refuse(format!("belongs to uid {}", metadata.uid())));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode != 0o700 {
        return Err(refuse(format!("has mode {mode:04o}")));
    }
    Ok(())
}

/// Creates `dir` (and its parents) private to this user, or checks an existing one.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| JobError::InvalidInput(format!("cannot create {}: {e}", dir.display())))?;
    check_private(dir)
}

/// A database name from a server's listing becomes a file name in the snapshot.
fn checked_name(database: &str, kind: &str, server: &str) -> Result<()> {
    if database.is_empty() || database == "." || database == ".." || database.contains(['/', '\0'])
    {
        return Err(JobError::Database(format!(
            "database {database:?} on {kind} {server} cannot be a file name in the snapshot; \
             dump the others by name"
        )));
    }
    Ok(())
}

/// Each stream keeps its own copy of the password (to blank it out of its messages).
fn copy_secret(secret: Option<&Secret<Vec<u8>>>) -> Option<Secret<Vec<u8>>> {
    secret.map(|s| Secret::new(s.expose().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_directory_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("job-1");
        private_dir(&scratch).unwrap();
        check_private(&scratch).unwrap();
        std::fs::set_permissions(&scratch, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = check_private(&scratch).unwrap_err().to_string();
        assert!(error.contains("mode 0755"), "{error}");
        assert!(check_private(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn kinds_read_as_written() {
        for kind in DumpKind::ALL {
            assert_eq!(kind.as_str().parse::<DumpKind>().unwrap(), kind);
        }
        assert!("mysql".parse::<DumpKind>().is_err());
    }
}

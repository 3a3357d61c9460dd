//! The server's self-backup: its state database (online backup), config, keys and the secret
//! files the config names, in one archive sealed to the recovery public key
//! ([`cairn_access::archive_seal`]), kept at the `[server_backup]` destination, newest
//! `keep` only; and `server-restore`, which brings them back on a fresh machine.
//!
//! # Layout
//! - [`archive`]: what the archive holds and how it is written.
//! - [`destination`]: archive names, upload, retention, choosing one to restore.
//! - [`restore`]: the archive (and, optionally, the repositories from their offsites) back.

pub mod archive;
pub mod destination;
pub mod restore;

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use cairn_access::RecoveryKey;
use cairn_config::{Config, StoreLocation};
use cairn_state::{JobEnd, JobRecord, StateStore};
use chrono::{DateTime, Utc};

use crate::open::S3Settings;
use crate::runner::RunObserver;
use crate::{JobError, Result};

/// What one server backup did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerBackupSummary {
    pub archive: String,
    pub destination: String,
    pub bytes: u64,
    /// Older archives deleted to keep `keep`.
    pub removed: Vec<String>,
}

impl ServerBackupSummary {
    pub fn line(&self) -> String {
        format!(
            "{} ({} bytes) written to {}{}",
            self.archive,
            self.bytes,
            self.destination,
            if self.removed.is_empty() {
                String::new()
            } else {
                format!("; removed {}", self.removed.join(", "))
            }
        )
    }
}

/// A private scratch directory under `STATE_DIR/tmp`, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn cancelled(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(Ordering::Relaxed) {
        Err(JobError::ServerBackup("cancelled".into()))
    } else {
        Ok(())
    }
}

/// Makes one archive and uploads it, then applies `keep`. `log` hears each stage.
pub fn run_server_backup(
    config: &Config,
    cancel: &AtomicBool,
    now: DateTime<Utc>,
    log: &dyn Fn(&str),
) -> Result<ServerBackupSummary> {
    let state_dir = &config.state_dir;
    cancelled(cancel)?;
    let recovery = RecoveryKey::ensure(state_dir)?;
    let target = config
        .server_backup
        .resolve(config.repositories.values())
        .map_err(JobError::InvalidInput)?;
    if let StoreLocation::Local(dir) = &target.location {
        std::fs::create_dir_all(dir)
            .map_err(|e| JobError::ServerBackup(format!("cannot create {}: {e}", dir.display())))?;
    }
    let store = crate::open::store(
        &target.location,
        target.credentials_file.as_deref(),
        "server backup destination",
        &S3Settings::default(),
    )?;
    let scratch = scratch_dir(state_dir)?;
    let sealed = scratch.0.join("archive.cairn-server");
    log("archiving the state database, config and keys");
    let bytes = archive::write_archive(config, &recovery, &scratch.0, &sealed, now)?;
    cancelled(cancel)?;
    log(&format!("uploading {bytes} bytes to {}", target.location));
    // One PUT (S3) or one rename (a directory): the archive appears whole or not at all.
    let data = std::fs::read(&sealed)
        .map_err(|e| JobError::ServerBackup(format!("cannot read {}: {e}", sealed.display())))?;
    let name = destination::upload(&store, &data, now)?;
    drop(data);
    let removed = destination::keep_newest(store.as_ref(), config.server_backup.keep)?;
    Ok(ServerBackupSummary {
        archive: name,
        destination: target.location.to_string(),
        bytes,
        removed,
    })
}

fn scratch_dir(state_dir: &Path) -> Result<Scratch> {
    let tmp = state_dir.join("tmp");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&tmp)
        .map_err(|e| JobError::ServerBackup(format!("cannot create {}: {e}", tmp.display())))?;
    remove_abandoned(&tmp);
    let dir = tmp.join(format!(
        "server-backup-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| JobError::ServerBackup(format!("cannot create {}: {e}", dir.display())))?;
    Ok(Scratch(dir))
}

/// Removes scratch directories of server backups whose process is gone (killed, or
/// stopped by Ctrl-C before it could clean up).
fn remove_abandoned(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("server-backup-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill(pid, 0) sends nothing; it only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            std::fs::remove_dir_all(entry.path()).ok();
        }
    }
}

/// Runs a `server-backup` job as one step.
pub fn run_job(
    config: &Config,
    state: &StateStore,
    job: &JobRecord,
    cancel: &AtomicBool,
    observer: &dyn RunObserver,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<JobEnd> {
    crate::runner::single_step::run_single_step(
        state,
        job,
        "server backup",
        cancel,
        observer,
        now,
        |log| run_server_backup(config, cancel, now(), log).map(|summary| summary.line()),
    )
}

//! `cairn server-restore`: a lost server back on a fresh machine from its newest archive (or
//! the newest at or before a time). Everything is checked before anything is written: the
//! state directory must be empty or new, the config file must not exist, a secret file whose
//! path exists must hold the same bytes, and the archive must open and read to its
//! authenticated end (it is unpacked into a private staging directory first). Then the state,
//! keys, secret files and, with `--with-repositories`, every offsite's repository are
//! written, and the config last, with `state_dir` (and the restored repositories'
//! locations) rewritten in place so its comments stay.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_access::archive_seal::OpenReader;
use cairn_access::RecoveryKeyInput;
use cairn_config::edit::ConfigEdit;
use cairn_config::{Config, SourceText, StoreLocation};
use cairn_repo::mirror::{restore_from_mirror, MirrorRestoreOptions, RestoreMode};
use cairn_storage::{FileKind, LocalStore, Storage};
use chrono::{DateTime, Utc};

use super::archive::{Manifest, CONFIG, MANIFEST, STATE_DB, STATE_FILES};
use super::destination::{list_archives, pick};
use crate::open::{offsite_store, S3Settings};
use crate::{JobError, Result};

pub struct ServerRestoreRequest<'a> {
    /// Where the archives are (`s3:…/_server-backups` or a directory).
    pub location: StoreLocation,
    /// `AWS_*` lines for an `s3:` location; `None`: the environment.
    pub credentials_file: Option<PathBuf>,
    pub at: Option<DateTime<Utc>>,
    pub key: RecoveryKeyInput,
    pub state_dir: PathBuf,
    pub config_out: PathBuf,
    pub with_repositories: Option<PathBuf>,
    pub cancel: &'a AtomicBool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerRestoreSummary {
    pub archive: String,
    pub archive_time: DateTime<Utc>,
    pub users: u64,
    pub plans: usize,
    pub secret_files: usize,
    /// Repositories restored from their offsites, with where they now are.
    pub repositories: Vec<(String, PathBuf)>,
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(
    duration: &Duration,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(duration.as_secs_f64())
}

fn refuse(message: String) -> JobError {
    JobError::InvalidInput(message)
}

fn io_failed(what: &str, path: &Path, e: std::io::Error) -> JobError {
    JobError::ServerBackup(format!("cannot {what} {}: {e}", path.display()))
}

/// A private directory beside the state directory (same file system: files move by rename),
/// removed when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn is_empty_or_missing(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

pub fn server_restore(request: ServerRestoreRequest<'_>) -> Result<ServerRestoreSummary> {
    let started = Instant::now();
    if !is_empty_or_missing(&request.state_dir) {
        return Err(refuse(format!(
            "{} is not empty; restore into a new or empty state directory",
            request.state_dir.display()
        )));
    }
    if request.config_out.exists() {
        return Err(refuse(format!(
            "{} exists; give --config-out a path that does not exist yet",
            request.config_out.display()
        )));
    }
    let what = format!("server backups at {}", request.location);
    let store = crate::open::store(
        &request.location,
        request.credentials_file.as_deref(),
        &what,
        &S3Settings::default(),
    )?;
    let archives = list_archives(store.as_ref())?;
    let Some(archive) = pick(&archives, request.at) else {
        return Err(JobError::NotFound(match request.at {
            Some(at) => format!(
                "no server backup at {} was made at or before {}; `cairn server-restore` without --at takes the newest",
                request.location,
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => format!(
                "no server backup (*.cairn-server) at {}; check the location and its credentials",
                request.location
            ),
        }));
    };
    let parent = request
        .state_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io_failed("create", parent, e))?;
    let staging = Staging(parent.join(format!(".cairn-server-restore-{}", std::process::id())));
    std::fs::remove_dir_all(&staging.0).ok();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging.0)
        .map_err(|e| io_failed("create", &staging.0, e))?;
    let sealed = store.get(FileKind::Sidecar, &archive.name)?;
    unpack(&sealed, &request.key, &archive.name, &staging.0)?;
    drop(sealed);
    let manifest: Manifest = std::fs::read(staging.0.join(MANIFEST))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            JobError::ServerBackup(format!("{} has no readable manifest", archive.name))
        })?;
    let config_text = std::fs::read_to_string(staging.0.join(CONFIG))
        .map_err(|e| io_failed("read the config of", &staging.0, e))?;
    let archived = Config::parse(SourceText::new(&request.config_out, config_text.clone()))
        .map_err(|e| {
            JobError::ServerBackup(format!(
                "the config in {} does not validate with this cairn: {e}",
                archive.name
            ))
        })?;
    // Every refusal before the first write.
    for secret in &manifest.secret_files {
        if let Ok(existing) = std::fs::read(&secret.path) {
            let archived = std::fs::read(staging.0.join(&secret.entry))
                .map_err(|e| io_failed("read", &staging.0, e))?;
            if existing != archived {
                return Err(refuse(format!(
                    "{} exists and differs from the copy in the backup; move it away and run server-restore again",
                    secret.path.display()
                )));
            }
        }
    }
    let offsite_repositories: Vec<String> = archived
        .repositories
        .values()
        .filter(|repository| repository.offsite.is_some())
        .map(|repository| repository.name.clone())
        .collect();
    if let Some(dir) = &request.with_repositories {
        for name in &offsite_repositories {
            let target = dir.join(name);
            if !is_empty_or_missing(&target) {
                return Err(refuse(format!(
                    "{} is not empty; --with-repositories needs a directory without the repositories' names in it",
                    target.display()
                )));
            }
        }
    }

    // The state directory and the keys.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&request.state_dir)
        .map_err(|e| io_failed("create", &request.state_dir, e))?;
    std::fs::set_permissions(&request.state_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io_failed("protect", &request.state_dir, e))?;
    move_file(
        &staging.0.join(STATE_DB),
        &request.state_dir.join(STATE_DB),
        0o600,
    )?;
    for name in &manifest.state_files {
        if STATE_FILES.contains(&name.as_str()) {
            let mode = if name == "recovery.pub" { 0o644 } else { 0o600 };
            move_file(&staging.0.join(name), &request.state_dir.join(name), mode)?;
        }
    }
    let mut secret_files = 0;
    for secret in &manifest.secret_files {
        if secret.path.exists() {
            continue;
        }
        if let Some(dir) = secret.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_failed("create", dir, e))?;
        }
        move_file(
            &staging.0.join(&secret.entry),
            &secret.path,
            secret.mode & 0o777,
        )?;
        secret_files += 1;
    }

    // The config as it will be written: this state directory, restored repositories.
    let mut edit = ConfigEdit::new(&archived)
        .map_err(|e| JobError::ServerBackup(format!("cannot rewrite the config: {e}")))?;
    edit.set_state_dir(&request.state_dir.to_string_lossy());
    let mut repositories = Vec::new();
    if let Some(dir) = &request.with_repositories {
        for name in &offsite_repositories {
            edit.set_repository_location(name, &dir.join(name).to_string_lossy())
                .map_err(|e| JobError::ServerBackup(e.to_string()))?;
        }
    }
    let restored =
        Config::parse(SourceText::new(&request.config_out, edit.text())).map_err(|e| {
            JobError::ServerBackup(format!("the rewritten config does not validate: {e}"))
        })?;
    if let Some(dir) = &request.with_repositories {
        for name in &offsite_repositories {
            if request.cancel.load(Ordering::Relaxed) {
                return Err(JobError::ServerBackup("cancelled".into()));
            }
            let entry = &restored.repositories[name];
            let offsite = entry.offsite.as_ref().expect("listed with an offsite");
            let settings = S3Settings {
                transfers: offsite.transfers,
                ..S3Settings::default()
            };
            let mirror = offsite_store(name, offsite, &request.state_dir, &settings)?;
            let target_dir = dir.join(name);
            std::fs::create_dir_all(&target_dir)
                .map_err(|e| io_failed("create", &target_dir, e))?;
            let target: Arc<dyn Storage> = Arc::new(LocalStore::new(&target_dir));
            let options = MirrorRestoreOptions {
                mode: RestoreMode::Copy,
                transfers: offsite.transfers,
                dry_run: false,
                password: None,
                force_other_repository: false,
            };
            let progress =
                cairn_repo::progress::Progress::new(cairn_repo::progress::Operation::Mirror);
            restore_from_mirror(&mirror, &target, &options, &progress)?;
            repositories.push((name.clone(), target_dir));
        }
    }
    write_new(&request.config_out, edit.text().as_bytes(), 0o600)?;
    let users = cairn_state::StateStore::open(&request.state_dir)?.count_users()?;
    Ok(ServerRestoreSummary {
        archive: archive.name.clone(),
        archive_time: archive.time,
        users,
        plans: restored.plans.len(),
        secret_files,
        repositories,
        elapsed: started.elapsed(),
    })
}

/// Opens the archive and unpacks its known entries into `staging`; reads to the sealed end,
/// so a truncated archive fails here, before anything is written outside `staging`.
fn unpack(sealed: &[u8], key: &RecoveryKeyInput, name: &str, staging: &Path) -> Result<()> {
    let reader = OpenReader::new(sealed, key, name)?;
    let damaged = |e: std::io::Error| {
        JobError::ServerBackup(if e.kind() == std::io::ErrorKind::InvalidData {
            e.to_string()
        } else {
            format!("{name} is damaged or incomplete: {e}")
        })
    };
    let mut archive = tar::Archive::new(reader);
    std::fs::create_dir(staging.join("secrets")).map_err(|e| io_failed("create", staging, e))?;
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let path = entry
            .path()
            .map_err(damaged)?
            .to_string_lossy()
            .into_owned();
        // Only names this cairn writes; anything else (a path with `..`) is refused.
        let known = [MANIFEST, CONFIG, STATE_DB].contains(&path.as_str())
            || STATE_FILES.contains(&path.as_str())
            || path
                .strip_prefix("secrets/")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !known {
            return Err(JobError::ServerBackup(format!(
                "{name} holds an unexpected entry {path:?}; it was not written by cairn"
            )));
        }
        let target = staging.join(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .map_err(|e| io_failed("create", &target, e))?;
        std::io::copy(&mut entry, &mut file).map_err(damaged)?;
    }
    let mut reader = archive.into_inner();
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(damaged)?;
    let mut rest = [0u8; 1];
    if reader.read(&mut rest).map_err(damaged)? != 0 {
        return Err(JobError::ServerBackup(format!(
            "{name} has data after its end"
        )));
    }
    Ok(())
}

fn move_file(from: &Path, to: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(from, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_failed("set the mode of", from, e))?;
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    // Another file system: copy, then the mode again (copy keeps it, a umask may not).
    let bytes = std::fs::read(from).map_err(|e| io_failed("read", from, e))?;
    write_new(to, &bytes, mode)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io_failed("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_failed("write", path, e))
}

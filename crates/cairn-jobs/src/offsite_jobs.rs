//! The offsite's jobs beside a plan's sync, as the UI and API start them: **verify** a mirror
//! (listings compared, a sample re-hashed), **restore** a repository from its mirror (replace
//! it in place, or copy it into a new directory below the restore root), and restore an
//! **orphan** (another repository under the same bucket) as a copy. Each is one job with one
//! step; what was asked is stored with the job (`jobs.request`), so a retry repeats it.
//!
//! The checks `cairn mirror restore` makes on its target are made here too, when the job is
//! queued (so a bad request is a 400, not a failed job) and again when it runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use cairn_config::{Config, StoreLocation};
use cairn_repo::mirror::{restore_from_mirror, verify, MirrorRestoreOptions, RestoreMode};
use cairn_state::{JobEnd, JobKind, JobRecord, StateStore};
use cairn_storage::{LocalStore, PointInTimeStore, Storage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::browse::restore::{restore_root, restore_target};
use crate::open::{offsite_store, OpenOptions, S3Settings};
use crate::runner::RunObserver;
use crate::{JobError, Result};

/// The share of mirrored objects `verify` reads back unless asked otherwise.
pub const VERIFY_SAMPLE_PERCENT_DEFAULT: f64 = 5.0;

/// A verify job's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyJob {
    pub read_sample_percent: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MirrorRestoreKind {
    /// Bring the repository's own directory back to the mirror's state.
    Replace,
    /// A new repository in an empty directory below the restore root.
    Copy,
}

/// A mirror-restore job's request, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorRestoreJob {
    pub mode: MirrorRestoreKind,
    /// Absolute.
    pub target: PathBuf,
    /// An orphan's location (`s3:…` under the offsite's bucket); none: the offsite itself.
    pub source: Option<String>,
    /// Restore the mirror as it was at this instant, from its object versions (a bucket with
    /// versioning, e.g. under Object Lock); none: as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

fn offsite_of<'c>(
    config: &'c Config,
    repository: &str,
) -> Result<(&'c cairn_config::Repository, &'c cairn_config::Offsite)> {
    let entry = config
        .repositories
        .get(repository)
        .ok_or_else(|| JobError::NotFound(format!("no repository {repository:?} in the config")))?;
    let offsite = entry.offsite.as_ref().ok_or_else(|| {
        JobError::InvalidInput(format!(
            "repository {repository} has no offsite; add its [repositories.{repository}.offsite] first"
        ))
    })?;
    Ok((entry, offsite))
}

/// Checks a verify request (`read_sample`: `5%`, or nothing for the default).
pub fn prepare_verify(
    config: &Config,
    repository: &str,
    read_sample: Option<&str>,
) -> Result<VerifyJob> {
    offsite_of(config, repository)?;
    let read_sample_percent = match read_sample.map(str::trim) {
        None | Some("") => VERIFY_SAMPLE_PERCENT_DEFAULT,
        Some(text) => text
            .trim_end_matches('%')
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=100.0).contains(p))
            .ok_or_else(|| {
                JobError::InvalidInput(format!(
                    "read_sample {text:?} is not a share; write a percentage from 0% to 100%, e.g. \"5%\""
                ))
            })?,
    };
    Ok(VerifyJob {
        read_sample_percent,
    })
}

/// Checks a restore request: replace writes into the repository's own (local) directory and
/// only from its own mirror; copy writes into a new or empty directory below the restore
/// root, from the mirror or from an orphan under the same bucket.
pub fn prepare_restore(
    config: &Config,
    repository: &str,
    mode: MirrorRestoreKind,
    target: Option<&str>,
    source: Option<&str>,
    at: Option<&str>,
) -> Result<MirrorRestoreJob> {
    let at = match at.map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(
            cairn_config::instant::parse_instant(text)
                .map_err(|e| JobError::InvalidInput(format!("at: {e}")))?,
        ),
    };
    let (entry, offsite) = offsite_of(config, repository)?;
    if let Some(source) = source {
        same_bucket(&offsite.destination, source)?;
    }
    let target = match mode {
        MirrorRestoreKind::Replace => {
            if source.is_some() {
                return Err(JobError::InvalidInput(
                    "an orphan is restored as a copy (mode copy), never over a repository".into(),
                ));
            }
            match &entry.location {
                StoreLocation::Local(path) => path.clone(),
                StoreLocation::S3(_) | StoreLocation::Rest(_) => {
                    return Err(JobError::InvalidInput(format!(
                        "repository {repository} is not a local directory; restore its mirror as a copy, or with `cairn mirror restore`"
                    )))
                }
            }
        }
        MirrorRestoreKind::Copy => {
            let target = target.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                JobError::InvalidInput(
                    "a copy needs a target directory below the restore root".into(),
                )
            })?;
            restore_target(&restore_root(config), target)?
        }
    };
    check_target(mode, &target)?;
    Ok(MirrorRestoreJob {
        mode,
        target,
        source: source.map(str::to_string),
        at,
    })
}

/// An orphan must sit under the offsite's own endpoint and bucket (its credentials reach it).
fn same_bucket(destination: &StoreLocation, source: &str) -> Result<()> {
    let refuse = || {
        JobError::InvalidInput(format!(
            "{source} is not under the offsite's bucket; restore an orphan listed for this repository"
        ))
    };
    match (destination, StoreLocation::parse(source)) {
        (StoreLocation::S3(ours), Ok(StoreLocation::S3(theirs)))
            if ours.endpoint == theirs.endpoint && ours.bucket == theirs.bucket =>
        {
            Ok(())
        }
        _ => Err(refuse()),
    }
}

/// What `cairn mirror restore` refuses: a copy into a directory with anything in it, a
/// replace of a directory that is not a repository.
pub fn check_target(mode: MirrorRestoreKind, target: &Path) -> Result<()> {
    let listing = std::fs::read_dir(target).map(|mut entries| entries.next().is_some());
    let has_repository_parts = ["config", "keys", "data", "index", "snapshots"]
        .iter()
        .any(|part| target.join(part).exists());
    match (mode, listing) {
        (MirrorRestoreKind::Copy, Ok(true)) => Err(JobError::InvalidInput(format!(
            "{} is not empty; a copy makes a new repository in an empty or new directory",
            target.display()
        ))),
        (MirrorRestoreKind::Replace, Err(_)) => Err(JobError::InvalidInput(format!(
            "{} does not exist; restore a copy instead",
            target.display()
        ))),
        (MirrorRestoreKind::Replace, Ok(_)) if !has_repository_parts => {
            Err(JobError::InvalidInput(format!(
                "{} is not a repository (no config, keys, data, index or snapshots); restore a copy instead",
                target.display()
            )))
        }
        _ => Ok(()),
    }
}

fn request_of<T: serde::de::DeserializeOwned>(job: &JobRecord) -> Result<T> {
    let value = job
        .request
        .clone()
        .ok_or_else(|| JobError::InvalidInput(format!("job {} has no request", job.id)))?;
    serde_json::from_value(value).map_err(|e| {
        JobError::InvalidInput(format!("job {} has an unreadable request: {e}", job.id))
    })
}

/// Runs a `mirror-verify` or `mirror-restore` job as one step and says how it ended.
pub fn run_job(
    config: &Config,
    state: &StateStore,
    job: &JobRecord,
    open: &OpenOptions,
    cancel: Arc<AtomicBool>,
    observer: &dyn RunObserver,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<JobEnd> {
    let step = match job.kind {
        JobKind::MirrorVerify => "verify",
        _ => "mirror restore",
    };
    crate::runner::single_step::run_single_step(state, job, step, &cancel, observer, now, |_| {
        match job.kind {
            JobKind::MirrorVerify => verify_step(config, job, open),
            _ => restore_step(config, job, observer),
        }
    })
}

fn mirror_store(
    config: &Config,
    repository: &str,
    offsite: &cairn_config::Offsite,
    source: Option<&str>,
) -> Result<Arc<dyn Storage>> {
    let mut offsite = offsite.clone();
    if let Some(source) = source {
        offsite.destination = StoreLocation::parse(source).map_err(JobError::InvalidInput)?;
    }
    let settings = S3Settings {
        transfers: offsite.transfers,
        ..S3Settings::default()
    };
    offsite_store(repository, &offsite, &config.state_dir, &settings)
}

fn verify_step(config: &Config, job: &JobRecord, open: &OpenOptions) -> Result<String> {
    let request: VerifyJob = request_of(job)?;
    let name = job.repository.as_deref().unwrap_or_default();
    let (entry, offsite) = offsite_of(config, name)?;
    let repo = crate::open::repository(entry, open)?;
    let mirror = mirror_store(config, name, offsite, None)?;
    let report = verify(&repo, &mirror, request.read_sample_percent)?;
    let summary = format!(
        "{} objects compared, {} read back ({} bytes); {} missing, {} extra, {} corrupt, {} awaiting deletion",
        report.objects_compared,
        report.objects_read,
        report.bytes_read,
        report.missing.len(),
        report.extra.len(),
        report.corrupt.len(),
        report.awaiting_deletion
    );
    if report.is_ok() {
        return Ok(summary);
    }
    let first = report
        .missing
        .iter()
        .map(|p| format!("missing {} {}", p.kind, p.name))
        .chain(
            report
                .extra
                .iter()
                .map(|p| format!("extra {} {}", p.kind, p.name)),
        )
        .chain(
            report
                .corrupt
                .iter()
                .map(|p| format!("corrupt {} {}: {}", p.kind, p.name, p.reason)),
        )
        .next()
        .unwrap_or_default();
    Err(JobError::InvalidInput(format!(
        "the mirror of {name} differs from it ({first}); {summary}; sync it again"
    )))
}

fn restore_step(config: &Config, job: &JobRecord, observer: &dyn RunObserver) -> Result<String> {
    let request: MirrorRestoreJob = request_of(job)?;
    let name = job.repository.as_deref().unwrap_or_default();
    let (entry, offsite) = offsite_of(config, name)?;
    check_target(request.mode, &request.target)?;
    let mirror = mirror_store(config, name, offsite, request.source.as_deref())?;
    let mirror: Arc<dyn Storage> = match request.at {
        Some(at) => Arc::new(PointInTimeStore::open(mirror, at)?),
        None => mirror,
    };
    std::fs::create_dir_all(&request.target).map_err(|e| {
        JobError::InvalidInput(format!("cannot create {}: {e}", request.target.display()))
    })?;
    let target: Arc<dyn Storage> = Arc::new(LocalStore::new(&request.target));
    let password = match request.mode {
        MirrorRestoreKind::Replace => Some(crate::secret::read(
            &entry.password,
            &format!("password of repository {name}"),
        )?),
        MirrorRestoreKind::Copy => None,
    };
    let options = MirrorRestoreOptions {
        mode: match request.mode {
            MirrorRestoreKind::Replace => RestoreMode::Replace,
            MirrorRestoreKind::Copy => RestoreMode::Copy,
        },
        transfers: offsite.transfers,
        dry_run: false,
        password: password.as_ref().map(|p| p.expose().as_slice()),
        force_other_repository: false,
    };
    let untracked = cairn_repo::progress::Progress::new(cairn_repo::progress::Operation::Mirror);
    let progress = observer.progress().unwrap_or(&untracked);
    let summary = restore_from_mirror(&mirror, &target, &options, progress)?;
    Ok(format!(
        "{}: fetched {} objects ({} bytes), kept {} already present, deleted {}",
        request.target.display(),
        summary.fetched_objects,
        summary.fetched_bytes,
        summary.kept_objects,
        summary.removed_objects
    ))
}

//! Restores started from the API or UI, run as daemon jobs of kind `restore`.
//!
//! The request is checked when it is queued (the snapshot resolved to its full id, the
//! patterns parsed, the target placed below the restore root) and stored with the job as
//! JSON, so the job, and any retry of it, restores exactly what was asked even after a new
//! `latest`. The job runs the engine's restore (what `cairn restore` runs) under a shared
//! lock, with the job's progress and cancel flag.
//!
//! Targets: relative to the restore root (`[server] restore_root`, else
//! `STATE_DIR/restores`); an absolute target only when inside it; a `..` component is
//! refused whatever the rest says, so a request can never name a directory outside the root.
//! (Symbolic links an administrator placed inside the root are followed, as `cairn restore`
//! follows them: the root is the administrator's.)

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use cairn_config::Config;
use cairn_format::Id;
use cairn_repo::backup::Pattern;
use cairn_repo::browse::SnapshotPath;
use cairn_repo::index::Index;
use cairn_repo::progress::{Operation, Progress};
use cairn_repo::restore::{restore, RestoreObserver, RestoreOptions};
use cairn_repo::snapshots::{find_snapshot, load_snapshot, SnapshotFilter};
use cairn_state::{JobEnd, JobRecord, StateStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Browser;
use crate::open::OpenOptions;
use crate::runner::RunObserver;
use crate::{JobError, Result};

/// What a caller asks for (the API's request body).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// A snapshot id, a unique prefix, or `latest`.
    pub snapshot: String,
    /// Restore only this entry (a file or a directory with everything below it).
    #[serde(default)]
    pub path: Option<String>,
    /// Relative to the restore root, or absolute inside it.
    pub target: String,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A checked request, as stored with the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreJob {
    /// The full snapshot id.
    pub snapshot: String,
    pub path: Option<String>,
    /// Absolute, inside the restore root.
    pub target: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// Where API and UI restores land.
pub fn restore_root(config: &Config) -> PathBuf {
    match &config.server {
        Some(server) => server.restore_root(&config.state_dir),
        None => config.state_dir.join("restores"),
    }
}

/// `target` placed below `root`: relative targets are joined to it, absolute ones must lie
/// inside it, `..` is refused. The error names the target and the root.
pub fn restore_target(root: &Path, target: &str) -> Result<PathBuf> {
    let refuse = |reason: &str| {
        JobError::InvalidInput(format!(
            "restore target {target:?} is not allowed: {reason}; give a directory below {}",
            root.display()
        ))
    };
    if target.is_empty() {
        return Err(refuse("it is empty"));
    }
    if target.contains('\0') {
        return Err(refuse("it contains a NUL byte"));
    }
    let given = Path::new(target);
    if given.components().any(|c| c == Component::ParentDir) {
        return Err(refuse("it has a .. component"));
    }
    let clean: PathBuf = given
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    if clean.is_absolute() {
        if !clean.starts_with(root) {
            return Err(refuse("it is outside the restore root"));
        }
        Ok(clean)
    } else {
        Ok(root.join(clean))
    }
}

/// Checks `request` for the repository `name` and resolves its snapshot: what is stored
/// with the queued job. Nothing is written.
pub fn prepare(
    browser: &Browser,
    config: &Config,
    name: &str,
    request: &RestoreRequest,
) -> Result<RestoreJob> {
    let target = restore_target(&restore_root(config), &request.target)?;
    if let Some(path) = &request.path {
        SnapshotPath::parse(path)?;
        if !request.include.is_empty() {
            return Err(JobError::InvalidInput(
                "give either path or include patterns, not both".into(),
            ));
        }
    }
    patterns(request.path.as_deref(), &request.include, &request.exclude)?;
    let opened = browser.opened(config, name)?;
    let (id, _) = find_snapshot(&opened.repo, &request.snapshot, &SnapshotFilter::default())?;
    Ok(RestoreJob {
        snapshot: id.to_hex(),
        path: request.path.clone(),
        target,
        include: request.include.clone(),
        exclude: request.exclude.clone(),
    })
}

/// The engine's include and exclude patterns: `path` (exactly that entry and what is below
/// it) or the include patterns, and the exclude patterns.
fn patterns(
    path: Option<&str>,
    include: &[String],
    exclude: &[String],
) -> Result<(Vec<Pattern>, Vec<Pattern>)> {
    let parse = |list: &[String]| -> Result<Vec<Pattern>> {
        list.iter()
            .map(|p| Pattern::new(p, false).map_err(JobError::from))
            .collect()
    };
    let include = match path {
        Some(path) if path.trim_end_matches('/').is_empty() => Vec::new(),
        Some(path) => vec![Pattern::literal(path.trim_end_matches('/')).ok_or_else(|| {
            JobError::InvalidInput(format!(
                "path {path:?} cannot be restored by name; restore its parent directory"
            ))
        })?],
        None => parse(include)?,
    };
    Ok((include, parse(exclude)?))
}

/// The restore job `job` (already marked running), recorded as one `restore` step; returns
/// how it ended.
pub fn run_job(
    config: &Config,
    state: &StateStore,
    job: &JobRecord,
    open: &OpenOptions,
    cancel: Arc<AtomicBool>,
    observer: &dyn RunObserver,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<JobEnd> {
    let mut end = crate::runner::single_step::run_single_step(
        state,
        job,
        "restore",
        &cancel,
        observer,
        now,
        |log| restore_step(config, job, open, cancel.clone(), observer, log),
    )?;
    end.snapshot = job
        .request
        .as_ref()
        .and_then(|r| r.get("snapshot"))
        .and_then(|s| s.as_str())
        .map(str::to_string);
    Ok(end)
}

struct Tracked<'p>(&'p Progress);

impl RestoreObserver for Tracked<'_> {
    fn progress(&self) -> Option<&Progress> {
        Some(self.0)
    }
}

fn restore_step(
    config: &Config,
    job: &JobRecord,
    open: &OpenOptions,
    cancel: Arc<AtomicBool>,
    observer: &dyn RunObserver,
    log: &dyn Fn(&str),
) -> Result<String> {
    let request: RestoreJob = job
        .request
        .clone()
        .ok_or_else(|| JobError::InvalidInput(format!("restore job {} has no request", job.id)))
        .and_then(|value| {
            serde_json::from_value(value).map_err(|e| {
                JobError::InvalidInput(format!(
                    "restore job {} has an unreadable request: {e}",
                    job.id
                ))
            })
        })?;
    let name = job.repository.as_deref().unwrap_or_default();
    let entry = config.repositories.get(name).ok_or_else(|| {
        JobError::NotFound(format!(
            "restore job {}: no repository {name:?} in the config",
            job.id
        ))
    })?;
    // The target was checked when the job was queued; the root may have moved since.
    let root = restore_root(config);
    if !request.target.starts_with(&root) {
        return Err(JobError::InvalidInput(format!(
            "restore target {} is no longer inside the restore root {}",
            request.target.display(),
            root.display()
        )));
    }
    let (include, exclude) = patterns(request.path.as_deref(), &request.include, &request.exclude)?;
    let repo = crate::open::repository(entry, open)?;
    repo.set_cancel(Some(cancel));
    let id = request.snapshot.parse::<Id>().map_err(|_| {
        JobError::InvalidInput(format!(
            "restore job {}: {:?} is not a snapshot id",
            job.id, request.snapshot
        ))
    })?;
    let snapshot = load_snapshot(&repo, &id)?;
    let _lock = repo.lock(false)?;
    let index = Index::load(&repo)?;
    log(&format!(
        "restoring {} of snapshot {} to {}",
        request.path.as_deref().unwrap_or("everything"),
        id.short(),
        request.target.display()
    ));
    let options = RestoreOptions {
        include,
        exclude,
        threads: 4,
        ..RestoreOptions::default()
    };
    let unread;
    let progress = match observer.progress() {
        Some(progress) => {
            progress.start(Operation::Restore);
            progress
        }
        None => {
            unread = Progress::new(Operation::Restore);
            &unread
        }
    };
    let summary = restore(
        &repo,
        &index,
        &snapshot.tree,
        &request.target,
        &options,
        &Tracked(progress),
    )?;
    if let Some(first) = summary.errors.first() {
        return Err(JobError::InvalidInput(format!(
            "{} entries could not be restored; first {}: {}",
            summary.errors.len(),
            first.path,
            first.message
        )));
    }
    if summary.files_restored + summary.dirs_restored + summary.other_restored == 0 {
        return Err(JobError::NotFound(format!(
            "nothing in snapshot {} matched {}",
            id.short(),
            request.path.as_deref().unwrap_or("the include patterns")
        )));
    }
    Ok(format!(
        "restored {} files, {} directories, {} bytes to {}",
        summary.files_restored,
        summary.dirs_restored,
        summary.bytes_restored,
        request.target.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_stay_below_the_restore_root() {
        let root = Path::new("/var/lib/cairn/restores");
        assert_eq!(
            restore_target(root, "job-1/etc").unwrap(),
            root.join("job-1/etc")
        );
        assert_eq!(
            restore_target(root, "/var/lib/cairn/restores/a").unwrap(),
            root.join("a")
        );
        assert_eq!(restore_target(root, "./a/./b").unwrap(), root.join("a/b"));
        for bad in [
            "../etc",
            "a/../../etc",
            "/etc",
            "/var/lib/cairn/restores/../x",
            "/var/lib/cairn/restoresX",
            "",
        ] {
            let error = restore_target(root, bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
            assert!(error.contains("/var/lib/cairn/restores"), "{error}");
        }
    }
}

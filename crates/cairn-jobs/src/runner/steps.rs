//! The bodies of a run's steps: each calls the engine as the matching CLI command does and
//! returns a line saying what it did.

use std::time::Duration;

use cairn_config::{CheckPolicy, KeepPolicy, Offsite, Plan};
use cairn_repo::backup::{
    backup_with_streams, BackupObserver, BackupOptions, ExcludeRules, Pattern,
};
use cairn_repo::check::{check, CheckOptions};
use cairn_repo::forget::{plan_forget, remove_snapshots, GroupBy};
use cairn_repo::mirror::{sync, SyncOptions};
use cairn_repo::progress::{Operation, Progress};
use cairn_repo::prune::{prune, PruneOptions};
use cairn_repo::snapshots::{load_all_snapshots, SnapshotFilter};
use cairn_repo::{RepoError, Repository};

use super::{plan_tag, Run};
use crate::open::{offsite_store, S3Settings};
use crate::{JobError, Result};

impl Run<'_, '_> {
    /// The plan's sources and database dumps, in one snapshot tagged with the plan.
    pub(super) fn backup(&mut self, repo: &Repository, plan: &Plan) -> Result<((), String)> {
        let mut excludes = ExcludeRules {
            one_file_system: plan.one_file_system,
            tag_files: plan.exclude_if_present.clone(),
            ..ExcludeRules::default()
        };
        for pattern in &plan.exclude {
            excludes.patterns.push(Pattern::new(pattern, false)?);
        }
        let mut tags = plan.tags.clone();
        tags.push(plan_tag(&plan.name));
        let options = BackupOptions {
            excludes,
            tags,
            host: plan.host.clone(),
            dry_run: self.request.dry_run,
            ..BackupOptions::default()
        };
        let has_dumps =
            !(plan.postgresql.is_empty() && plan.mariadb.is_empty() && plan.sqlite.is_empty());
        let streams = if self.request.dry_run || !has_dumps {
            Vec::new()
        } else {
            let scratch = self.scratch_dir()?;
            (self.request.streams_of)(plan, &scratch, self.request.cancel.clone())?
        };
        let dumps = streams.len();
        // Without anyone reading the model, the backup skips counting totals.
        let progress = self.observer.progress();
        if let Some(progress) = progress {
            progress.start(Operation::Backup);
        }
        let result = backup_with_streams(
            repo,
            &plan.sources,
            streams,
            &options,
            &StepObserver(progress),
        );
        if !self.request.dry_run && has_dumps {
            let _ = std::fs::remove_dir_all(self.scratch_dir()?);
        }
        let summary = result?;
        for error in &summary.errors {
            self.log(
                "cairn",
                &format!("could not read {}: {}", error.path, error.message),
            );
        }
        self.unreadable_files = summary.errors.len() as u64;
        self.bytes_added = Some(summary.data_added);
        self.snapshot = summary.snapshot_id.map(|id| id.to_hex());
        if let Some(id) = &self.snapshot {
            self.environment.snapshot_id = Some(id.clone());
        }
        let files = summary.total_files_processed;
        let detail = match &summary.snapshot_id {
            Some(id) => format!(
                "snapshot {} of {files} files ({} new, {} changed) and {dumps} dump(s), {} added",
                id.short(),
                summary.files_new,
                summary.files_changed,
                format_bytes(summary.data_added)
            ),
            None => format!(
                "dry run: {files} files ({} new, {} changed), {} would be added; database dumps \
                 are not run in a dry run",
                summary.files_new,
                summary.files_changed,
                format_bytes(summary.data_added)
            ),
        };
        let detail = if summary.errors.is_empty() {
            detail
        } else {
            format!(
                "{detail}; {} file(s) could not be read",
                summary.errors.len()
            )
        };
        Ok(((), detail))
    }

    /// Removes the plan's snapshots its retention does not keep (a maintenance plan: the
    /// repository's); returns how many.
    pub(super) fn forget(
        &mut self,
        repo: &Repository,
        plan: &Plan,
        policy: &KeepPolicy,
    ) -> Result<(usize, String)> {
        let _lock = if self.request.dry_run {
            None
        } else {
            Some(repo.lock(true)?)
        };
        // A maintenance plan owns the repository's retention: its snapshots come from restic
        // clients, which carry no plan tag. Any other plan forgets only its own snapshots.
        let filter = if plan.is_maintenance() {
            SnapshotFilter::default()
        } else {
            SnapshotFilter {
                tags: vec![plan_tag(&plan.name)],
                ..SnapshotFilter::default()
            }
        };
        // Strict: a policy applied to part of the snapshots could remove what it would keep.
        let groups = plan_forget(
            load_all_snapshots(repo)?,
            &filter,
            GroupBy::default(),
            policy,
        );
        let remove: Vec<_> = groups
            .iter()
            .flat_map(|g| g.remove.iter().map(|(id, _)| *id))
            .collect();
        let kept: usize = groups.iter().map(|g| g.keep.len()).sum();
        if self.request.dry_run {
            return Ok((
                0,
                format!(
                    "dry run: would remove {} snapshot(s), keep {kept}",
                    remove.len()
                ),
            ));
        }
        remove_snapshots(repo, &remove)?;
        for id in &remove {
            self.log("cairn", &format!("removed snapshot {}", id.to_hex()));
        }
        Ok((
            remove.len(),
            format!("removed {} snapshot(s), kept {kept}", remove.len()),
        ))
    }

    pub(super) fn prune(&mut self, repo: &Repository) -> Result<((), String)> {
        let options = PruneOptions {
            dry_run: self.request.dry_run,
            ..PruneOptions::default()
        };
        let summary = self.tracked(Operation::Prune, |_, progress| {
            prune(repo, &options, progress)
        })?;
        Ok((
            (),
            format!(
                "{} pack(s) deleted, {} repacked",
                summary.packs_deleted, summary.packs_repacked
            ),
        ))
    }

    pub(super) fn check(
        &mut self,
        repo: &Repository,
        policy: &CheckPolicy,
        reason: String,
    ) -> Result<((), String)> {
        if self.request.dry_run {
            return Ok(((), format!("dry run: would check ({reason})")));
        }
        // The store itself, not the cache's copies.
        let mut repo = repo.clone();
        repo.set_cache(None);
        let options = CheckOptions {
            read_data: policy.read_data,
            threads: 0,
        };
        let report = self.tracked(Operation::Check, |_, progress| {
            check(&repo, &options, progress)
        })?;
        for problem in &report.problems {
            self.log(
                "cairn",
                &format!("check: {}: {}", problem.object, problem.message),
            );
        }
        if !report.is_ok() {
            return Err(JobError::Repo(RepoError::corrupt(
                format!("repository {}", repo.location()),
                format!(
                    "check found {} problem(s), the first: {}: {}; run `cairn check` for all",
                    report.problems.len(),
                    report.problems[0].object,
                    report.problems[0].message
                ),
            )));
        }
        Ok((
            (),
            format!(
                "{} snapshots, {} packs, {} read in full ({reason})",
                report.snapshots, report.packs, report.packs_read
            ),
        ))
    }

    pub(super) fn offsite(
        &mut self,
        repo: &Repository,
        repository: &str,
        offsite: &Offsite,
    ) -> Result<((), String)> {
        let settings = S3Settings {
            transfers: offsite.transfers,
            storage_class: offsite.storage_class.clone(),
            sse: offsite.sse.clone(),
            bandwidth_limit: offsite.bwlimit.map(|b| b.bytes()).filter(|b| *b > 0),
        };
        let dest = offsite_store(
            repository,
            offsite,
            &self.request.config.state_dir,
            &settings,
        )?;
        let options = SyncOptions {
            transfers: offsite.transfers.max(1),
            delete_after: offsite.delete_after.map(|d| d.as_std()),
            dry_run: self.request.dry_run,
            now: self.now(),
            object_lock: offsite.object_lock,
        };
        let summary = self.tracked(Operation::Mirror, |_, progress| {
            sync(repo, &dest, &options, progress)
        })?;
        let verb = if self.request.dry_run {
            "would send"
        } else {
            "sent"
        };
        Ok((
            (),
            format!(
                "{verb} {} object(s), {} to {}",
                summary.uploaded_objects,
                format_bytes(summary.uploaded_bytes),
                dest.location()
            ),
        ))
    }
}

/// The backup step's observer: the run's model; unreadable files are logged from the
/// summary once the backup ends.
struct StepObserver<'a>(Option<&'a Progress>);

impl BackupObserver for StepObserver<'_> {
    fn progress(&self) -> Option<&Progress> {
        self.0
    }
}

/// `3.4 MiB`.
pub(super) fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `3d 4h`, `2h 5m`, `40s`.
pub(super) fn format_age(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

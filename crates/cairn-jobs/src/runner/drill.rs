//! A drill job: the restore drill of a plan, as steps of a job like the chain's.

use std::os::unix::fs::PermissionsExt;

use cairn_config::Plan;
use cairn_repo::index::Index;
use cairn_repo::progress::Operation;

use super::Run;
use crate::drill::{self, DrillReport};
use crate::{JobError, Result};

impl Run<'_, '_> {
    /// Restores the sample into a sandbox below the state directory (removed afterwards, also
    /// when the drill fails), verifies it, loads the dumps, and records the report.
    pub(super) fn drill(&mut self, plan: &Plan) -> Result<()> {
        let repo = self.open_repository(plan)?;
        let sandbox = self
            .request
            .config
            .state_dir
            .join("drills")
            .join(format!("job-{}", self.job));
        let result = self.drill_in(&repo, plan, &sandbox);
        if let Err(e) = std::fs::remove_dir_all(&sandbox) {
            if e.kind() != std::io::ErrorKind::NotFound {
                self.log(
                    "cairn",
                    &format!("cannot remove the sandbox {}: {e}", sandbox.display()),
                );
            }
        }
        let report = result?;
        let value = serde_json::to_value(&report).expect("a drill report is JSON");
        self.state
            .record_drill(self.job, &plan.name, self.now(), &value)?;
        self.snapshot = Some(report.snapshot.clone());
        self.log(
            "cairn",
            &format!(
                "estimated full recovery: {:.0} s ({} at {}/s, databases {:.1} s)",
                report.rto_seconds,
                super::steps::format_bytes(report.bytes_in_snapshot),
                super::steps::format_bytes(report.rate_bytes_per_second as u64),
                report.databases.iter().map(|d| d.seconds).sum::<f64>()
            ),
        );
        Ok(())
    }

    fn drill_in(
        &mut self,
        repo: &cairn_repo::Repository,
        plan: &Plan,
        sandbox: &std::path::Path,
    ) -> Result<DrillReport> {
        std::fs::create_dir_all(sandbox).map_err(|e| {
            JobError::InvalidInput(format!("cannot create {}: {e}", sandbox.display()))
        })?;
        if let Some(parent) = sandbox.parent() {
            let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700));
        }
        let _ = std::fs::set_permissions(sandbox, std::fs::Permissions::from_mode(0o700));
        let _lock = repo.lock(false)?;
        let latest = drill::latest_snapshot(repo, &plan.name)?;
        let index = Index::load(repo)?;
        let sample = drill::sample_of(plan);
        let mut report = self.step("restore sample", |run| {
            let report = run.tracked(Operation::Restore, |_, progress| {
                drill::restore_sample(repo, &index, &latest, &sample, sandbox, progress)
            })?;
            let detail = format!(
                "snapshot {}: {} of {} files restored and verified ({}, sample {}) in {:.1} s",
                &report.snapshot[..8],
                report.files_verified,
                report.files_in_snapshot,
                super::steps::format_bytes(report.bytes_restored),
                report.sample,
                report.restore_seconds
            );
            Ok((report, detail))
        })?;
        if crate::restore_db::locate::dumps_in(repo, &index, &latest.1.tree)?.is_empty() {
            self.skipped("load databases", "the snapshot holds no database dump")?;
            return Ok(report);
        }
        let job = self.job;
        let databases = self.step("load databases", |_| {
            let loaded = drill::databases::load_all(
                repo,
                &index,
                &latest.1.tree,
                plan,
                &sandbox.join("databases"),
                job,
            )?;
            let detail = loaded
                .iter()
                .map(|d| {
                    format!(
                        "{} ({} tables, {} rows, {:.1} s)",
                        d.dump, d.tables, d.rows, d.seconds
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            Ok((loaded, detail))
        })?;
        let seconds = databases.iter().map(|d| d.seconds).sum();
        report.rto_seconds = drill::estimate_rto(
            report.bytes_in_snapshot,
            report.rate_bytes_per_second,
            report.restore_seconds,
            seconds,
        );
        report.databases = databases;
        Ok(report)
    }
}

//! `/metrics` in the Prometheus text format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;

use cairn_state::{JobKind, JobState};

use super::Daemon;
use crate::Result;

/// The `daemon_values` key prefix of a repository's size, recorded after each backup.
pub const REPOSITORY_SIZE_KEY: &str = "repository_size:";

impl Daemon {
    pub fn metrics(&self) -> Result<String> {
        let statuses = self.plan_statuses()?;
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let label = |key: &str, value: &str| format!("{{{key}=\"{}\"}}", escape(value));
        let time =
            |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or(0.0, |t| t.timestamp() as f64);

        let samples: Vec<_> = statuses
            .iter()
            .map(|s| (label("plan", &s.name), time(s.last_success)))
            .collect();
        family(
            "cairn_plan_last_success_timestamp_seconds",
            "gauge",
            "When the plan's last backup succeeded (0: never).",
            &samples,
        );
        let samples: Vec<_> = statuses
            .iter()
            .filter_map(|s| {
                let job = s.last_run.as_ref()?;
                let duration = job.finished_at? - job.started_at?;
                Some((
                    label("plan", &s.name),
                    duration.num_milliseconds() as f64 / 1000.0,
                ))
            })
            .collect();
        family(
            "cairn_plan_last_run_duration_seconds",
            "gauge",
            "How long the plan's last run took.",
            &samples,
        );
        let samples: Vec<_> = statuses
            .iter()
            .map(|s| (label("plan", &s.name), if s.stale { 1.0 } else { 0.0 }))
            .collect();
        family(
            "cairn_plan_stale",
            "gauge",
            "1 when the plan has had no successful backup for longer than its stale_after.",
            &samples,
        );
        let config = self.config();
        let mut sizes = Vec::new();
        for name in config.repositories.keys() {
            if let Some(size) = self
                .state()
                .daemon_value(&format!("{REPOSITORY_SIZE_KEY}{name}"))?
                .and_then(|v| v.parse::<f64>().ok())
            {
                sizes.push((label("repository", name), size));
            }
        }
        family(
            "cairn_repository_size_bytes",
            "gauge",
            "Bytes the repository holds, as measured after its last backup.",
            &sizes,
        );
        let counts: BTreeMap<JobState, u64> = self.state().job_counts()?.into_iter().collect();
        let samples: Vec<_> = JobState::ALL
            .iter()
            .map(|state| {
                (
                    label("state", state.as_str()),
                    *counts.get(state).unwrap_or(&0) as f64,
                )
            })
            .collect();
        family(
            "cairn_jobs",
            "gauge",
            "Jobs in the state database by state.",
            &samples,
        );
        let mut offsite: BTreeMap<String, f64> = BTreeMap::new();
        for status in &statuses {
            if let Some(at) = status.last_offsite_sync {
                let entry = offsite.entry(status.repository.clone()).or_default();
                *entry = entry.max(at.timestamp() as f64);
            }
        }
        let samples: Vec<_> = offsite
            .iter()
            .map(|(repository, at)| (label("repository", repository), *at))
            .collect();
        family(
            "cairn_offsite_last_sync_timestamp_seconds",
            "gauge",
            "When the repository's offsite mirror last synced.",
            &samples,
        );
        let mut drill_success = Vec::new();
        let mut drill_rto = Vec::new();
        for status in &statuses {
            let last =
                self.state()
                    .last_job(&status.name, JobKind::Drill, Some(JobState::Succeeded))?;
            let Some(job) = last else { continue };
            if let Some(at) = job.finished_at {
                drill_success.push((label("plan", &status.name), at.timestamp() as f64));
            }
            let rto = self
                .state()
                .drill_report(job.id)?
                .and_then(|d| d.report["rto_seconds"].as_f64());
            if let Some(rto) = rto {
                drill_rto.push((label("plan", &status.name), rto));
            }
        }
        family(
            "cairn_drill_last_success_timestamp_seconds",
            "gauge",
            "When the plan's last restore drill succeeded.",
            &drill_success,
        );
        family(
            "cairn_drill_rto_seconds",
            "gauge",
            "The full recovery time the plan's last successful drill estimated.",
            &drill_rto,
        );
        Ok(out)
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

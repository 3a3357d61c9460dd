//! Restore drills: evidence that a plan's backups restore, taken on a schedule.
//!
//! A drill restores a sample of the plan's latest snapshot (or all of it) into a sandbox with
//! the restore engine's verification on, so every restored byte is read back and compared with
//! the blob ids the snapshot names; then it loads each database dump of the snapshot into a
//! throwaway database and asks it what tables and rows it holds. From the measured restore rate
//! and the snapshot's size it estimates how long a full recovery would take (the RTO).
//!
//! The restore goes through the same engine as `cairn restore`, so a drill measures the path a
//! real recovery takes; it holds a shared lock, like a restore.

pub mod databases;
pub mod sample;

use std::path::Path;
use std::time::Instant;

use cairn_config::{DrillPolicy, DrillSample, Plan, DUMP_ROOT};
use cairn_format::tree::NodeType;
use cairn_format::{Id, Snapshot};
use cairn_repo::backup::Pattern;
use cairn_repo::index::Index;
use cairn_repo::progress::Progress;
use cairn_repo::restore::{restore, RestoreObserver, RestoreOptions};
use cairn_repo::snapshots::load_readable_snapshots;
use cairn_repo::tree_io::walk_tree;
use cairn_repo::Repository;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::runner::plan_tag;
use crate::{JobError, Result};

/// What a drill restored, verified and measured.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub snapshot: String,
    pub snapshot_time: DateTime<Utc>,
    /// `full`, or the share and minimum, e.g. `2% (at least 10 files)`.
    pub sample: String,
    pub files_in_snapshot: u64,
    pub bytes_in_snapshot: u64,
    pub files_restored: u64,
    pub bytes_restored: u64,
    /// Files read back after writing and found equal to the snapshot's blobs.
    pub files_verified: u64,
    pub restore_seconds: f64,
    pub rate_bytes_per_second: f64,
    pub databases: Vec<DatabaseDrill>,
    /// The estimated time of a full recovery: the snapshot's files at the measured rate, plus
    /// the time the database dumps took to load (they are loaded whole).
    pub rto_seconds: f64,
}

/// One database dump loaded into a throwaway database.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseDrill {
    /// `postgresql`, `mariadb` or `sqlite`.
    pub kind: String,
    /// The dump's path in the snapshot.
    pub dump: String,
    /// The throwaway database (dropped after) or file it was loaded into.
    pub loaded_into: String,
    pub tables: u64,
    pub rows: u64,
    pub seconds: f64,
}

/// A drill's sample when the plan has no `[drill]` section (a drill started by hand).
pub fn default_policy() -> DrillSample {
    DrillSample::Percent {
        percent: 2.0,
        min_files: cairn_config::DRILL_MIN_FILES_DEFAULT,
    }
}

/// The newest snapshot of `plan` (tagged `plan:NAME`).
pub fn latest_snapshot(repo: &Repository, plan: &str) -> Result<(Id, Snapshot)> {
    let tag = plan_tag(plan);
    load_readable_snapshots(repo)?
        .into_iter()
        .filter(|(_, s)| s.tags.contains(&tag))
        .max_by(|(a_id, a), (b_id, b)| a.time.cmp(&b.time).then(a_id.cmp(b_id)))
        .ok_or_else(|| {
            JobError::InvalidInput(format!(
                "plan {plan} has no snapshot to drill yet; run `cairn run {plan}` first"
            ))
        })
}

/// A file of the snapshot the drill may restore.
struct FileEntry {
    path: String,
    size: u64,
}

/// The drill's restore reports to the run's progress model.
struct Tracked<'a>(&'a Progress);

impl RestoreObserver for Tracked<'_> {
    fn progress(&self) -> Option<&Progress> {
        Some(self.0)
    }
}

/// Restores the sample of `snapshot` into `sandbox` (which must not exist or be empty),
/// verifying every byte, reporting to `progress`. Database dumps are left to
/// [`DatabaseDrill`] loads; their size counts in the snapshot's total.
pub fn restore_sample(
    repo: &Repository,
    index: &Index,
    (id, snapshot): &(Id, Snapshot),
    sample: &DrillSample,
    sandbox: &Path,
    progress: &Progress,
) -> Result<DrillReport> {
    let mut files = Vec::new();
    let (mut files_in_snapshot, mut bytes_in_snapshot, mut dump_files) = (0u64, 0u64, 0u64);
    let dumps = DUMP_ROOT.as_bytes();
    walk_tree(repo, index, &snapshot.tree, &mut |path, node| {
        if node.node_type == NodeType::File {
            files_in_snapshot += 1;
            bytes_in_snapshot += node.size;
            let is_dump = path.starts_with(dumps) && path.get(dumps.len()) == Some(&b'/');
            if is_dump {
                dump_files += 1;
            }
            // A name a pattern cannot spell (not UTF-8, `..`) is left out of the sample.
            let text = std::str::from_utf8(path).ok();
            if let (false, Some(text)) = (is_dump, text.filter(|t| Pattern::literal(t).is_some())) {
                files.push(FileEntry {
                    path: text.to_string(),
                    size: node.size,
                });
            }
        }
        Ok(true)
    })?;
    let (include, described, wanted_files, wanted_bytes) = match sample {
        DrillSample::Full => (Vec::new(), "full".to_string(), None, None),
        DrillSample::Percent { percent, min_files } => {
            let chosen = sample::choose(
                files.iter().map(|f| f.path.as_bytes()),
                *percent,
                *min_files,
                id.to_hex().as_bytes(),
            );
            let include: Vec<Pattern> = chosen
                .iter()
                .filter_map(|&i| Pattern::literal(&files[i].path))
                .collect();
            let bytes = chosen.iter().map(|&i| files[i].size).sum::<u64>();
            (
                include,
                format!("{percent}% (at least {min_files} files)"),
                Some(chosen.len() as u64),
                Some(bytes),
            )
        }
    };
    let options = RestoreOptions {
        exclude: if matches!(sample, DrillSample::Full) {
            // Dumps are loaded into databases, not restored as files.
            vec![Pattern::literal(DUMP_ROOT).expect("an absolute path")]
        } else {
            Vec::new()
        },
        include,
        verify: true,
        threads: 4,
        ..RestoreOptions::default()
    };
    let started = Instant::now();
    let summary = if wanted_files == Some(0) {
        // Nothing but dumps (or nothing) to restore as files.
        cairn_repo::restore::RestoreSummary::default()
    } else {
        restore(
            repo,
            index,
            &snapshot.tree,
            sandbox,
            &options,
            &Tracked(progress),
        )?
    };
    let restore_seconds = started.elapsed().as_secs_f64();
    if let Some(first) = summary.errors.first() {
        // Named as in the snapshot, not in the sandbox that is about to go.
        let path = Path::new(&first.path)
            .strip_prefix(sandbox)
            .map_or_else(|_| first.path.clone(), |p| format!("/{}", p.display()));
        return Err(JobError::Drill(format!(
            "{} of the drill's files did not restore from snapshot {}; first {path}: {}",
            summary.errors.len(),
            id.short(),
            first.message
        )));
    }
    let expected_files = wanted_files.unwrap_or(files_in_snapshot - dump_files);
    if summary.files_verified != expected_files || summary.files_restored != expected_files {
        return Err(JobError::Drill(format!(
            "the drill restored {} and verified {} files of the {expected_files} it chose",
            summary.files_restored, summary.files_verified
        )));
    }
    if let Some(bytes) = wanted_bytes {
        if summary.bytes_restored != bytes {
            return Err(JobError::Drill(format!(
                "the drill restored {} bytes where the snapshot's chosen files hold {bytes}",
                summary.bytes_restored
            )));
        }
    }
    let rate = summary.bytes_restored as f64 / restore_seconds.max(0.001);
    Ok(DrillReport {
        snapshot: id.to_hex(),
        snapshot_time: snapshot.time.with_timezone(&Utc),
        sample: described,
        files_in_snapshot,
        bytes_in_snapshot,
        files_restored: summary.files_restored,
        bytes_restored: summary.bytes_restored,
        files_verified: summary.files_verified,
        restore_seconds,
        rate_bytes_per_second: rate,
        databases: Vec::new(),
        rto_seconds: estimate_rto(bytes_in_snapshot, rate, restore_seconds, 0.0),
    })
}

/// The snapshot's bytes at the measured rate (never less than the drill itself took when it
/// restored everything), plus the databases' load time.
pub fn estimate_rto(
    bytes_in_snapshot: u64,
    rate: f64,
    restore_seconds: f64,
    database_seconds: f64,
) -> f64 {
    let files = if rate > 0.0 {
        bytes_in_snapshot as f64 / rate
    } else {
        restore_seconds
    };
    files + database_seconds
}

/// The sample of a plan's drill.
pub fn sample_of(plan: &Plan) -> DrillSample {
    plan.drill
        .as_ref()
        .map_or_else(default_policy, |d: &DrillPolicy| d.sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rto_is_the_snapshot_at_the_measured_rate_plus_the_databases() {
        assert_eq!(estimate_rto(1_000_000, 100_000.0, 0.5, 0.0), 10.0);
        assert_eq!(estimate_rto(1_000_000, 100_000.0, 0.5, 4.0), 14.0);
        assert_eq!(estimate_rto(0, 0.0, 0.25, 1.0), 1.25);
    }
}

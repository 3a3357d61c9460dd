//! `mirror verify`: does the mirror hold what the repository holds, byte for byte?
//!
//! Listings and sizes are compared for every object the sync would send; a sample of the
//! mirror's objects (`read_sample_percent`) is downloaded and each one's SHA-256 checked
//! against its name (`config` against the local bytes). Objects the mirror keeps only for
//! their grace period (named in `cairn-mirror-state`) are reported apart, not as extras.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_format::Id;
use cairn_storage::{FileKind, Storage};
use rand::seq::SliceRandom;
use serde::Serialize;

use super::pending::{object_key, PendingDeletions};
use super::sync::{indexed_packs, MIRRORED};
use crate::error::Result;
use crate::repository::Repository;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectProblem {
    pub kind: String,
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub objects_compared: u64,
    pub objects_read: u64,
    pub bytes_read: u64,
    /// In the repository, not (or not whole) in the mirror.
    pub missing: Vec<ObjectProblem>,
    /// In the mirror, not in the repository, and not awaiting deletion.
    pub extra: Vec<ObjectProblem>,
    /// Wrong size, or content that does not hash to its name.
    pub corrupt: Vec<ObjectProblem>,
    /// Gone locally, kept in the mirror for their grace period.
    pub awaiting_deletion: u64,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.corrupt.is_empty()
    }
}

pub fn verify(
    repo: &Repository,
    dest: &Arc<dyn Storage>,
    read_sample_percent: f64,
) -> Result<VerifyReport> {
    let _lock = repo.lock(false)?;
    let source = repo.storage();
    let mut report = VerifyReport::default();
    let local_index: Vec<String> = source
        .list(FileKind::Index)?
        .into_iter()
        .map(|o| o.name)
        .collect();
    let indexed = indexed_packs(repo, local_index.iter())?;
    let pending = PendingDeletions::load(dest.as_ref())?;
    let mut sample_pool = Vec::new();
    for kind in MIRRORED {
        let local: BTreeMap<String, u64> = source
            .list(kind)?
            .into_iter()
            .filter(|o| kind != FileKind::Pack || indexed.contains_key(&o.name))
            .map(|o| (o.name, o.size))
            .collect();
        let remote: BTreeMap<String, u64> = dest
            .list(kind)?
            .into_iter()
            .map(|o| (o.name, o.size))
            .collect();
        let problem = |name: &str, reason: String| ObjectProblem {
            kind: kind.to_string(),
            name: name.to_string(),
            reason,
        };
        for (name, &size) in &local {
            report.objects_compared += 1;
            match remote.get(name) {
                None => report
                    .missing
                    .push(problem(name, "not in the mirror".into())),
                Some(&theirs) if theirs != size => report.corrupt.push(problem(
                    name,
                    format!("{theirs} bytes in the mirror, {size} in the repository"),
                )),
                Some(_) => sample_pool.push((kind, name.clone())),
            }
        }
        for name in remote.keys().filter(|n| !local.contains_key(*n)) {
            let is_local_unindexed = kind == FileKind::Pack && source.size(kind, name).is_ok();
            if pending.missing_since.contains_key(&object_key(kind, name)) {
                report.awaiting_deletion += 1;
            } else if !is_local_unindexed {
                report
                    .extra
                    .push(problem(name, "not in the repository".into()));
            }
        }
    }

    let wanted = ((sample_pool.len() as f64) * read_sample_percent / 100.0).ceil() as usize;
    sample_pool.shuffle(&mut rand::thread_rng());
    let local_config = source.get(FileKind::Config, "config")?;
    for (kind, name) in sample_pool.into_iter().take(wanted) {
        let data = match dest.get(kind, &name) {
            Ok(data) => data,
            Err(e) if e.is_not_found() => {
                report.missing.push(ObjectProblem {
                    kind: kind.to_string(),
                    name,
                    reason: "vanished from the mirror while it was verified".into(),
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        report.objects_read += 1;
        report.bytes_read += data.len() as u64;
        let intact = if kind == FileKind::Config {
            data == local_config
        } else {
            Id::hash(&data).to_hex() == name
        };
        if !intact {
            report.corrupt.push(ObjectProblem {
                kind: kind.to_string(),
                name,
                reason: if kind == FileKind::Config {
                    "differs from the repository's config".into()
                } else {
                    "its content does not hash to its name".into()
                },
            });
        }
    }
    Ok(report)
}

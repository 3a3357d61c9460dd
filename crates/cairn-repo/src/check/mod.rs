//! Check: is every snapshot restorable, and is every byte what it claims to be?
//!
//! Structure (always): key files match their names; every index file, snapshot and tree reads
//! and authenticates; every blob a tree references is indexed; every indexed pack exists with
//! the size its index entries imply; file sizes agree with their content. Packs no index names
//! (left by an interrupted backup) are hints, not errors: they hold no data anything refers to.
//!
//! Read data (`--read-data`, or a subset): every selected pack is read whole, hashed against its
//! name, its header opened and compared with the index, and every blob decrypted, decompressed
//! and hashed against its id. A damaged pack is reported with the snapshots and paths that use
//! its blobs.

mod read_data;
mod structure;

use cairn_format::Id;

use crate::progress::{Phase, Progress};
use crate::{RepoError, Repository, Result};

/// Which packs to read in full.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ReadData {
    #[default]
    None,
    All,
    /// Subset `n` of `m` (1-based), by the first byte of the pack id, as restic's `n/m`.
    Bucket {
        n: u32,
        m: u32,
    },
    /// A random sample of this percentage of the packs.
    Percent(f64),
}

impl std::str::FromStr for ReadData {
    type Err = RepoError;

    fn from_str(text: &str) -> Result<ReadData> {
        let invalid = || {
            RepoError::InvalidInput(format!(
                "invalid --read-data-subset {text:?}: use n/m (e.g. 1/5) or a percentage (e.g. 10%)"
            ))
        };
        if let Some(percent) = text.strip_suffix('%') {
            let value: f64 = percent.trim().parse().map_err(|_| invalid())?;
            if !(value > 0.0 && value <= 100.0) {
                return Err(invalid());
            }
            return Ok(ReadData::Percent(value));
        }
        let (n, m) = text.split_once('/').ok_or_else(invalid)?;
        let (n, m): (u32, u32) = (
            n.trim().parse().map_err(|_| invalid())?,
            m.trim().parse().map_err(|_| invalid())?,
        );
        if n == 0 || m == 0 || n > m || m > 256 {
            return Err(invalid());
        }
        Ok(ReadData::Bucket { n, m })
    }
}

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub read_data: ReadData,
    pub threads: usize,
}

/// One thing wrong, naming the object and what it affects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The damaged or missing object: "pack <id>", "tree <id>", "index <id>", …
    pub object: String,
    pub message: String,
    /// Snapshots and paths that depend on the object, where known.
    pub affected: Vec<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    pub problems: Vec<Problem>,
    /// Things worth knowing that do not make the repository unreadable.
    pub hints: Vec<String>,
    pub snapshots: u64,
    pub trees: u64,
    pub packs: u64,
    pub packs_read: u64,
    pub blobs_read: u64,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, object: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            object: object.into(),
            message: message.into(),
            affected: Vec::new(),
        });
    }
}

/// Runs the check; problems are in the report, errors only for failures to run at all.
/// `progress` counts the packs read in full and their bytes.
pub fn check(
    repo: &Repository,
    options: &CheckOptions,
    progress: &Progress,
) -> Result<CheckReport> {
    let _lock = repo.lock(true)?;
    let mut report = CheckReport::default();
    let state = structure::check_structure(repo, &mut report, progress)?;
    if options.read_data != ReadData::None {
        let damaged = read_data::read_packs(repo, &state, options, &mut report, progress);
        if !damaged.is_empty() {
            structure::attribute_damage(repo, &state, &damaged, &mut report);
        }
    }
    progress.set_current(None);
    progress.set_phase(Phase::Done);
    Ok(report)
}

/// A short id for messages.
pub(crate) fn short(id: &Id) -> String {
    id.short()
}

//! Temporary files that writers killed mid-write left in the store (`*-tmp-*` in a local
//! repository): invisible to listings, to every other command and to restic, but taking space.
//!
//! Only files older than a bound (a day by default) are removed. Prune holds the exclusive
//! lock, so no cairn process is writing; the bound also spares a writer that takes no lock
//! (restic run against the same directory, a `mirror restore`) whose file is still growing.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::{Repository, Result};

/// Leftovers younger than this stay: a day, long past any write that is still under way.
pub const TEMPORARY_MIN_AGE_DEFAULT: Duration = Duration::from_secs(24 * 3600);

/// One leftover, as a dry run lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    /// Relative to the repository's root.
    pub path: String,
    pub size: u64,
}

/// The repository's temporary files last modified more than `min_age` before `now`.
pub fn stale_temporaries(
    repo: &Repository,
    min_age: Duration,
    now: SystemTime,
) -> Result<Vec<Leftover>> {
    let cutoff = now.checked_sub(min_age).unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(repo
        .storage()
        .stale_temporaries(cutoff)?
        .into_iter()
        .map(|t| Leftover {
            path: t.path,
            size: t.size,
        })
        .collect())
}

/// Removes the leftovers; one already gone (removed by someone else meanwhile) is no error.
pub fn remove_temporaries(repo: &Repository, leftovers: &[Leftover]) -> Result<()> {
    for leftover in leftovers {
        match repo.storage().remove_temporary(&leftover.path) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    repo.storage().sync()?;
    Ok(())
}

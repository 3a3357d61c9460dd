//! Which mirror objects are gone from the local repository, and since when.
//!
//! Stored beside the mirror as the sidecar `cairn-mirror-state` (JSON; object names and times
//! only, nothing secret), so any machine syncing to the mirror honours the same grace period.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use cairn_storage::{FileKind, Storage};

use crate::error::{RepoError, Result};

pub const STATE_NAME: &str = "cairn-mirror-state";

/// An object of the mirror as `kind/name`, e.g. `pack/ab12…`.
pub fn object_key(kind: FileKind, name: &str) -> String {
    format!("{kind}/{name}")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDeletions {
    pub version: u32,
    /// `kind/name` → when a sync first found it missing locally.
    pub missing_since: BTreeMap<String, DateTime<Utc>>,
}

impl PendingDeletions {
    /// The state stored at `dest`, or an empty one if there is none.
    pub fn load(dest: &dyn Storage) -> Result<PendingDeletions> {
        match dest.get(FileKind::Sidecar, STATE_NAME) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| RepoError::Corrupt {
                object: format!("{}/{STATE_NAME}", dest.location()),
                reason: format!(
                    "not the mirror's state ({e}); delete it to start the grace periods afresh"
                ),
            }),
            Err(e) if e.is_not_found() => Ok(PendingDeletions {
                version: 1,
                ..PendingDeletions::default()
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub fn save(&self, dest: &dyn Storage) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        dest.put(FileKind::Sidecar, STATE_NAME, &json)?;
        Ok(())
    }
}

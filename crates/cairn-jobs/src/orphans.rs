//! Repositories in an S3 bucket that no known repository owns (a host that was retired, a
//! mirror left behind after a rename): what `cairn mirror orphans` and the API's
//! `/api/v1/offsite/orphans` list. A found repository is `known` when the password opens it
//! and its id is one of `known_ids` (a mirror has its source's id), `orphan` when it opens
//! with another id, `unopened` when the password does not open it.

use std::collections::BTreeSet;
use std::sync::Arc;

use cairn_repo::snapshots::load_readable_snapshots;
use cairn_repo::{RepoError, Repository};
use cairn_storage::s3::S3Options;
use cairn_storage::{FileKind, S3Location, S3Store, Storage};
use serde::Serialize;

use crate::Result;

#[derive(Debug, Clone, Serialize)]
pub struct FoundRepository {
    pub location: String,
    pub prefix: String,
    /// The repository id, when the password opens it.
    pub id: Option<String>,
    pub snapshots: usize,
    pub newest_snapshot: Option<String>,
    /// `known`, `orphan`, or `unopened` (the password does not open it).
    pub status: &'static str,
}

/// Every repository at most `max_depth` prefix levels below `location`.
pub fn find(
    location: &S3Location,
    options: S3Options,
    password: &[u8],
    known_ids: &BTreeSet<String>,
    max_depth: usize,
) -> Result<Vec<FoundRepository>> {
    let root = S3Store::open(location.clone(), options)?;
    let mut found = Vec::new();
    for prefix in root.find_repositories(max_depth)? {
        let full = if location.prefix.is_empty() {
            prefix.clone()
        } else if prefix.is_empty() {
            location.prefix.clone()
        } else {
            format!("{}/{prefix}", location.prefix)
        };
        let store = Arc::new(root.at_prefix(&full)?);
        let url = store.s3_location().to_string();
        let snapshots = store.list(FileKind::Snapshot)?.len();
        let (id, newest_snapshot, status) = match Repository::open(store, password) {
            Ok(repo) => {
                let id = repo.config().id.to_string();
                let newest = load_readable_snapshots(&repo)?
                    .into_iter()
                    .map(|(_, s)| s.time)
                    .max()
                    .map(|t| t.to_rfc3339());
                let status = if known_ids.contains(&id) {
                    "known"
                } else {
                    "orphan"
                };
                (Some(id), newest, status)
            }
            Err(RepoError::WrongPassword { .. }) => (None, None, "unopened"),
            Err(e) => return Err(e.into()),
        };
        found.push(FoundRepository {
            location: url,
            prefix: full,
            id,
            snapshots,
            newest_snapshot,
            status,
        });
    }
    Ok(found)
}

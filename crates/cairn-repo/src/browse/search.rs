//! Entries whose path matches a pattern (`*.conf`, the syntax of `cairn find`), newest
//! snapshot first, up to a limit.

use cairn_format::{Id, Snapshot};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::go_time;
use super::listing::EntryType;
use crate::find::{FindPatterns, Finder};
use crate::index::Index;
use crate::{RepoError, Repository, Result};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchMatch {
    pub snapshot: String,
    /// The snapshot's time.
    pub time: DateTime<FixedOffset>,
    /// Snapshot-absolute (`/etc/nginx/nginx.conf`), lossy where not UTF-8.
    pub path: String,
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    pub size: u64,
    pub mtime: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    pub matches: Vec<SearchMatch>,
    /// More entries matched than the limit let through.
    pub truncated: bool,
}

/// Searches `snapshots` newest first for entries matching `pattern` and stops once `limit`
/// matches are found and one more exists. Trees shared between snapshots are searched once
/// ([`Finder`]); within a snapshot, matches come depth first in tree order.
pub fn search(
    repo: &Repository,
    index: &Index,
    snapshots: &[(Id, Snapshot)],
    pattern: &str,
    limit: usize,
) -> Result<SearchResult> {
    if pattern.is_empty() {
        return Err(RepoError::InvalidInput(
            "the search pattern is empty; give a name or a glob such as *.conf".into(),
        ));
    }
    let patterns = FindPatterns::new(&[pattern.to_string()], false)?;
    let mut ordered: Vec<&(Id, Snapshot)> = snapshots.iter().collect();
    ordered.sort_by(|(a_id, a), (b_id, b)| b.time.cmp(&a.time).then(b_id.cmp(a_id)));
    let mut finder = Finder::new(repo, index, patterns);
    let mut matches = Vec::new();
    let mut truncated = false;
    for (id, snapshot) in ordered {
        let outcome = finder.find_in_snapshot(&snapshot.tree, &mut |found| {
            if matches.len() == limit {
                truncated = true;
                // Ends the walk; told apart from a real failure by `truncated`.
                return Err(RepoError::Interrupted);
            }
            let entry_type = EntryType::of(&found.node.node_type);
            matches.push(SearchMatch {
                snapshot: id.to_hex(),
                time: snapshot.time,
                path: String::from_utf8_lossy(&found.path).into_owned(),
                entry_type,
                size: if entry_type == EntryType::File {
                    found.node.size
                } else {
                    0
                },
                mtime: go_time(&found.node.mtime),
            });
            Ok(())
        });
        match outcome {
            Ok(_) => {}
            Err(RepoError::Interrupted) if truncated => break,
            Err(e) => return Err(e),
        }
    }
    Ok(SearchResult { matches, truncated })
}

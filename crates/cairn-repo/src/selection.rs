//! Which snapshots a command that changes or copies several snapshots works on: the ones named
//! (ids, unique prefixes, `latest`), or every snapshot the filters match when none is named, as
//! restic's commands that take `[snapshotID ...]` choose them.

use cairn_format::{Id, Snapshot};

use crate::snapshots::{find_snapshot, load_readable_snapshots, SnapshotFilter};
use crate::{Repository, Result};

/// The snapshots named on a command line, or the filters for all of them.
#[derive(Debug, Clone, Default)]
pub struct SnapshotSelection {
    /// Ids, unique id prefixes or `latest`; empty means every snapshot `filter` matches.
    pub ids: Vec<String>,
    /// Applies to all snapshots when `ids` is empty, and to `latest` (as in restic); a snapshot
    /// named by id is taken whatever the filters say.
    pub filter: SnapshotFilter,
}

impl SnapshotSelection {
    pub fn all() -> SnapshotSelection {
        SnapshotSelection::default()
    }
}

/// Resolves a selection to snapshots, oldest first, each once. Every name is resolved before
/// anything is returned, so a typo in the third id fails the command before it changes the
/// first snapshot.
pub fn select_snapshots(
    repo: &Repository,
    selection: &SnapshotSelection,
) -> Result<Vec<(Id, Snapshot)>> {
    let mut chosen = if selection.ids.is_empty() {
        load_readable_snapshots(repo)?
            .into_iter()
            .filter(|(_, s)| selection.filter.matches(s))
            .collect()
    } else {
        let mut chosen: Vec<(Id, Snapshot)> = Vec::with_capacity(selection.ids.len());
        for text in &selection.ids {
            let (id, snapshot) = find_snapshot(repo, text, &selection.filter)?;
            if !chosen.iter().any(|(seen, _)| *seen == id) {
                chosen.push((id, snapshot));
            }
        }
        chosen
    };
    chosen.sort_by(|(a_id, a), (b_id, b)| a.time.cmp(&b.time).then(a_id.cmp(b_id)));
    Ok(chosen)
}

//! `cairn snapshots`: the list of snapshots.

use anyhow::Result;
use cairn_format::{Id, Snapshot};
use cairn_repo::snapshots::{find_snapshot, load_readable_snapshots};

use crate::cli::{GlobalArgs, SnapshotsArgs};
use crate::repository;

/// A snapshot as restic's `snapshots --json` prints it: the stored fields (those this version
/// does not know too, such as restic ≥ 0.17's `summary`) plus ids.
pub fn snapshot_json(id: &Id, snapshot: &Snapshot) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(snapshot)?;
    value["id"] = id.to_hex().into();
    value["short_id"] = id.short().into();
    Ok(value)
}

pub fn run(global: &GlobalArgs, args: SnapshotsArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let filter = args.filter.to_filter();
    let snapshots: Vec<(Id, Snapshot)> = if args.ids.is_empty() {
        load_readable_snapshots(&repo)?
            .into_iter()
            .filter(|(_, s)| filter.matches(s))
            .collect()
    } else {
        args.ids
            .iter()
            .map(|id| find_snapshot(&repo, id, &filter))
            .collect::<Result<_, _>>()?
    };
    if global.json {
        let list: Vec<serde_json::Value> = snapshots
            .iter()
            .map(|(id, s)| snapshot_json(id, s))
            .collect::<Result<_>>()?;
        return super::print_json(&list).map(|()| 0);
    }
    // Program: what wrote the snapshot (restic, rustic, cairn, with its version), as restic
    // ≥ 0.17 records it in `program_version`; empty for older restic.
    println!(
        "{:<8}  {:<19}  {:<16}  {:<16}  {:<14}  paths",
        "ID", "Time", "Host", "Tags", "Program"
    );
    println!("{}", "-".repeat(96));
    for (id, snapshot) in &snapshots {
        println!(
            "{:<8}  {:<19}  {:<16}  {:<16}  {:<14}  {}",
            id.short(),
            snapshot
                .time
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            snapshot.hostname,
            snapshot.tags.join(","),
            snapshot.program_version,
            snapshot.paths.join(" ")
        );
    }
    println!("{}", "-".repeat(96));
    println!("{} snapshots", snapshots.len());
    Ok(0)
}

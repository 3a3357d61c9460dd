//! `cairn stats`: sizes and counts of snapshots in restic 0.14's counting modes.

use anyhow::Result;
use cairn_format::{Id, Snapshot};
use cairn_repo::index::Index;
use cairn_repo::snapshots::{find_snapshot, load_readable_snapshots};
use cairn_repo::stats::{StatsCollector, StatsMode};

use crate::cli::{GlobalArgs, StatsArgs};
use crate::format;
use crate::repository;

pub fn run(global: &GlobalArgs, args: StatsArgs) -> Result<u8> {
    let mode = StatsMode::parse(&args.mode)?;
    let repo = repository::open(global)?;
    let _lock = repo.lock(false)?;
    let filter = args.filter.to_filter();
    // Named snapshots are taken as named (restic counts one named twice twice); otherwise
    // every snapshot the filters match, oldest first.
    let snapshots: Vec<(Id, Snapshot)> = if args.ids.is_empty() {
        load_readable_snapshots(&repo)?
            .into_iter()
            .filter(|(_, s)| filter.matches(s))
            .collect()
    } else {
        args.ids
            .iter()
            .map(|text| find_snapshot(&repo, text, &filter))
            .collect::<Result<_, _>>()?
    };
    let index = Index::load(&repo)?;
    let mut collector = StatsCollector::new(&repo, &index, mode);
    for (_, snapshot) in &snapshots {
        collector.add_snapshot(&snapshot.tree)?;
    }
    let stats = collector.finish()?;
    if global.json {
        return super::print_json(&stats).map(|()| 0);
    }
    println!("Stats in {} mode:", mode.as_str());
    println!("Snapshots processed:   {}", stats.snapshots_count);
    if stats.total_blob_count > 0 {
        println!("   Total Blob Count:   {}", stats.total_blob_count);
    }
    if stats.total_file_count > 0 {
        println!("   Total File Count:   {}", stats.total_file_count);
    }
    println!("         Total Size:   {}", format::bytes(stats.total_size));
    Ok(0)
}

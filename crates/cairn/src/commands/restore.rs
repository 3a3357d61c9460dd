//! `cairn restore`: a snapshot back into a directory.

use anyhow::Result;
use cairn_repo::backup::Pattern;
use cairn_repo::index::Index;
use cairn_repo::progress::Operation;
use cairn_repo::restore::{restore, RestoreOptions};
use cairn_repo::snapshots::find_snapshot;

use crate::cli::{GlobalArgs, RestoreArgs};
use crate::format;
use crate::progress::ProgressDisplay;
use crate::repository;

pub fn run(global: &GlobalArgs, args: RestoreArgs) -> Result<u8> {
    let options = RestoreOptions {
        include: args
            .include
            .iter()
            .map(|p| Pattern::new(p, false))
            .collect::<Result<_, _>>()?,
        exclude: args
            .exclude
            .iter()
            .map(|p| Pattern::new(p, false))
            .collect::<Result<_, _>>()?,
        verify: args.verify,
        threads: std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .max(2)
            * 2,
        ..RestoreOptions::default()
    };
    let repo = repository::open(global)?;
    let (id, snapshot) = find_snapshot(&repo, &args.snapshot, &args.filter.to_filter())?;
    let _lock = repo.lock(false)?;
    let index = Index::load(&repo)?;
    if !global.quiet && !global.json {
        println!(
            "restoring snapshot {} of {:?} to {}",
            id.short(),
            snapshot.paths,
            args.target.display()
        );
    }
    let progress = ProgressDisplay::start(Operation::Restore, global.json, global.quiet);
    let result = restore(
        &repo,
        &index,
        &snapshot.tree,
        &args.target,
        &options,
        &progress,
    );
    progress.finish();
    let summary = result?;
    if global.json {
        let mut value = serde_json::to_value(&summary)?;
        value["message_type"] = "summary".into();
        value["snapshot_id"] = id.to_hex().into();
        super::print_json(&value)?;
    } else if !global.quiet {
        println!(
            "restored {} files, {} directories, {} other entries, {}",
            summary.files_restored,
            summary.dirs_restored,
            summary.other_restored,
            format::bytes(summary.bytes_restored)
        );
        if args.verify {
            println!("verified {} files", summary.files_verified);
        }
    }
    if summary.errors.is_empty() {
        Ok(0)
    } else {
        eprintln!(
            "cairn: {} errors during restore (listed above)",
            summary.errors.len()
        );
        Ok(crate::EXIT_FAILURE)
    }
}

//! `cairn prune`: remove data no snapshot uses.

use anyhow::Result;
use cairn_repo::progress::Operation;
use cairn_repo::prune::{parse_size_text, prune, PruneOptions, PruneSummary};
use cairn_repo::Repository;

use crate::cli::{GlobalArgs, PruneArgs, PruneOptionsArgs};
use crate::progress::ProgressDisplay;
use crate::{format, repository};

pub fn options(args: &PruneOptionsArgs, dry_run: bool) -> Result<PruneOptions> {
    Ok(PruneOptions {
        max_unused: args.max_unused.parse()?,
        max_repack_bytes: match &args.max_repack_size {
            None => None,
            Some(text) => Some(parse_size_text(text)?),
        },
        repack_uncompressed: args.repack_uncompressed,
        repack_small: args.repack_small,
        dry_run,
        ..PruneOptions::default()
    })
}

pub fn run(global: &GlobalArgs, args: PruneArgs) -> Result<u8> {
    super::shared_guard::refuse_if_shared(global, "prune")?;
    let options = options(&args.options, args.dry_run)?;
    let repo = repository::open(global)?;
    run_prune_with(global, &repo, &options)
}

/// Prune after `forget --prune`, on the already open repository.
pub fn run_prune(
    global: &GlobalArgs,
    repo: &Repository,
    args: &PruneOptionsArgs,
    dry_run: bool,
) -> Result<u8> {
    let options = options(args, dry_run)?;
    run_prune_with(global, repo, &options)
}

fn run_prune_with(global: &GlobalArgs, repo: &Repository, options: &PruneOptions) -> Result<u8> {
    let progress = ProgressDisplay::start(Operation::Prune, global.json, global.quiet);
    let result = prune(repo, options, progress.progress());
    progress.finish();
    report(global, &result?)
}

fn report(global: &GlobalArgs, summary: &PruneSummary) -> Result<u8> {
    if global.json {
        let mut value = serde_json::to_value(summary)?;
        value["message_type"] = "summary".into();
        super::print_json(&value)?;
        return Ok(0);
    }
    if global.quiet {
        return Ok(0);
    }
    let s = &summary.stats;
    println!(
        "used:         {:>8} blobs / {}",
        s.used_blobs,
        format::bytes(s.used_bytes)
    );
    println!(
        "unused:       {:>8} blobs / {}",
        s.unused_blobs,
        format::bytes(s.unused_bytes)
    );
    println!(
        "to repack:    {:>8} blobs / {} in {} packs",
        s.repack_blobs,
        format::bytes(s.repack_bytes),
        summary.packs_repacked
    );
    println!(
        "to delete:    {:>8} packs / {}",
        summary.packs_deleted,
        format::bytes(s.delete_bytes + s.unreferenced_bytes)
    );
    println!(
        "freed:        {}",
        format::bytes(s.delete_bytes + s.unreferenced_bytes + s.repack_freed_bytes)
    );
    println!(
        "remaining:    {} ({} unused)",
        format::bytes(s.remaining_bytes),
        format::bytes(s.remaining_unused_bytes)
    );
    println!(
        "leftovers:    {:>8} temporary files / {} (left by interrupted writes, older than a day)",
        summary.stale_temporary_files,
        format::bytes(summary.stale_temporary_bytes)
    );
    if summary.dry_run {
        for leftover in &summary.would_remove_temporaries {
            println!(
                "would remove {} ({})",
                leftover.path,
                format::bytes(leftover.size)
            );
        }
        println!("dry run: nothing was changed");
    } else {
        println!(
            "wrote {} packs and {} index files, deleted {} index files",
            summary.packs_written, summary.index_files_written, summary.index_files_deleted
        );
    }
    Ok(0)
}

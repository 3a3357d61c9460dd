//! `cairn diff`: what changed from one snapshot to another, printed as restic 0.14 prints it
//! (change lines, then statistics; with `--json` one JSON object per line).

use std::io::Write;

use anyhow::Result;
use cairn_format::tree::go_lossy_string;
use cairn_repo::diff::{diff_trees, DiffOptions, DiffStat};
use cairn_repo::index::Index;
use cairn_repo::snapshots::{find_snapshot, SnapshotFilter};
use cairn_repo::RepoError;
use serde::Serialize;

use crate::cli::{DiffArgs, GlobalArgs};
use crate::format;
use crate::repository;

#[derive(Serialize)]
struct JsonChange<'a> {
    message_type: &'static str,
    path: String,
    modifier: &'a str,
}

#[derive(Serialize)]
struct JsonStatistics<'a> {
    message_type: &'static str,
    source_snapshot: &'a str,
    target_snapshot: &'a str,
    changed_files: u64,
    added: DiffStat,
    removed: DiffStat,
}

pub fn run(global: &GlobalArgs, args: DiffArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let _lock = repo.lock(false)?;
    let no_filter = SnapshotFilter::default();
    let (first_id, first) = find_snapshot(&repo, &args.first, &no_filter)?;
    let (second_id, second) = find_snapshot(&repo, &args.second, &no_filter)?;
    let index = Index::load(&repo)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !global.json && !global.quiet {
        writeln!(
            out,
            "comparing snapshot {} to {}:\n",
            first_id.short(),
            second_id.short()
        )?;
    }
    let io_error = |e| RepoError::io("standard output", e);
    let options = DiffOptions {
        metadata: args.metadata,
    };
    let summary = diff_trees(
        &repo,
        &index,
        &first.tree,
        &second.tree,
        options,
        &mut |c| {
            if global.quiet {
                return Ok(());
            }
            if global.json {
                let change = JsonChange {
                    message_type: "change",
                    path: go_lossy_string(&c.path),
                    modifier: c.modifier.as_str(),
                };
                serde_json::to_writer(&mut out, &change).map_err(|e| io_error(e.into()))?;
                out.write_all(b"\n").map_err(io_error)
            } else {
                let mut line = format!("{:<5}", c.modifier.as_str()).into_bytes();
                line.extend_from_slice(&c.path);
                line.push(b'\n');
                out.write_all(&line).map_err(io_error)
            }
        },
    )?;
    if global.json {
        let statistics = JsonStatistics {
            message_type: "statistics",
            source_snapshot: &args.first,
            target_snapshot: &args.second,
            changed_files: summary.changed_files,
            added: summary.added,
            removed: summary.removed,
        };
        serde_json::to_writer(&mut out, &statistics)?;
        out.write_all(b"\n")?;
    } else {
        let (added, removed) = (&summary.added, &summary.removed);
        writeln!(out)?;
        writeln!(
            out,
            "Files:       {:5} new, {:5} removed, {:5} changed",
            added.files, removed.files, summary.changed_files
        )?;
        writeln!(
            out,
            "Dirs:        {:5} new, {:5} removed",
            added.dirs, removed.dirs
        )?;
        writeln!(
            out,
            "Others:      {:5} new, {:5} removed",
            added.others, removed.others
        )?;
        writeln!(
            out,
            "Data Blobs:  {:5} new, {:5} removed",
            added.data_blobs, removed.data_blobs
        )?;
        writeln!(
            out,
            "Tree Blobs:  {:5} new, {:5} removed",
            added.tree_blobs, removed.tree_blobs
        )?;
        writeln!(out, "  Added:   {}", format::bytes(added.bytes))?;
        writeln!(out, "  Removed: {}", format::bytes(removed.bytes))?;
    }
    out.flush()?;
    Ok(0)
}

//! `cairn find`: which snapshots hold entries matching patterns, printed as restic prints them.

use std::io::Write;

use anyhow::Result;
use cairn_format::tree::{go_lossy_string, Node, NodeType};
use cairn_format::{Id, Snapshot};
use cairn_repo::find::{FindMatch, FindPatterns, Finder};
use cairn_repo::index::Index;
use cairn_repo::snapshots::{find_snapshot, load_readable_snapshots};
use cairn_repo::RepoError;
use serde::Serialize;

use super::ls::mode_string;
use crate::cli::{FindArgs, GlobalArgs};
use crate::repository;

/// One match in restic's `find --json` form: the node's fields without name, inode, content,
/// subtree, device and extended attributes, plus path and permissions.
#[derive(Serialize)]
struct JsonMatch {
    path: String,
    permissions: String,
    #[serde(rename = "type")]
    node_type: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    mode: u32,
    mtime: String,
    atime: String,
    ctime: String,
    uid: u32,
    gid: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "is_zero")]
    device_id: u64,
    #[serde(skip_serializing_if = "is_zero")]
    size: u64,
    #[serde(skip_serializing_if = "is_zero")]
    links: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    linktarget: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl JsonMatch {
    fn new(found: &FindMatch) -> JsonMatch {
        let node = &found.node;
        JsonMatch {
            path: go_lossy_string(&found.path),
            permissions: mode_string(node.mode),
            node_type: node.node_type.as_str().to_string(),
            mode: node.mode,
            mtime: node.mtime.to_rfc3339_nano(),
            atime: node.atime.to_rfc3339_nano(),
            ctime: node.ctime.to_rfc3339_nano(),
            uid: node.uid,
            gid: node.gid,
            user: node.user.clone(),
            group: node.group.clone(),
            device_id: node.device_id,
            size: node.size,
            links: node.links,
            linktarget: go_lossy_string(&node.link_target),
            error: node.error.clone(),
        }
    }
}

/// `-l`: the entry laid out as `ls -l` lays it out.
fn long_line(path: &[u8], node: &Node) -> Vec<u8> {
    let time = chrono::DateTime::from_timestamp(node.mtime.unix_secs, node.mtime.nanos)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let mut line = format!(
        "{} {:5} {:5} {:6} {} ",
        mode_string(node.mode),
        node.uid,
        node.gid,
        node.size,
        time
    )
    .into_bytes();
    line.extend_from_slice(path);
    if node.node_type == NodeType::Symlink {
        line.extend_from_slice(b" -> ");
        line.extend_from_slice(&node.link_target);
    }
    line
}

/// The snapshots to search: those named, in the order named, or every one the filters match,
/// newest first.
fn snapshots_to_search(
    repo: &cairn_repo::Repository,
    args: &FindArgs,
) -> Result<Vec<(Id, Snapshot)>> {
    let filter = args.filter.to_filter();
    if args.snapshots.is_empty() {
        let mut all: Vec<(Id, Snapshot)> = load_readable_snapshots(repo)?
            .into_iter()
            .filter(|(_, s)| filter.matches(s))
            .collect();
        all.reverse();
        return Ok(all);
    }
    let mut chosen: Vec<(Id, Snapshot)> = Vec::new();
    for text in &args.snapshots {
        let (id, snapshot) = find_snapshot(repo, text, &filter)?;
        if !chosen.iter().any(|(seen, _)| *seen == id) {
            chosen.push((id, snapshot));
        }
    }
    Ok(chosen)
}

pub fn run(global: &GlobalArgs, args: FindArgs) -> Result<u8> {
    let patterns = FindPatterns::new(&args.patterns, args.ignore_case)?;
    let repo = repository::open(global)?;
    let _lock = repo.lock(false)?;
    let snapshots = snapshots_to_search(&repo, &args)?;
    let index = Index::load(&repo)?;
    let mut finder = Finder::new(&repo, &index, patterns);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let io_error = |e| RepoError::io("standard output", e);
    let mut snapshots_with_matches = 0usize;
    if global.json {
        out.write_all(b"[")?;
    }
    for (id, snapshot) in &snapshots {
        let mut hits = 0usize;
        finder.find_in_snapshot(&snapshot.tree, &mut |found| {
            if hits == 0 {
                // Each snapshot's block opens at its first match, so snapshots without any
                // are not mentioned, as in restic.
                if global.json {
                    let separator = if snapshots_with_matches > 0 { "," } else { "" };
                    write!(out, "{separator}{{\"matches\":[").map_err(io_error)?;
                } else if !global.quiet {
                    if snapshots_with_matches > 0 {
                        writeln!(out).map_err(io_error)?;
                    }
                    writeln!(
                        out,
                        "Found matching entries in snapshot {} from {}",
                        id.short(),
                        snapshot
                            .time
                            .with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M:%S")
                    )
                    .map_err(io_error)?;
                }
            }
            if global.json {
                if hits > 0 {
                    out.write_all(b",").map_err(io_error)?;
                }
                serde_json::to_writer(&mut out, &JsonMatch::new(found))
                    .map_err(|e| io_error(e.into()))?;
            } else {
                let mut line = if args.long {
                    long_line(&found.path, &found.node)
                } else {
                    found.path.clone()
                };
                line.push(b'\n');
                out.write_all(&line).map_err(io_error)?;
            }
            hits += 1;
            Ok(())
        })?;
        if hits > 0 {
            snapshots_with_matches += 1;
            if global.json {
                write!(out, "],\"hits\":{hits},\"snapshot\":\"{}\"}}", id.to_hex())?;
            }
        }
    }
    if global.json {
        out.write_all(b"]\n")?;
    }
    out.flush()?;
    Ok(0)
}

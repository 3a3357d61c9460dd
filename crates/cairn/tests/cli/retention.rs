//! Retention and maintenance: forget decides as restic 0.14 decides; prune reclaims space
//! without losing a byte any snapshot needs, even when killed.

mod policy;
mod prune;
mod prune_kill;
mod prune_leftovers;

use std::path::Path;

use crate::support::Scratch;

/// Snapshot ids a repository holds, sorted.
fn snapshot_ids(scratch: &Scratch, repo: &Path) -> Vec<String> {
    let mut ids: Vec<String> = crate::support::snapshots_json(&mut scratch.cairn(repo))
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// Total size of the pack files of a repository.
fn pack_bytes(repo: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![repo.join("data")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

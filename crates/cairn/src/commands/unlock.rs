//! `cairn unlock`: remove stale locks (or all, with --remove-all).

use anyhow::Result;

use crate::cli::{GlobalArgs, UnlockArgs};
use crate::repository;

pub fn run(global: &GlobalArgs, args: UnlockArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let removed = cairn_repo::lock::unlock(&repo, args.remove_all)?;
    if global.json {
        let ids: Vec<String> = removed.iter().map(|id| id.to_hex()).collect();
        super::print_json(&serde_json::json!({ "removed": ids }))?;
    } else if !global.quiet {
        println!("removed {} lock(s)", removed.len());
    }
    Ok(0)
}

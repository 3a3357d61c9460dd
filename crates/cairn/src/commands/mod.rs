//! One module per command; `run` dispatches.

mod backup;
mod cat;
mod catalog;
mod check;
mod config;
mod copy;
mod diff;
mod dump;
mod find;
mod forget;
mod init;
mod key;
mod ls;
mod mirror;
mod orphans;
mod prune;
mod repair;
mod restore;
mod snapshots;
mod stats;
mod tag;
mod unlock;

use anyhow::Result;
use cairn_repo::snapshots::SnapshotFilter;

use crate::cli::{Cli, Command, SnapshotFilterArgs};

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let global = &cli.global;
    match cli.command {
        Command::Init(args) => init::run(global, args),
        Command::Backup(args) => backup::run(global, args),
        Command::Snapshots(args) => snapshots::run(global, args),
        Command::Ls(args) => ls::run(global, args),
        Command::Dump(args) => dump::run(global, args),
        Command::Cat(args) => cat::run(global, args),
        Command::Restore(args) => restore::run(global, args),
        Command::Check(args) => check::run(global, args),
        Command::Key(command) => key::run(global, command),
        Command::Unlock(args) => unlock::run(global, args),
        Command::Forget(args) => forget::run(global, args),
        Command::Prune(args) => prune::run(global, args),
        Command::Copy(args) => copy::run(global, args),
        Command::Find(args) => find::run(global, args),
        Command::Diff(args) => diff::run(global, args),
        Command::Stats(args) => stats::run(global, args),
        Command::Tag(args) => tag::run(global, args),
        Command::Repair(command) => repair::run(global, command),
        Command::Mirror(command) => mirror::run(global, command),
        Command::Catalog(args) => catalog::run(global, args),
        Command::Config(command) => config::run(global, command),
    }
}

impl SnapshotFilterArgs {
    pub fn to_filter(&self) -> SnapshotFilter {
        SnapshotFilter {
            hosts: self.hosts.clone(),
            tags: self.tags.clone(),
            paths: self.paths.clone(),
        }
    }
}

/// Prints a JSON value on one line.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

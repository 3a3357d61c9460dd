//! One module per command; `run` dispatches.

mod backup;
mod cat;
mod catalog;
mod check;
mod config;
mod copy;
mod daemon;
mod diff;
mod drills;
mod dump;
mod find;
mod forget;
mod init;
mod jobs;
mod key;
mod ls;
mod mirror;
mod notify;
mod orphans;
mod peer;
mod peer_config;
mod plans;
mod prune;
mod recovery_key;
mod repair;
mod rest_user;
mod restore;
mod restore_db;
mod run;
mod server_backup;
mod shared_guard;
mod snapshots;
mod stats;
mod tag;
mod token;
mod unlock;
mod user;

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
        Command::Run(args) => run::run(global, args),
        Command::RestoreDb(args) => restore_db::run(global, args),
        Command::Plans => plans::run(global),
        Command::Drills(args) => drills::run(global, args),
        Command::Daemon => daemon::run(global),
        Command::Jobs(args) => jobs::run(global, args),
        Command::Status(args) => jobs::status(global, args),
        Command::Notify(command) => notify::run(global, command),
        Command::User(command) => user::run(global, command),
        Command::Token(command) => token::run(global, command),
        Command::RestUser(command) => rest_user::run(global, command),
        Command::RecoveryKey(command) => recovery_key::run(global, command),
        Command::ServerBackup => server_backup::run(global),
        Command::ServerRestore(args) => server_backup::restore(global, args),
        Command::Peer(command) => peer::run(global, command),
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

/// The config file the global options name, validated; every error at once in the message.
pub fn load_config(global: &crate::cli::GlobalArgs) -> Result<cairn_config::Config> {
    let path = cairn_config::config_path(global.config.as_deref());
    let overrides = cairn_config::Overrides::from_env(|name| std::env::var(name).ok());
    cairn_config::load(&path, &overrides).map_err(|errors| {
        let lines: Vec<String> = errors.errors().iter().map(|e| e.to_string()).collect();
        match lines.as_slice() {
            [one] => anyhow::anyhow!("{one}"),
            [first, rest @ ..] => anyhow::anyhow!(
                "{first} (and {} more; see `cairn config validate`)",
                rest.len()
            ),
            [] => anyhow::anyhow!("{} is not a valid config", path.display()),
        }
    })
}

/// The socket of the daemon whose state lives in `state_dir`.
pub fn daemon_socket(state_dir: &std::path::Path) -> std::path::PathBuf {
    daemon::socket_path(state_dir)
}

//! Repositories a multihost server shares with this instance are maintained by their owner:
//! `forget` and `prune` on one of them are refused here, before anything is opened.

use anyhow::{bail, Result};
use cairn_config::StoreLocation;

use crate::cli::GlobalArgs;

/// Refuses when `-r` names a repository the config's managed file marks shared. Without a
/// readable config there is nothing shared to protect.
pub fn refuse_if_shared(global: &GlobalArgs, what: &str) -> Result<()> {
    let Some(given) = global.repo.as_deref() else {
        return Ok(());
    };
    let Ok(given) = StoreLocation::parse(given) else {
        return Ok(());
    };
    let Ok(config) = super::load_config(global) else {
        return Ok(());
    };
    let shared = config
        .repositories
        .values()
        .find(|r| config.managed.is_shared(&r.name) && r.location.to_string() == given.to_string());
    if let Some(repository) = shared {
        bail!(
            "repository {} is shared by this instance's multihost server, which maintains it: {what} runs there, not here",
            repository.name
        );
    }
    Ok(())
}

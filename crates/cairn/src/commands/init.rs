//! `cairn init`: a new repository.

use anyhow::Result;
use cairn_repo::keys::KeyOptions;
use cairn_repo::Repository;
use cairn_storage::FileKind;

use crate::cli::{GlobalArgs, InitArgs};
use crate::{password, repository};

pub fn run(global: &GlobalArgs, _args: InitArgs) -> Result<u8> {
    let storage = repository::storage(global)?;
    if storage.size(FileKind::Config, "config").is_ok() {
        return Err(cairn_repo::RepoError::AlreadyExists {
            location: storage.location(),
        }
        .into());
    }
    let password = password::new_password(global, None)?;
    let repo = Repository::init(storage, password.expose(), &KeyOptions::default())?;
    if global.json {
        super::print_json(&serde_json::json!({
            "message_type": "initialized",
            "id": repo.config().id,
            "repository": repo.location(),
        }))?;
    } else if !global.quiet {
        println!(
            "created cairn repository {} at {}",
            &repo.config().id[..10],
            repo.location()
        );
        println!(
            "Keep the password safe: without it the data cannot be read by anyone, including you."
        );
    }
    Ok(0)
}

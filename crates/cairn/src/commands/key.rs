//! `cairn key list|add|remove|passwd`.

use anyhow::Result;
use cairn_repo::keys::{add_key, list_keys, remove_key, resolve_key_id, KeyOptions};

use crate::cli::{GlobalArgs, KeyCommand};
use crate::{password, repository};

pub fn run(global: &GlobalArgs, command: KeyCommand) -> Result<u8> {
    let repo = repository::open(global)?;
    let storage = repo.storage().as_ref();
    match command {
        KeyCommand::List => {
            let keys = list_keys(storage)?;
            if global.json {
                let list: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "current": k.id == repo.key_id(),
                            "id": k.id.to_hex(),
                            "userName": k.file.as_ref().map(|f| f.username.clone()),
                            "hostName": k.file.as_ref().map(|f| f.hostname.clone()),
                            // null also for a key file that does not say when it was made.
                            "created": k.file.as_ref().and_then(|f| f.created).map(|c| c.to_rfc3339()),
                            "problem": k.problem,
                        })
                    })
                    .collect();
                super::print_json(&list)?;
            } else {
                println!(" {:<8}  {:<12}  {:<20}  Created", "ID", "User", "Host");
                for key in keys {
                    let marker = if key.id == repo.key_id() { '*' } else { ' ' };
                    match &key.file {
                        Some(f) => println!(
                            "{marker}{:<8}  {:<12}  {:<20}  {}",
                            key.id.short(),
                            f.username,
                            f.hostname,
                            // Empty for a key file that does not say (other tools omit it).
                            f.created
                                .map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string())
                                .unwrap_or_default()
                        ),
                        None => println!(
                            "{marker}{:<8}  damaged: {}",
                            key.id.short(),
                            key.problem.unwrap_or_default()
                        ),
                    }
                }
            }
        }
        KeyCommand::Add(args) => {
            let new = password::new_password(global, args.new_password_file.as_deref())?;
            let id = add_key(storage, repo.key(), new.expose(), &KeyOptions::default())?;
            storage.sync()?;
            if !global.quiet {
                println!("saved new key {}", id.short());
            }
        }
        KeyCommand::Remove { id } => {
            let id = resolve_key_id(storage, &id)?;
            remove_key(storage, repo.key_id(), id)?;
            if !global.quiet {
                println!("removed key {}", id.short());
            }
        }
        KeyCommand::Passwd(args) => {
            let new = password::new_password(global, args.new_password_file.as_deref())?;
            let id = add_key(storage, repo.key(), new.expose(), &KeyOptions::default())?;
            storage.sync()?;
            // The new key exists and is durable before the old one goes.
            storage.remove(cairn_storage::FileKind::Key, &repo.key_id().to_hex())?;
            storage.sync()?;
            if !global.quiet {
                println!("saved new key {} and removed the old one", id.short());
            }
        }
    }
    Ok(0)
}

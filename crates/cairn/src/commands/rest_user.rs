//! `cairn rest-user add|list|remove`: the logins restic clients use at the REST endpoint
//! (`/rest/NAME/`), straight in the state database, each audited like `cairn user`. `add`
//! takes the password from `--password-file`, else generates one and prints it alone on
//! standard output (only its argon2id hash is kept, so this is the one time it is shown).

use anyhow::{Context, Result};
use serde_json::json;

use super::user::{audited, explicit_password_file, open_accounts, unix_actor, usage};
use crate::cli::{GlobalArgs, RestUserCommand};
use crate::format::json_time;

pub fn run(global: &GlobalArgs, command: RestUserCommand) -> Result<u8> {
    match command {
        RestUserCommand::Add { name, repositories } => {
            let config = super::load_config(global)?;
            for repository in &repositories {
                match config.repositories.get(repository) {
                    Some(entry) if entry.rest_enabled() => {}
                    Some(_) => {
                        return Ok(usage(&format!(
                            "repository {repository:?} is not served to restic clients; add rest = {{ enabled = true }} to [repositories.{repository}] first"
                        )))
                    }
                    None => {
                        return Ok(usage(&format!(
                            "the config has no repository {repository:?}; see its [repositories.NAME] tables"
                        )))
                    }
                }
            }
            let (password, generated) = match explicit_password_file(global) {
                Some(path) => {
                    let secret = crate::password::from_file(path)?;
                    let text = String::from_utf8(secret.expose().to_vec())
                        .ok()
                        .context("the password is not UTF-8 text; use printable characters")?;
                    (text, false)
                }
                None => (cairn_access::secret::random_token(), true),
            };
            let accounts = open_accounts(global)?;
            let added = accounts.add_rest_user(&name, &repositories, &password, &unix_actor());
            let added = audited(&accounts, "rest-user.add", &name, added)?;
            if generated {
                println!("{password}");
            } else {
                println!(
                    "added rest user {name} for {}",
                    added.repositories.join(", ")
                );
            }
        }
        RestUserCommand::List => {
            let users = open_accounts(global)?.rest_users()?;
            if global.json {
                super::print_json(&users)?;
                return Ok(0);
            }
            println!(
                "{:<24} {:<32} {:<16} last used",
                "name", "repositories", "created"
            );
            for user in &users {
                println!(
                    "{:<24} {:<32} {:<16} {}",
                    user.name,
                    user.repositories.join(","),
                    json_time(&json!(user.created_at)),
                    json_time(&json!(user.last_used_at)),
                );
            }
        }
        RestUserCommand::Remove { name } => {
            let accounts = open_accounts(global)?;
            audited(
                &accounts,
                "rest-user.remove",
                &name,
                accounts.remove_rest_user(&name),
            )?;
            println!("removed rest user {name}; its clients are refused from now on");
        }
    }
    Ok(0)
}

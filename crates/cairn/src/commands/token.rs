//! `cairn token create|list|revoke`: API tokens of the web server, straight in the state
//! database. `create` prints the token alone on standard output (it is stored only as a
//! hash, so this is the one time it can be seen); every change is audited.

use anyhow::Result;
use cairn_access::Scopes;
use chrono::Utc;
use serde_json::json;

use super::user::{audited, open_accounts, parse_role, unix_actor, usage};
use crate::cli::{GlobalArgs, TokenCommand};
use crate::format::json_time;

pub fn run(global: &GlobalArgs, command: TokenCommand) -> Result<u8> {
    match command {
        TokenCommand::Create {
            name,
            role,
            scopes,
            expires,
        } => {
            let role = match parse_role(&role) {
                Ok(role) => role,
                Err(code) => return Ok(code),
            };
            let scopes = match Scopes::parse_all(scopes.iter().map(String::as_str)) {
                Ok(scopes) => scopes,
                Err(error) => return Ok(usage(&error.to_string())),
            };
            let expires_at = match expires.as_deref().map(expiry) {
                None => None,
                Some(Ok(at)) => Some(at),
                Some(Err(message)) => return Ok(usage(&message)),
            };
            let accounts = open_accounts(global)?;
            let created = accounts.create_token(&name, role, scopes, expires_at, &unix_actor());
            let (_, token) = audited(&accounts, "token.create", &name, created)?;
            println!("{token}");
        }
        TokenCommand::List => {
            let tokens = open_accounts(global)?.tokens()?;
            if global.json {
                super::print_json(&tokens)?;
                return Ok(0);
            }
            println!(
                "{:<20} {:<9} {:<24} {:<16} {:<16} {:<16} state",
                "name", "role", "scopes", "created", "expires", "last used"
            );
            let now = Utc::now();
            for token in &tokens {
                let state = if token.revoked {
                    "revoked"
                } else if token.expires_at.is_some_and(|at| at <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<20} {:<9} {:<24} {:<16} {:<16} {:<16} {state}",
                    token.name,
                    token.role.as_str(),
                    token.scopes.to_string(),
                    json_time(&json!(token.created_at)),
                    json_time(&json!(token.expires_at)),
                    json_time(&json!(token.last_used_at)),
                );
            }
        }
        TokenCommand::Revoke { name } => {
            let accounts = open_accounts(global)?;
            audited(
                &accounts,
                "token.revoke",
                &name,
                accounts.revoke_token(&name),
            )?;
            println!("revoked token {name}");
        }
    }
    Ok(0)
}

/// `--expires 90d`: that long from now.
fn expiry(text: &str) -> std::result::Result<chrono::DateTime<Utc>, String> {
    let duration: cairn_config::Duration = text
        .parse()
        .map_err(|e: cairn_config::units::UnitError| format!("--expires: {e}"))?;
    if duration.is_zero() {
        return Err("--expires 0 would make a token that never works; give e.g. 90d".into());
    }
    chrono::Duration::from_std(duration.as_std())
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(|| format!("--expires {text} is too far in the future"))
}

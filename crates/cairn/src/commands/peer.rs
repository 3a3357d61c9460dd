//! `cairn peer …`: multihost through the running daemon (it holds the live sessions, and
//! its socket audits every change). `peer token create` prints the token alone on standard
//! output: only a hash of its secret is kept, so this is the one time it can be seen.

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::cli::{GlobalArgs, PeerCommand, PeerTokenCommand};
use crate::daemon_client::DaemonClient;
use crate::format::{json_text as text, json_time as time};

pub fn run(global: &GlobalArgs, command: PeerCommand) -> Result<u8> {
    let config = super::load_config(global)?;
    let client = DaemonClient::for_config(&config);
    match command {
        PeerCommand::Token(PeerTokenCommand::Create {
            label,
            ttl,
            max_uses,
            permissions,
            scopes,
        }) => {
            let ttl: cairn_config::Duration = ttl
                .parse()
                .map_err(|e: cairn_config::units::UnitError| anyhow::anyhow!("--ttl: {e}"))?;
            if ttl.is_zero() {
                bail!("--ttl 0 would make a token that never works; give e.g. 1h");
            }
            let body = json!({
                "label": label,
                "ttl_seconds": ttl.as_std().as_secs(),
                "max_uses": max_uses,
                "permissions": permissions,
                "scopes": scopes,
            });
            let answer = client.post("/api/v1/peers/tokens", Some(&body))?;
            println!("{}", text(&answer["token"]));
        }
        PeerCommand::Token(PeerTokenCommand::List) => {
            let tokens = client.get("/api/v1/peers/tokens")?;
            if global.json {
                super::print_json(&tokens)?;
                return Ok(0);
            }
            println!(
                "{:<17} {:<16} {:<28} {:<16} {:<16} {:>5} state",
                "id", "label", "permissions", "created", "expires", "uses"
            );
            let now = chrono::Utc::now();
            for token in tokens.as_array().into_iter().flatten() {
                let expired = token["expires"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|at| at <= now);
                let state = if !token["revoked"].is_null() {
                    "revoked"
                } else if expired {
                    "expired"
                } else if token["uses"].as_u64() >= token["max_uses"].as_u64() {
                    "used up"
                } else {
                    "active"
                };
                println!(
                    "{:<17} {:<16} {:<28} {:<16} {:<16} {:>5} {state}",
                    text(&token["id"]),
                    text(&token["label"]),
                    text(&token["permissions"]),
                    time(&token["created"]),
                    time(&token["expires"]),
                    format!("{}/{}", token["uses"], token["max_uses"]),
                );
            }
        }
        PeerCommand::Pair { token } => {
            let peer = client.post("/api/v1/peers/pair", Some(&json!({ "token": token })))?;
            if global.json {
                super::print_json(&peer)?;
            } else {
                println!(
                    "paired with {} ({}): {}",
                    text(&peer["label"]),
                    text(&peer["id"]),
                    permissions(&peer)
                );
            }
        }
        PeerCommand::List => {
            let peers = client.get("/api/v1/peers")?;
            if global.json {
                super::print_json(&peers)?;
                return Ok(0);
            }
            println!(
                "{:<38} {:<16} {:<7} {:<13} {:<16} {:>7} {:>5}  permissions",
                "id", "label", "role", "state", "last seen", "rtt ms", "lag"
            );
            for peer in peers.as_array().into_iter().flatten() {
                println!(
                    "{:<38} {:<16} {:<7} {:<13} {:<16} {:>7} {:>5}  {}",
                    text(&peer["id"]),
                    text(&peer["label"]),
                    text(&peer["role"]),
                    text(&peer["state"]),
                    time(&peer["last_seen"]),
                    number(&peer["rtt_ms"]),
                    number(&peer["lag"]),
                    permissions(peer)
                );
            }
        }
        PeerCommand::Revoke { id } => {
            client.post(&format!("/api/v1/peers/{id}/revoke"), None)?;
            println!("revoked peer {id}");
        }
        PeerCommand::Run { peer, plan } => {
            let job = client.post(
                &format!("/api/v1/peers/{peer}/run"),
                Some(&json!({ "plan": plan })),
            )?;
            if global.json {
                super::print_json(&job)?;
            } else if !global.quiet {
                println!(
                    "job {} ({} of plan {}) queued on {peer}",
                    job["id"],
                    text(&job["kind"]),
                    text(&job["plan"])
                );
            }
        }
        PeerCommand::Ls {
            peer,
            snapshot,
            path,
            repository,
        } => {
            let listing = client.post(
                &format!("/api/v1/peers/{peer}/ls"),
                Some(&json!({ "repository": repository, "snapshot": snapshot, "path": path })),
            )?;
            if global.json {
                super::print_json(&listing)?;
                return Ok(0);
            }
            for entry in listing["entries"].as_array().into_iter().flatten() {
                println!(
                    "{:<8} {:>12} {:<16} {}",
                    text(&entry["type"]),
                    number(&entry["size"]),
                    time(&entry["mtime"]),
                    text(&entry["name"])
                );
            }
        }
        PeerCommand::Restore {
            peer,
            snapshot,
            repository,
            target,
            include,
        } => {
            let body = json!({
                "repository": repository,
                "snapshot": snapshot,
                "target": target,
                "include": include,
            });
            let job = client.post(&format!("/api/v1/peers/{peer}/restore"), Some(&body))?;
            if global.json {
                super::print_json(&job)?;
            } else if !global.quiet {
                println!(
                    "job {} (restore from {} to {target}) queued on {peer}",
                    job["id"],
                    text(&job["repository"])
                );
            }
        }
        PeerCommand::Cancel { peer, job } => {
            let cancelled =
                client.post(&format!("/api/v1/peers/{peer}/jobs/{job}/cancel"), None)?;
            if global.json {
                super::print_json(&cancelled)?;
            } else if !global.quiet {
                // A queued job is cancelled at once; a running one when it next looks.
                match text(&cancelled["state"]).as_str() {
                    "cancelled" => println!("job {job} on {peer} cancelled"),
                    _ => println!("job {job} on {peer} is being cancelled"),
                }
            }
        }
        PeerCommand::Log { peer, job } => {
            let lines = client.get(&format!("/api/v1/peers/{peer}/jobs/{job}/log"))?;
            for line in lines.as_array().into_iter().flatten() {
                super::jobs::print_log_line(global, line);
            }
        }
        PeerCommand::Jobs { peer } => {
            let jobs = client.get(&format!("/api/v1/peers/{peer}/jobs"))?;
            super::jobs::print_jobs(global, &jobs)?;
        }
        PeerCommand::Config(command) => return super::peer_config::run(global, &client, command),
    }
    Ok(0)
}

fn permissions(peer: &Value) -> String {
    peer["permissions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn number(value: &Value) -> String {
    value
        .as_u64()
        .map_or_else(|| "-".to_string(), |n| n.to_string())
}

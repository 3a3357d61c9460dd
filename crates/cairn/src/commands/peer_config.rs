//! `cairn peer config push|show`: a client's managed config, from its server. The client
//! validates and applies what is pushed and answers with the result; `show` prints that
//! result and the client's own report (which never carries a secret).

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::cli::{GlobalArgs, PeerConfigCommand};
use crate::daemon_client::DaemonClient;
use crate::format::{json_text as text, json_time as time};

pub fn run(global: &GlobalArgs, client: &DaemonClient, command: PeerConfigCommand) -> Result<u8> {
    match command {
        PeerConfigCommand::Push { peer, file } => {
            let fragment = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let answer = client.post(
                &format!("/api/v1/peers/{peer}/config"),
                Some(&json!({ "fragment": fragment })),
            )?;
            if global.json {
                super::print_json(&answer)?;
            } else if !global.quiet {
                println!(
                    "config generation {} stored for {peer}; it is applied when the client takes it (see `cairn peer config show {peer}`)",
                    answer["generation"]
                );
            }
        }
        PeerConfigCommand::Show { peer } => {
            let shown = client.get(&format!("/api/v1/peers/{peer}/config"))?;
            if global.json {
                super::print_json(&shown)?;
                return Ok(0);
            }
            print_human(&shown);
        }
    }
    Ok(0)
}

fn print_human(shown: &Value) {
    let generation = shown["generation"].as_u64().unwrap_or(0);
    let acked = shown["acked_generation"].as_u64().unwrap_or(0);
    if generation == 0 {
        println!("pushed: nothing");
    } else if acked < generation {
        println!(
            "pushed: generation {generation}, not applied yet (the client takes it when connected)"
        );
    } else {
        match shown["ack_error"].as_str() {
            Some(error) => {
                println!("pushed: generation {generation}, refused by the client: {error}")
            }
            None => println!(
                "pushed: generation {generation}, applied {}",
                time(&shown["acked_at"])
            ),
        }
    }
    let report = &shown["report"];
    if report.is_null() {
        println!("reported: nothing yet");
        return;
    }
    println!("reported {}:", time(&shown["reported_at"]));
    for (kind, table) in [("repositories", "repositories"), ("plans", "plans")] {
        for item in report[kind].as_array().into_iter().flatten() {
            println!("\n[{table}.{}]", text(&item["name"]));
            print!("{}", item["toml"].as_str().unwrap_or(""));
        }
    }
}

//! `cairn config validate` and `cairn config example`.
//!
//! `validate` prints every error, one per line, not only the first: fixing a config is an edit
//! loop, and one pass that lists every problem (as a compiler does) saves a round trip per
//! mistake; each line stands alone as `FILE:LINE:COLUMN: …`, which editors can jump to.

use anyhow::Result;
use cairn_config::{Config, ConfigErrors, Overrides};
use serde_json::json;

use crate::cli::{ConfigCommand, GlobalArgs};

pub fn run(global: &GlobalArgs, command: ConfigCommand) -> Result<u8> {
    match command {
        ConfigCommand::Validate => validate(global),
        ConfigCommand::Example => {
            print!("{}", cairn_config::EXAMPLE);
            Ok(0)
        }
    }
}

fn validate(global: &GlobalArgs) -> Result<u8> {
    let path = cairn_config::config_path(global.config.as_deref());
    let overrides = Overrides::from_env(|name| std::env::var(name).ok());
    match cairn_config::load(&path, &overrides) {
        Ok(config) => {
            if global.json {
                super::print_json(&summary_json(&config))?;
            } else if !global.quiet {
                println!("{}", summary_line(&config));
            }
            Ok(0)
        }
        Err(errors) => {
            if global.json {
                super::print_json(&errors_json(&path, &errors))?;
            } else {
                for error in errors.errors() {
                    eprintln!("{error}");
                }
            }
            Ok(crate::EXIT_FAILURE)
        }
    }
}

/// `FILE: valid: 1 repository (main), 2 plans (db, web)`.
fn summary_line(config: &Config) -> String {
    let count = |n: usize, one: &str, many: &str, names: Vec<&String>| {
        let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
        match n {
            0 => format!("no {many}"),
            1 => format!("1 {one} ({})", names.join(", ")),
            n => format!("{n} {many} ({})", names.join(", ")),
        }
    };
    format!(
        "{}: valid: {}, {}",
        config.source().path().display(),
        count(
            config.repositories.len(),
            "repository",
            "repositories",
            config.repositories.keys().collect()
        ),
        count(
            config.plans.len(),
            "plan",
            "plans",
            config.plans.keys().collect()
        ),
    )
}

fn summary_json(config: &Config) -> serde_json::Value {
    let plans: Vec<serde_json::Value> = config
        .plans
        .values()
        .map(|plan| {
            json!({
                "name": plan.name,
                "repository": plan.repository,
                "schedule": plan.schedule.as_ref().map(ToString::to_string),
                "timezone": plan.timezone.to_string(),
            })
        })
        .collect();
    json!({
        "ok": true,
        "file": config.source().path(),
        "state_dir": config.state_dir,
        "repositories": config.repositories.keys().collect::<Vec<_>>(),
        "plans": plans,
    })
}

fn errors_json(path: &std::path::Path, errors: &ConfigErrors) -> serde_json::Value {
    let errors: Vec<serde_json::Value> = errors
        .errors()
        .iter()
        .map(|error| {
            json!({
                "kind": error.kind().name(),
                "line": error.position().map(|p| p.line),
                "column": error.position().map(|p| p.column),
                "key": error.key_path().map(ToString::to_string),
                "message": error.message(),
            })
        })
        .collect();
    json!({ "ok": false, "file": path, "errors": errors })
}

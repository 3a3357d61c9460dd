//! Tests of the config model through its public interface: every error class with its exact
//! position, the model the example files give, referenced files, and layering.

mod daemon;
mod errors;
mod examples;
mod files;
mod layering;
mod model;
mod multihost;
mod rest;

use cairn_config::{Config, ConfigErrors, SourceText};

/// The path test configs are reported under; nothing is read from it.
pub const FILE: &str = "/etc/cairn/cairn.toml";

pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(SourceText::new(FILE, text))
}

/// The error lines a text gives, in order.
pub fn error_lines(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
    }
}

/// A valid repository table to put beside the table a test is about.
pub const MAIN_REPOSITORY: &str =
    "[repositories.main]\nlocation = \"/srv/backup/main\"\npassword_env = \"MAIN_PASSWORD\"\n";

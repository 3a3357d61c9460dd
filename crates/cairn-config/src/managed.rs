//! The managed file (`STATE_DIR/managed.toml`): the plans and repositories a multihost server
//! pushed to this client, and the repositories it shares with it. cairn writes it whole (a
//! temporary file renamed over it); the user's own file is never rewritten. Loading merges it
//! into the model after the user's file, with the same validation; a name the user's file
//! has already is refused (the user's file is never overridden from afar).
//!
//! Its form, besides `[repositories.NAME]` and `[plans.NAME]` tables:
//! `generation` (the pushed config it holds), `shared_generation` and `shared` (the names of
//! the repositories that are shared: read-only here, forget/prune/check left to the owner).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::config::{named_tables, Config};
use crate::error::{ConfigError, ConfigErrors, ErrorKind, Reporter};
use crate::plan::{build_plan, PlanContext};
use crate::positions::{KeyPath, Positions};
use crate::raw::{RawPlan, RawRepository};
use crate::repository::build_repository;
use crate::serde_errors;
use crate::source::SourceText;

/// The managed file's name in the state directory.
pub const MANAGED_FILE: &str = "managed.toml";

/// What of the model came from the managed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Managed {
    /// The file, when there was one.
    pub path: Option<PathBuf>,
    /// The generation of the server's pushed config it holds (0: none).
    pub generation: u64,
    pub shared_generation: u64,
    pub plans: BTreeSet<String>,
    pub repositories: BTreeSet<String>,
    /// Repositories shared by the server: read-only here; their owner maintains them.
    pub shared: BTreeSet<String>,
}

impl Managed {
    /// Whether the repository is one a server shared (forget, prune and check refused here).
    pub fn is_shared(&self, repository: &str) -> bool {
        self.shared.contains(repository)
    }
}

/// The managed file of a state directory.
pub fn managed_path(state_dir: &Path) -> PathBuf {
    state_dir.join(MANAGED_FILE)
}

const MANAGED_KEYS: &[&str] = &[
    "generation",
    "shared_generation",
    "shared",
    "repositories",
    "plans",
];

/// Merges managed config text into a validated config. Every error is returned (positions
/// in the managed text); on error `config` is unchanged.
pub fn merge_managed(config: &mut Config, source: SourceText) -> Result<(), ConfigErrors> {
    let (document, syntax_errors) = DeTable::parse_recoverable(source.text());
    if let Some(error) = syntax_errors.first() {
        return Err(ConfigErrors::new(vec![ConfigError::whole_file(
            ErrorKind::Syntax,
            source.path(),
            format!("invalid TOML: {}", error.message().replace('\n', " ")),
        )]));
    }
    let positions = Positions::of_document(&document);
    let mut reporter = Reporter::new(&source, &positions);
    let mut managed = Managed {
        path: Some(source.path().to_path_buf()),
        ..Managed::default()
    };
    let mut repository_tables = Vec::new();
    let mut plan_tables = Vec::new();
    let mut shared_names = Vec::new();
    for (key, value) in document.into_inner() {
        let path = KeyPath::root().key(key.get_ref());
        match key.get_ref().as_ref() {
            "generation" | "shared_generation" => match value.get_ref().as_integer() {
                Some(n) => {
                    let n = n.as_str().parse::<u64>().unwrap_or(0);
                    if key.get_ref() == "generation" {
                        managed.generation = n;
                    } else {
                        managed.shared_generation = n;
                    }
                }
                None => reporter.at_value(
                    ErrorKind::InvalidValue,
                    &path,
                    format!("{} must be a whole number", key.get_ref()),
                ),
            },
            "shared" => match value.into_inner() {
                DeValue::Array(items) => {
                    for item in items {
                        match item.get_ref().as_str() {
                            Some(name) => shared_names.push(name.to_string()),
                            None => reporter.at_value(
                                ErrorKind::InvalidValue,
                                &path,
                                "shared must list repository names".into(),
                            ),
                        }
                    }
                }
                _ => reporter.at_value(
                    ErrorKind::InvalidValue,
                    &path,
                    "shared must list repository names".into(),
                ),
            },
            "repositories" => {
                repository_tables = named_tables(&mut reporter, &path, value, "repositories")
            }
            "plans" => plan_tables = named_tables(&mut reporter, &path, value, "plans"),
            other => reporter.at_key(
                ErrorKind::UnknownKey,
                &path,
                format!(
                    "{other} cannot be set from a multihost server; it sends only {}",
                    MANAGED_KEYS.join(", ")
                ),
            ),
        }
    }
    let user_file = config.source().path().display().to_string();
    let mut repositories = BTreeMap::new();
    for (name, value) in repository_tables {
        let path = KeyPath::of(&["repositories", &name]);
        if config.repositories.contains_key(&name) {
            reporter.at_key(
                ErrorKind::Conflict,
                &path,
                format!("repository {name:?} is in {user_file} already; the server's config cannot replace it (rename one of them)"),
            );
            continue;
        }
        match RawRepository::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = crate::section::Section::new(&mut reporter, path);
                if let Some(repository) = build_repository(&mut section, &name, &raw) {
                    repositories.insert(name, repository);
                }
            }
            Err(error) => serde_errors::report(&mut reporter, &path, &error),
        }
    }
    for name in &shared_names {
        if !repositories.contains_key(name) && !config.repositories.contains_key(name) {
            reporter.at_value(
                ErrorKind::InvalidValue,
                &KeyPath::root().key("shared"),
                format!("shared names repository {name:?}, which this file does not define"),
            );
        } else if config.repositories.contains_key(name) {
            reporter.at_value(
                ErrorKind::Conflict,
                &KeyPath::root().key("shared"),
                format!("shared names repository {name:?} of {user_file}; only a repository of this file can be shared"),
            );
        }
    }
    let repository_names: BTreeSet<String> = config
        .repositories
        .keys()
        .chain(repositories.keys())
        .cloned()
        .collect();
    let rest_repositories: BTreeSet<String> = config
        .repositories
        .values()
        .filter(|r| r.rest_enabled())
        .map(|r| r.name.clone())
        .collect();
    let context = PlanContext {
        repository_names: &repository_names,
        rest_repositories: &rest_repositories,
        default_zone: config.timezone,
    };
    let mut plans = BTreeMap::new();
    for (name, value) in plan_tables {
        let path = KeyPath::of(&["plans", &name]);
        if config.plans.contains_key(&name) {
            reporter.at_key(
                ErrorKind::Conflict,
                &path,
                format!("plan {name:?} is in {user_file} already; the server's config cannot replace it (rename one of them)"),
            );
            continue;
        }
        match RawPlan::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = crate::section::Section::new(&mut reporter, path);
                if let Some(plan) = build_plan(&mut section, &name, &raw, &context) {
                    plans.insert(name, plan);
                }
            }
            Err(error) => serde_errors::report(&mut reporter, &path, &error),
        }
    }
    let errors = reporter.into_errors();
    if !errors.is_empty() {
        return Err(ConfigErrors::new(errors));
    }
    managed.repositories = repositories.keys().cloned().collect();
    managed.plans = plans.keys().cloned().collect();
    managed.shared = shared_names.into_iter().collect();
    config.repositories.extend(repositories);
    config.plans.extend(plans);
    // The owner maintains a shared repository: no plan here forgets, prunes or checks it.
    for plan in config.plans.values_mut() {
        if managed.shared.contains(&plan.repository) {
            plan.retention = None;
            plan.check = None;
        }
    }
    config.managed = managed;
    config.seal_keys_in_state_dir();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Config {
        Config::parse(SourceText::new(
            "/etc/cairn/cairn.toml",
            "state_dir = \"/var/lib/c\"\n[repositories.main]\nlocation = \"/srv/main\"\n\
             password_env = \"P\"\n[plans.web]\nrepository = \"main\"\nsources = [\"/srv/www\"]\n",
        ))
        .unwrap()
    }

    fn managed(text: &str) -> SourceText {
        SourceText::new("/var/lib/c/managed.toml", text)
    }

    #[test]
    fn shared_repositories_merge_sealed_and_unmaintained() {
        let mut config = user();
        merge_managed(
            &mut config,
            managed(
                "generation = 3\nshared = [\"team\"]\n[repositories.team]\n\
                 location = \"/srv/team\"\npassword_sealed = \"sealed:v1:abc\"\n\
                 [plans.toteam]\nrepository = \"team\"\nsources = [\"/home\"]\n\
                 retention = { keep_last = 3 }\ncheck = { every = \"7d\" }\n",
            ),
        )
        .unwrap();
        assert_eq!(config.managed.generation, 3);
        assert!(config.managed.is_shared("team") && !config.managed.is_shared("main"));
        let plan = &config.plans["toteam"];
        assert!(plan.retention.is_none() && plan.check.is_none());
        match &config.repositories["team"].password {
            crate::SecretSource::Sealed {
                key_dir, purpose, ..
            } => {
                assert_eq!(key_dir, std::path::Path::new("/var/lib/c"));
                assert_eq!(purpose, "password of shared repository team");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_of_the_users_file_and_other_keys_are_refused() {
        let mut config = user();
        let errors = merge_managed(
            &mut config,
            managed(
                "state_dir = \"/x\"\n[plans.web]\nrepository = \"main\"\nsources = [\"/a\"]\n\
                 [plans.other]\nrepository = \"nowhere\"\nsources = [\"/a\"]\n",
            ),
        )
        .unwrap_err();
        let text: Vec<String> = errors.errors().iter().map(|e| e.to_string()).collect();
        let text = text.join("\n");
        assert!(text.contains("state_dir cannot be set"), "{text}");
        assert!(
            text.contains("is in /etc/cairn/cairn.toml already"),
            "{text}"
        );
        assert!(text.contains("nowhere"), "{text}");
        assert!(text.contains("managed.toml"), "{text}");
        assert!(config.managed.path.is_none(), "unchanged on error");
    }
}

//! The whole config: the top level read key by key, then each repository and plan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use crate::daemon::{build_daemon, Daemon};
use crate::error::{ConfigError, ConfigErrors, ErrorKind, Reporter};
use crate::multihost::{build_multihost, Multihost};
use crate::names::{name_problem, NAME_FORM};
use crate::notify::{build_notify, NotifyChannel};
use crate::plan::{build_plan, Plan, PlanContext};
use crate::positions::{KeyPath, Positions};
use crate::raw::{
    RawDaemon, RawMultihost, RawNotify, RawPlan, RawRepository, RawServer, RawServerBackup,
    TOP_LEVEL_KEYS,
};
use crate::repository::{build_repository, Repository};
use crate::schedule::Zone;
use crate::section::Section;
use crate::serde_errors;
use crate::server::{build_server, Server};
use crate::server_backup::{build_server_backup, ServerBackup};
use crate::source::{LineColumn, SourceText};
use crate::suggest::nearest;

/// Where the state database and job logs live unless the file says otherwise.
pub const STATE_DIR_DEFAULT: &str = "/var/lib/cairn";

/// A validated config. Plans name repositories that exist; every value has its type; the
/// text it came from and the position of every key stay available.
#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite state (WAL) and job logs; created 0700 by whoever opens it.
    pub state_dir: PathBuf,
    /// The zone schedules are read in when a plan names none.
    pub timezone: Zone,
    pub repositories: BTreeMap<String, Repository>,
    pub plans: BTreeMap<String, Plan>,
    pub daemon: Daemon,
    /// The web UI and API on TCP; `None`: only the unix socket.
    pub server: Option<Server>,
    /// The server's self-backup (defaults when the section is absent).
    pub server_backup: ServerBackup,
    /// `[multihost]` (a client's pairing and trust); the default when absent.
    pub multihost: Multihost,
    /// Notification channels, in file order.
    pub notify: Vec<NotifyChannel>,
    /// What the managed file (`STATE_DIR/managed.toml`, a multihost server's) added.
    pub managed: crate::managed::Managed,
    source: SourceText,
    positions: Positions,
}

impl Config {
    /// Reads and validates config text. Touches no file: the referenced files are checked by
    /// [`crate::check_referenced_files`] (and by [`crate::load`]).
    pub fn parse(source: SourceText) -> Result<Config, ConfigErrors> {
        let (document, syntax_errors) = DeTable::parse_recoverable(source.text());
        if !syntax_errors.is_empty() {
            // A document the parser had to repair would produce errors about its repairs.
            return Err(ConfigErrors::new(
                syntax_errors
                    .iter()
                    .map(|error| syntax_error(&source, error))
                    .collect(),
            ));
        }
        let positions = Positions::of_document(&document);
        let mut reporter = Reporter::new(&source, &positions);
        let model = build(document.into_inner(), &mut reporter);
        let errors = reporter.into_errors();
        if !errors.is_empty() {
            return Err(ConfigErrors::new(errors));
        }
        let Model {
            state_dir,
            timezone,
            repositories,
            plans,
            daemon,
            server,
            server_backup,
            multihost,
            notify,
        } = model;
        Ok(Config {
            state_dir,
            timezone,
            repositories,
            plans,
            daemon,
            server,
            server_backup,
            multihost,
            notify,
            managed: crate::managed::Managed::default(),
            source,
            positions,
        })
        .map(|mut config: Config| {
            config.seal_keys_in_state_dir();
            config
        })
    }

    /// Sealed passwords open with the instance key of the state directory: points them there
    /// (again after an override moved it).
    pub(crate) fn seal_keys_in_state_dir(&mut self) {
        for repository in self.repositories.values_mut() {
            if let crate::secret::SecretSource::Sealed { key_dir, .. } = &mut repository.password {
                key_dir.clone_from(&self.state_dir);
            }
        }
    }

    /// The text as read, with its path.
    pub fn source(&self) -> &SourceText {
        &self.source
    }

    /// The span of every key and value of the file.
    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// Where a key's value is written (a missing key: its table).
    pub fn position_of(&self, path: &KeyPath) -> Option<LineColumn> {
        let span = self.positions.value_span(path)?;
        Some(self.source.line_column(span.start))
    }

    /// The plan of that name; the error names the nearest one.
    pub fn plan(&self, name: &str) -> Result<&Plan, String> {
        self.plans.get(name).ok_or_else(|| {
            let file = self.source.path().display();
            let names = self.plans.keys().map(String::as_str);
            match nearest(name, names) {
                Some(near) => format!("{file} has no plan {name:?}; did you mean {near:?}?"),
                None if self.plans.is_empty() => {
                    format!("{file} has no plans; add a [plans.{name}] table")
                }
                None => format!(
                    "{file} has no plan {name:?}; its plans are {}",
                    self.plans.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            }
        })
    }

    /// The repository a plan backs up into.
    pub fn repository_of(&self, plan: &Plan) -> &Repository {
        // Validation guarantees the reference; a plan from another config is a caller's bug.
        &self.repositories[&plan.repository]
    }
}

fn syntax_error(source: &SourceText, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    // A document that failed to parse has no positions worth recording.
    let positions = Positions::default();
    let mut reporter = Reporter::new(source, &positions);
    let message = error.message().replace('\n', " ");
    reporter.at_span(
        ErrorKind::Syntax,
        span,
        None,
        format!("invalid TOML: {message}"),
    );
    reporter.into_errors().remove(0)
}

struct Model {
    state_dir: PathBuf,
    timezone: Zone,
    repositories: BTreeMap<String, Repository>,
    plans: BTreeMap<String, Plan>,
    daemon: Daemon,
    server: Option<Server>,
    server_backup: ServerBackup,
    multihost: Multihost,
    notify: Vec<NotifyChannel>,
}

fn build(document: DeTable<'_>, reporter: &mut Reporter<'_>) -> Model {
    let mut state_dir = PathBuf::from(STATE_DIR_DEFAULT);
    let mut timezone = Zone::default();
    let mut repository_tables = Vec::new();
    let mut plan_tables = Vec::new();
    let mut daemon_table = None;
    let mut server_table = None;
    let mut server_backup_table = None;
    let mut multihost_table = None;
    let mut notify_tables = Vec::new();
    for (key, value) in document {
        let path = KeyPath::root().key(key.get_ref());
        match key.get_ref().as_ref() {
            "state_dir" => {
                let mut section = Section::new(reporter, KeyPath::root());
                if let Some(text) = string_value(&mut section, &path, &value) {
                    if let Some(dir) = section.absolute_path(&path, text, STATE_DIR_DEFAULT) {
                        state_dir = dir;
                    }
                }
            }
            "timezone" => {
                let mut section = Section::new(reporter, KeyPath::root());
                if let Some(text) = string_value(&mut section, &path, &value) {
                    if let Some(zone) = section.parse("timezone", Some(text), Zone::parse) {
                        timezone = zone;
                    }
                }
            }
            "repositories" => {
                repository_tables = named_tables(reporter, &path, value, "repositories")
            }
            "plans" => plan_tables = named_tables(reporter, &path, value, "plans"),
            "daemon" => daemon_table = Some(value),
            "server" => server_table = Some(value),
            "server_backup" => server_backup_table = Some(value),
            "multihost" => multihost_table = Some(value),
            "notify" => match value.into_inner() {
                DeValue::Array(items) => notify_tables = items.into_iter().collect(),
                _ => reporter.at_value(
                    ErrorKind::InvalidValue,
                    &path,
                    "notify must be a list of tables; write each channel as [[notify]]".into(),
                ),
            },
            other => {
                let known: Vec<String> = TOP_LEVEL_KEYS.iter().map(|k| k.to_string()).collect();
                let message = serde_errors::unknown_key_message(other, &known, "the top level");
                reporter.at_key(ErrorKind::UnknownKey, &path, message);
            }
        }
    }
    let repository_names: BTreeSet<String> = repository_tables
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let mut repositories = BTreeMap::new();
    for (name, value) in repository_tables {
        let path = KeyPath::of(&["repositories", &name]);
        match RawRepository::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = Section::new(reporter, path);
                if let Some(repository) = build_repository(&mut section, &name, &raw) {
                    repositories.insert(name, repository);
                }
            }
            Err(error) => serde_errors::report(reporter, &path, &error),
        }
    }
    let rest_repositories: BTreeSet<String> = repositories
        .values()
        .filter(|repository| repository.rest_enabled())
        .map(|repository| repository.name.clone())
        .collect();
    let context = PlanContext {
        repository_names: &repository_names,
        rest_repositories: &rest_repositories,
        default_zone: timezone,
    };
    let mut plans = BTreeMap::new();
    for (name, value) in plan_tables {
        let path = KeyPath::of(&["plans", &name]);
        match RawPlan::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = Section::new(reporter, path);
                if let Some(plan) = build_plan(&mut section, &name, &raw, &context) {
                    plans.insert(name, plan);
                }
            }
            Err(error) => serde_errors::report(reporter, &path, &error),
        }
    }
    crate::plan::one_maintenance_plan_per_repository(reporter, &plans);
    let mut daemon = Daemon::default();
    if let Some(value) = daemon_table {
        let path = KeyPath::of(&["daemon"]);
        match RawDaemon::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = Section::new(reporter, path);
                if let Some(built) = build_daemon(&mut section, &raw) {
                    daemon = built;
                }
            }
            Err(error) => serde_errors::report(reporter, &path, &error),
        }
    }
    let mut server = None;
    if let Some(value) = server_table {
        let path = KeyPath::of(&["server"]);
        match RawServer::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = Section::new(reporter, path);
                server = build_server(&mut section, &raw);
            }
            Err(error) => serde_errors::report(reporter, &path, &error),
        }
    }
    let mut multihost = Multihost::default();
    if let Some(value) = multihost_table {
        let path = KeyPath::of(&["multihost"]);
        match RawMultihost::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = Section::new(reporter, path);
                if let Some(built) = build_multihost(&mut section, &raw) {
                    multihost = built;
                }
            }
            Err(error) => serde_errors::report(reporter, &path, &error),
        }
    }
    let mut server_backup = ServerBackup::default();
    if let Some(value) = server_backup_table {
        let path = KeyPath::of(&["server_backup"]);
        match RawServerBackup::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = Section::new(reporter, path);
                if let Some(built) = build_server_backup(&mut section, &raw) {
                    server_backup = built;
                }
            }
            Err(error) => serde_errors::report(reporter, &path, &error),
        }
    }
    let plan_names: BTreeSet<String> = plans.keys().cloned().collect();
    let mut notify = Vec::new();
    let mut channel_names = BTreeSet::new();
    for (index, value) in notify_tables.into_iter().enumerate() {
        let path = KeyPath::root().key("notify").index(index);
        match RawNotify::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                let mut section = Section::new(reporter, path.clone());
                if let Some(channel) = build_notify(&mut section, &raw, &plan_names) {
                    if !channel_names.insert(channel.name.clone()) {
                        reporter.at_value(
                            ErrorKind::Conflict,
                            &path.key("name"),
                            format!("name: a channel named {:?} comes earlier; give each [[notify]] its own name", channel.name),
                        );
                    } else {
                        notify.push(channel);
                    }
                }
            }
            Err(error) => serde_errors::report(reporter, &path, &error),
        }
    }
    Model {
        state_dir,
        timezone,
        repositories,
        plans,
        daemon,
        server,
        server_backup,
        multihost,
        notify,
    }
}

/// A top-level string value, or an error saying it must be one.
fn string_value<'v>(
    section: &mut Section<'_, '_>,
    path: &KeyPath,
    value: &'v Spanned<DeValue<'_>>,
) -> Option<&'v str> {
    let text = value.get_ref().as_str();
    if text.is_none() {
        let found = value.get_ref().type_str();
        section.wrong(path, format!("is {found}; write a quoted string"));
    }
    text
}

/// The entries of `[repositories.NAME]` or `[plans.NAME]` tables, names checked.
pub(crate) fn named_tables<'i>(
    reporter: &mut Reporter<'_>,
    path: &KeyPath,
    value: Spanned<DeValue<'i>>,
    key: &str,
) -> Vec<(String, Spanned<DeValue<'i>>)> {
    let DeValue::Table(table) = value.into_inner() else {
        let example = if key == "plans" {
            "[plans.web]"
        } else {
            "[repositories.main]"
        };
        reporter.at_value(
            ErrorKind::InvalidValue,
            path,
            format!("{key} must be a table of named sections; write them as {example}"),
        );
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (name, value) in table {
        let name = name.into_inner().into_owned();
        let entry = path.key(&name);
        if let Some(problem) = name_problem(&name) {
            let kind = if key == "plans" { "plan" } else { "repository" };
            reporter.at_key(
                ErrorKind::InvalidValue,
                &entry,
                format!("{kind} name {name:?} {problem}; {NAME_FORM}"),
            );
        }
        entries.push((name, value));
    }
    entries
}

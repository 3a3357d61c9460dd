//! Database dumps a plan streams into its snapshot: `[[plans.NAME.postgresql]]`,
//! `[[plans.NAME.mariadb]]`, `[[plans.NAME.sqlite]]`, and where each lands in the snapshot.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::ErrorKind;
use crate::names::{name_problem, path_component_problem, NAME_FORM};
use crate::positions::KeyPath;
use crate::raw::{RawMariadb, RawPostgresql, RawSqlite};
use crate::secret::{SecretKeys, SecretSource};
use crate::section::Section;

/// The directory of the snapshot that holds dumps, beside the plan's sources.
pub const DUMP_ROOT: &str = "/cairn-dumps";

/// One database, or every database on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSelection {
    One(String),
    /// `database = "all"`: each database (for PostgreSQL plus globals via `pg_dumpall -g`).
    All,
}

/// `pg_dump`'s output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PostgresFormat {
    /// `--format=custom`: compressed, restored with `pg_restore`; `DB.dump`.
    #[default]
    Custom,
    /// SQL text, restored with `psql`; `DB.sql`.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresDump {
    pub database: DatabaseSelection,
    pub host: String,
    pub port: u16,
    /// The role to connect as; `None`: the client's default (the user cairn runs as).
    pub username: Option<String>,
    pub format: PostgresFormat,
    /// `None`: no password (trust or peer authentication, or `~/.pgpass`).
    pub password: Option<SecretSource>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MariadbDump {
    pub database: DatabaseSelection,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteDump {
    /// The file name of the dump in the snapshot; defaults to the database file's stem.
    pub name: String,
    pub path: PathBuf,
}

pub const POSTGRES_PORT_DEFAULT: u16 = 5432;
pub const MARIADB_PORT_DEFAULT: u16 = 3306;
pub const HOST_DEFAULT: &str = "localhost";

impl PostgresDump {
    /// Where the dump of `database` lands: `/cairn-dumps/postgresql/HOST/DB.dump` (or `.sql`).
    pub fn snapshot_path(&self, database: &str) -> String {
        let extension = match self.format {
            PostgresFormat::Custom => "dump",
            PostgresFormat::Plain => "sql",
        };
        format!(
            "{DUMP_ROOT}/postgresql/{}/{database}.{extension}",
            self.host
        )
    }
}

impl MariadbDump {
    /// `/cairn-dumps/mariadb/HOST/DB.sql`.
    pub fn snapshot_path(&self, database: &str) -> String {
        format!("{DUMP_ROOT}/mariadb/{}/{database}.sql", self.host)
    }
}

impl SqliteDump {
    /// `/cairn-dumps/sqlite/NAME.sqlite`.
    pub fn snapshot_path(&self) -> String {
        format!("{DUMP_ROOT}/sqlite/{}.sqlite", self.name)
    }
}

/// The connection keys PostgreSQL and MariaDB share, as written.
struct ServerKeys<'r> {
    database: Option<&'r str>,
    host: Option<&'r str>,
    port: Option<i64>,
    username: Option<&'r str>,
    secret: SecretKeys<'r>,
}

impl<'r> From<&'r RawPostgresql> for ServerKeys<'r> {
    fn from(raw: &'r RawPostgresql) -> ServerKeys<'r> {
        ServerKeys {
            database: raw.database.as_deref(),
            host: raw.host.as_deref(),
            port: raw.port,
            username: raw.username.as_deref(),
            secret: SecretKeys::of(&raw.password_file, &raw.password_command, &raw.password_env),
        }
    }
}

impl<'r> From<&'r RawMariadb> for ServerKeys<'r> {
    fn from(raw: &'r RawMariadb) -> ServerKeys<'r> {
        ServerKeys {
            database: raw.database.as_deref(),
            host: raw.host.as_deref(),
            port: raw.port,
            username: raw.username.as_deref(),
            secret: SecretKeys::of(&raw.password_file, &raw.password_command, &raw.password_env),
        }
    }
}

/// The connection keys, checked.
struct Server {
    database: DatabaseSelection,
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<SecretSource>,
}

fn build_server(
    section: &mut Section<'_, '_>,
    keys: ServerKeys<'_>,
    default_port: u16,
) -> Option<Server> {
    let database = section
        .required("database", keys.database, "\"NAME\" or \"all\"")
        .and_then(|text| {
            let key = section.key("database");
            component(section, &key, text, "database name").map(|_| match text {
                "all" => DatabaseSelection::All,
                name => DatabaseSelection::One(name.to_string()),
            })
        });
    let host = match keys.host {
        None => Some(HOST_DEFAULT.to_string()),
        Some(text) => {
            let key = section.key("host");
            component(section, &key, text, "host name").map(|_| text.to_string())
        }
    };
    let port = section.port("port", keys.port, default_port);
    if let Some(user) = keys.username {
        section.non_empty(&section.key("username"), user, "backup");
    }
    let password = keys.secret.build(section);
    if section.failed() {
        return None;
    }
    Some(Server {
        database: database?,
        host: host?,
        port,
        username: keys.username.map(str::to_string),
        password,
    })
}

/// A database or host name that becomes one component of a dump path.
fn component(section: &mut Section<'_, '_>, key: &KeyPath, text: &str, what: &str) -> Option<()> {
    match path_component_problem(text) {
        None => Some(()),
        Some(problem) => {
            section.invalid(key, format!("{text:?} {problem}, so it cannot name the dump file; write the {what} as the server knows it"));
            None
        }
    }
}

pub(crate) fn build_postgres(
    section: &mut Section<'_, '_>,
    raw: &RawPostgresql,
) -> Option<PostgresDump> {
    let format = section.parse("format", raw.format.as_deref(), |text| match text {
        "custom" => Ok(PostgresFormat::Custom),
        "plain" => Ok(PostgresFormat::Plain),
        other => Err(format!(
            "{other:?} is not a format; write \"custom\" (pg_restore) or \"plain\" (SQL)"
        )),
    });
    let server = build_server(section, raw.into(), POSTGRES_PORT_DEFAULT);
    if section.failed() {
        return None;
    }
    let server = server?;
    Some(PostgresDump {
        database: server.database,
        host: server.host,
        port: server.port,
        username: server.username,
        format: format.unwrap_or_default(),
        password: server.password,
    })
}

pub(crate) fn build_mariadb(
    section: &mut Section<'_, '_>,
    raw: &RawMariadb,
) -> Option<MariadbDump> {
    let server = build_server(section, raw.into(), MARIADB_PORT_DEFAULT)?;
    Some(MariadbDump {
        database: server.database,
        host: server.host,
        port: server.port,
        username: server.username,
        password: server.password,
    })
}

pub(crate) fn build_sqlite(section: &mut Section<'_, '_>, raw: &RawSqlite) -> Option<SqliteDump> {
    let path = section
        .required("path", raw.path.as_deref(), "\"/var/lib/app/app.db\"")
        .and_then(|text| {
            let key = section.key("path");
            section.absolute_path(&key, text, "/var/lib/app/app.db")
        });
    let name = match (&raw.name, &path) {
        (Some(name), _) => Some(name.clone()),
        (None, Some(path)) => path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned()),
        (None, None) => None,
    };
    if let Some(name) = &name {
        if let Some(problem) = name_problem(name) {
            let key = if raw.name.is_some() {
                section.key("name")
            } else {
                section.key("path")
            };
            section.invalid(
                &key,
                format!("dump name {name:?} {problem}; set name and {NAME_FORM}"),
            );
        }
    }
    if section.failed() {
        return None;
    }
    Some(SqliteDump {
        name: name?,
        path: path?,
    })
}

/// Two dumps of one plan must not write the same file in the snapshot. `all` on a server
/// covers every database name on that host, so it collides with any named one there.
pub(crate) struct DumpTargets {
    /// (kind, host) → database selections seen, with the path of the entry that claimed it.
    claimed: BTreeMap<(&'static str, String), Vec<(DatabaseSelection, KeyPath)>>,
}

impl DumpTargets {
    pub fn new() -> DumpTargets {
        DumpTargets {
            claimed: BTreeMap::new(),
        }
    }

    /// Records a dump; reports a conflict at `entry` when an earlier one writes the same file.
    pub fn claim(
        &mut self,
        section: &mut Section<'_, '_>,
        kind: &'static str,
        host: &str,
        database: &DatabaseSelection,
        entry: &KeyPath,
    ) {
        let seen = self.claimed.entry((kind, host.to_string())).or_default();
        let clash = seen.iter().find(|(other, _)| {
            matches!(other, DatabaseSelection::All)
                || matches!(database, DatabaseSelection::All)
                || other == database
        });
        if let Some((other, other_path)) = clash {
            let describe = |selection: &DatabaseSelection| match selection {
                DatabaseSelection::All => "every database".to_string(),
                DatabaseSelection::One(name) => format!("database {name:?}"),
            };
            let message = format!(
                "{} of {kind} host {host:?} is already dumped by {} ({}); remove one of the two",
                describe(database),
                crate::section::label_of(other_path),
                describe(other),
            );
            section.report(ErrorKind::Conflict, &entry.key("database"), message);
        }
        seen.push((database.clone(), entry.clone()));
    }
}

//! PostgreSQL: `pg_dump` per database (its own transaction snapshot), `pg_dumpall
//! --globals-only` beside them for `database = "all"`, and the commands that restore a dump.
//!
//! The password reaches the tools as `PGPASSWORD` in the child's environment only (readable
//! by its own user and root, never on a command line); `-w` keeps a tool from ever prompting.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::sync::Arc;

use cairn_config::{DatabaseSelection, PostgresDump, PostgresFormat};
use cairn_crypto::Secret;
use cairn_repo::backup::StreamEntry;

use super::group::DumpGroup;
use super::process::{output_of, ChildStream};
use super::{checked_name, copy_secret};
use crate::Result;

/// The database `psql` connects to when it lists or creates databases.
const MAINTENANCE_DATABASE: &str = "postgres";

/// Which databases a listing of `all` takes: those one can connect to, no templates.
const LIST_DATABASES: &str =
    "select datname from pg_database where datallowconn and not datistemplate order by datname";

/// Where and as whom the tools connect.
pub(crate) struct PgConnection {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret<Vec<u8>>>,
}

impl PgConnection {
    pub(crate) fn of(dump: &PostgresDump) -> Result<PgConnection> {
        let password = match &dump.password {
            Some(source) => Some(crate::secret::read(
                source,
                &format!("password of postgresql {}:{}", dump.host, dump.port),
            )?),
            None => None,
        };
        Ok(PgConnection {
            host: dump.host.clone(),
            port: dump.port,
            username: dump.username.clone(),
            password,
        })
    }

    /// `127.0.0.1:5432`.
    pub(crate) fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `PROGRAM -w -h HOST -p PORT [-U USER]` with the password in its environment.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .arg("-w")
            .arg("-h")
            .arg(&self.host)
            .arg("-p")
            .arg(self.port.to_string());
        if let Some(user) = &self.username {
            command.arg("-U").arg(user);
        }
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", OsStr::from_bytes(password.expose()));
        }
        command
    }

    /// `psql` running one statement in the maintenance database; its output, unaligned.
    pub(crate) fn query(&self, sql: &str, describe: &str) -> Result<String> {
        self.query_in(MAINTENANCE_DATABASE, sql, describe)
    }

    /// `psql` running one statement in `database`; its output, unaligned.
    pub(crate) fn query_in(&self, database: &str, sql: &str, describe: &str) -> Result<String> {
        let mut command = self.command("psql");
        command
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg(format!("--dbname={database}"))
            .arg("-c")
            .arg(sql);
        output_of(command, describe, self.password.as_ref())
    }

    /// The databases `database = "all"` dumps.
    pub(crate) fn databases(&self) -> Result<Vec<String>> {
        let describe = format!("listing the databases on postgresql {}", self.server());
        let text = self.query(LIST_DATABASES, &describe)?;
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    pub(crate) fn exists(&self, database: &str) -> Result<bool> {
        let sql = format!(
            "select 1 from pg_database where datname = {}",
            literal(database)
        );
        let describe = format!(
            "looking for database {database} on postgresql {}",
            self.server()
        );
        Ok(self.query(&sql, &describe)?.trim() == "1")
    }

    pub(crate) fn create(&self, database: &str) -> Result<()> {
        let describe = format!(
            "creating database {database} on postgresql {}",
            self.server()
        );
        self.query(
            &format!("create database {}", identifier(database)),
            &describe,
        )
        .map(|_| ())
    }

    pub(crate) fn drop_database(&self, database: &str) -> Result<()> {
        let describe = format!(
            "dropping database {database} on postgresql {}",
            self.server()
        );
        self.query(
            &format!("drop database if exists {}", identifier(database)),
            &describe,
        )
        .map(|_| ())
    }

    /// The command that restores a dump of `format` read from standard input into
    /// `database`; `clean` drops what the dump recreates first (restoring over the original).
    pub(crate) fn restore_command(
        &self,
        format: PostgresFormat,
        database: &str,
        clean: bool,
    ) -> (Command, &'static str) {
        match format {
            PostgresFormat::Custom => {
                let mut command = self.command("pg_restore");
                command
                    .arg(format!("--dbname={database}"))
                    .args(["--exit-on-error", "--single-transaction"]);
                if clean {
                    command.args(["--clean", "--if-exists"]);
                }
                (command, "pg_restore")
            }
            // Plain dumps are written with `--clean --if-exists`: they restore over the
            // original and into an empty database alike.
            PostgresFormat::Plain => {
                let mut command = self.command("psql");
                command
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"])
                    .arg(format!("--dbname={database}"))
                    .args(["-f", "-"]);
                (command, "psql")
            }
        }
    }
}

/// `'text'` as an SQL string literal (standard conforming strings).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `"name"` as an SQL identifier.
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The streams of one `[[plans.X.postgresql]]` entry.
pub(crate) fn streams(dump: &PostgresDump, group: &Arc<DumpGroup>) -> Result<Vec<StreamEntry>> {
    let connection = PgConnection::of(dump)?;
    let mut streams = Vec::new();
    let databases = match &dump.database {
        DatabaseSelection::One(name) => vec![name.clone()],
        DatabaseSelection::All => {
            let mut globals = connection.command("pg_dumpall");
            globals.arg("--globals-only");
            streams.push(StreamEntry {
                path: format!("{}/globals.sql", dump_dir(dump)).into(),
                source: Box::new(ChildStream::new(
                    format!("pg_dumpall --globals-only on {}", connection.server()),
                    globals,
                    copy_secret(connection.password.as_ref()),
                    Arc::clone(group),
                    Vec::new(),
                )),
            });
            connection.databases()?
        }
    };
    for database in databases {
        checked_name(&database, "postgresql", &connection.server())?;
        let mut command = connection.command("pg_dump");
        match dump.format {
            PostgresFormat::Custom => {
                command.arg("--format=custom");
            }
            PostgresFormat::Plain => {
                command.args(["--format=plain", "--clean", "--if-exists"]);
            }
        }
        command.arg(format!("--dbname={database}"));
        streams.push(StreamEntry {
            path: dump.snapshot_path(&database).into(),
            source: Box::new(ChildStream::new(
                format!("pg_dump of {database} on {}", connection.server()),
                command,
                copy_secret(connection.password.as_ref()),
                Arc::clone(group),
                Vec::new(),
            )),
        });
    }
    Ok(streams)
}

/// `/cairn-dumps/postgresql/HOST`.
fn dump_dir(dump: &PostgresDump) -> String {
    format!("{}/postgresql/{}", cairn_config::DUMP_ROOT, dump.host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_for_sql() {
        assert_eq!(literal("o'neil"), "'o''neil'");
        assert_eq!(identifier("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn the_password_goes_in_the_environment_never_the_arguments() {
        let connection = PgConnection {
            host: "db1".into(),
            port: 5433,
            username: Some("backup".into()),
            password: Some(Secret::new(b"s3cret".to_vec())),
        };
        let command = connection.command("pg_dump");
        let args: Vec<_> = command.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(args, ["-w", "-h", "db1", "-p", "5433", "-U", "backup"]);
        let env: Vec<_> = command.get_envs().collect();
        assert_eq!(
            env,
            [(OsStr::new("PGPASSWORD"), Some(OsStr::new("s3cret")))]
        );
    }
}

//! MariaDB/MySQL: `mariadb-dump --single-transaction` per database (one consistent InnoDB
//! snapshot each), and the commands that restore a dump.
//!
//! The password reaches the tools through an option file (`--defaults-extra-file`, which must
//! be the first argument): created 0600 in the run's private scratch directory, removed when
//! the last tool that uses it is done. Never on a command line, never in the environment
//! (MariaDB's clients read no password variable reliably).
//!
//! A database is dumped without `--databases`, so the dump names no database (no `CREATE
//! DATABASE`, no `USE`): it restores into the original or into a new one alike.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use cairn_config::{DatabaseSelection, MariadbDump};
use cairn_crypto::Secret;
use cairn_repo::backup::StreamEntry;

use super::group::DumpGroup;
use super::process::{output_of, program, ChildStream};
use super::{checked_name, copy_secret};
use crate::{JobError, Result};

/// Databases of the server itself that `all` leaves out (views of the server's state).
const SYSTEM_SCHEMAS: [&str; 3] = ["information_schema", "performance_schema", "sys"];

/// The dump tool, the older name as a fallback.
const DUMP_PROGRAMS: [&str; 2] = ["mariadb-dump", "mysqldump"];
/// The client, the older name as a fallback.
const CLIENT_PROGRAMS: [&str; 2] = ["mariadb", "mysql"];
const PACKAGE: &str = "mariadb-client";

/// A `[client]` option file holding the password; removed when dropped.
pub(crate) struct OptionFile {
    path: PathBuf,
}

impl OptionFile {
    /// Writes the file in `dir` (the caller's private scratch directory), 0600 from its
    /// creation, never over an existing file.
    pub(crate) fn create(dir: &Path, name: &str, password: &Secret<Vec<u8>>) -> Result<OptionFile> {
        let path = dir.join(format!("{name}.cnf"));
        let fail = |e: std::io::Error| {
            JobError::Database(format!(
                "cannot write the MariaDB option file {}: {e}",
                path.display()
            ))
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(fail)?;
        let option_file = OptionFile { path: path.clone() };
        let mut text = Secret::new(b"[client]\npassword=\"".to_vec());
        escape_into(password.expose(), text.expose_mut());
        text.expose_mut().extend_from_slice(b"\"\n");
        file.write_all(text.expose())
            .and_then(|_| file.sync_all())
            .map_err(fail)?;
        Ok(option_file)
    }
}

impl Drop for OptionFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Escapes a value for a quoted option-file value: `\`, `"`, `'` and control whitespace.
fn escape_into(value: &[u8], out: &mut Vec<u8>) {
    for &byte in value {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            other => out.push(other),
        }
    }
}

/// Where and as whom the tools connect; the option file (if there is a password) lives as
/// long as this and every stream using it.
pub(crate) struct MariadbConnection {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret<Vec<u8>>>,
    option_file: Option<Arc<OptionFile>>,
}

impl MariadbConnection {
    /// `scratch` must be private (0700): the option file is written there.
    pub(crate) fn of(dump: &MariadbDump, scratch: &Path, index: usize) -> Result<Self> {
        let password = match &dump.password {
            Some(source) => Some(crate::secret::read(
                source,
                &format!("password of mariadb {}:{}", dump.host, dump.port),
            )?),
            None => None,
        };
        let option_file = match &password {
            Some(password) => Some(Arc::new(OptionFile::create(
                scratch,
                &format!("mariadb-{index}"),
                password,
            )?)),
            None => None,
        };
        Ok(MariadbConnection {
            host: dump.host.clone(),
            port: dump.port,
            username: dump.username.clone(),
            password,
            option_file,
        })
    }

    pub(crate) fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `PROGRAM [--defaults-extra-file=F] -h HOST -P PORT [-u USER]`.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        if let Some(file) = &self.option_file {
            let mut option = std::ffi::OsString::from("--defaults-extra-file=");
            option.push(&file.path);
            command.arg(option);
        }
        command
            .arg("-h")
            .arg(&self.host)
            .arg("-P")
            .arg(self.port.to_string());
        if let Some(user) = &self.username {
            command.arg("-u").arg(user);
        }
        command
    }

    /// The client, in batch mode, stopping at the first error.
    pub(crate) fn client(&self) -> Result<Command> {
        let mut command = self.command(&program(&CLIENT_PROGRAMS, PACKAGE)?);
        command.args(["--batch", "--skip-column-names"]);
        Ok(command)
    }

    /// Runs one statement; its output.
    pub(crate) fn query(&self, sql: &str, describe: &str) -> Result<String> {
        let mut command = self.client()?;
        command.arg("-e").arg(sql);
        output_of(command, describe, self.password.as_ref())
    }

    pub(crate) fn databases(&self) -> Result<Vec<String>> {
        let describe = format!("listing the databases on mariadb {}", self.server());
        let text = self.query("SHOW DATABASES", &describe)?;
        Ok(text
            .lines()
            .filter(|l| !l.is_empty() && !SYSTEM_SCHEMAS.contains(l))
            .map(str::to_string)
            .collect())
    }

    /// `CREATE DATABASE`; with `if_missing`, nothing happens when it exists.
    pub(crate) fn create(&self, database: &str, if_missing: bool) -> Result<()> {
        let describe = format!("creating database {database} on mariadb {}", self.server());
        let condition = if if_missing { "IF NOT EXISTS " } else { "" };
        self.query(
            &format!("CREATE DATABASE {condition}{}", identifier(database)),
            &describe,
        )
        .map(|_| ())
    }

    pub(crate) fn drop_database(&self, database: &str) -> Result<()> {
        let describe = format!("dropping database {database} on mariadb {}", self.server());
        self.query(
            &format!("DROP DATABASE IF EXISTS {}", identifier(database)),
            &describe,
        )
        .map(|_| ())
    }

    /// The client restoring a dump from standard input into `database`.
    pub(crate) fn restore_command(&self, database: &str) -> Result<Command> {
        let mut command = self.command(&program(&CLIENT_PROGRAMS, PACKAGE)?);
        command
            .args(["--batch", "--binary-mode"])
            .arg(format!("--database={database}"));
        Ok(command)
    }

    fn dump_stream(
        &self,
        dump: &MariadbDump,
        database: &str,
        group: &Arc<DumpGroup>,
    ) -> Result<StreamEntry> {
        let mut command = self.command(&program(&DUMP_PROGRAMS, PACKAGE)?);
        command
            .args([
                "--single-transaction",
                "--quick",
                "--routines",
                "--events",
                "--triggers",
            ])
            .arg("--")
            .arg(database);
        let keep: Vec<Box<dyn super::process::Keep>> = match &self.option_file {
            Some(file) => vec![Box::new(Arc::clone(file))],
            None => Vec::new(),
        };
        Ok(StreamEntry {
            path: dump.snapshot_path(database).into(),
            source: Box::new(ChildStream::new(
                format!("mariadb-dump of {database} on {}", self.server()),
                command,
                copy_secret(self.password.as_ref()),
                Arc::clone(group),
                keep,
            )),
        })
    }
}

/// `` `name` `` as an identifier.
fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The streams of one `[[plans.X.mariadb]]` entry (`index` tells entries' option files apart).
pub(crate) fn streams(
    dump: &MariadbDump,
    scratch: &Path,
    index: usize,
    group: &Arc<DumpGroup>,
) -> Result<Vec<StreamEntry>> {
    let connection = MariadbConnection::of(dump, scratch, index)?;
    let databases = match &dump.database {
        DatabaseSelection::One(name) => vec![name.clone()],
        DatabaseSelection::All => connection.databases()?,
    };
    databases
        .iter()
        .map(|database| {
            checked_name(database, "mariadb", &connection.server())?;
            connection.dump_stream(dump, database, group)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_option_file_is_private_escaped_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let password = Secret::new(b"a\"b\\c'd#e f".to_vec());
        let file = OptionFile::create(dir.path(), "m", &password).unwrap();
        let path = dir.path().join("m.cnf");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "[client]\npassword=\"a\\\"b\\\\c\\'d#e f\"\n");
        assert!(OptionFile::create(dir.path(), "m", &password).is_err());
        drop(file);
        assert!(!path.exists());
    }
}

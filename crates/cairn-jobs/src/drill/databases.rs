//! The database half of a drill: every dump of the snapshot loaded, whole, into a throwaway
//! database (`cairn_drill_JOB_N_…`, dropped afterwards whatever happened) or a sandbox file,
//! then asked how many tables and rows it holds. A dump that does not load, or loads empty
//! where its server had tables, fails the drill.

use std::path::Path;
use std::time::Instant;

use cairn_config::Plan;
use cairn_format::Id;
use cairn_repo::dump::ContentReader;
use cairn_repo::index::Index;
use cairn_repo::Repository;

use super::DatabaseDrill;
use crate::dumps::mariadb::MariadbConnection;
use crate::dumps::postgresql::PgConnection;
use crate::dumps::{private_dir, DumpKind};
use crate::restore_db::locate::dumps_in;
use crate::restore_db::{mariadb_entry, postgres_entry, target};
use crate::{JobError, Result};

/// Loads every dump below `/cairn-dumps` of the snapshot whose root is `tree`. `sandbox`
/// (private) holds SQLite copies and MariaDB option files; `job` names the throwaway
/// databases.
pub fn load_all(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    plan: &Plan,
    sandbox: &Path,
    job: i64,
) -> Result<Vec<DatabaseDrill>> {
    let dumps = dumps_in(repo, index, tree)?;
    if dumps.is_empty() {
        return Ok(Vec::new());
    }
    private_dir(sandbox)?;
    // Unique across hosts drilling into one server: the job id and the clock.
    let stamp = chrono::Utc::now().timestamp_subsec_micros();
    let mut loaded = Vec::new();
    for (n, dump) in dumps.iter().enumerate() {
        let name = format!("cairn_drill_{job}_{n}_{stamp:x}");
        let started = Instant::now();
        let blobs = dump.node.content.as_deref().unwrap_or(&[]);
        let mut reader = ContentReader::new(repo, index, blobs);
        let (loaded_into, (tables, rows)) = match dump.kind {
            DumpKind::Postgresql => {
                let connection = PgConnection::of(&postgres_entry(plan, dump))?;
                let format = dump.format.unwrap_or_default();
                let result = target::postgresql(&connection, format, &name, true, &mut reader)
                    .and_then(|_| postgres_counts(&connection, &name));
                let dropped = connection.drop_database(&name);
                let counts = result?;
                dropped?;
                (
                    format!("{name} on postgresql {}", connection.server()),
                    counts,
                )
            }
            DumpKind::Mariadb => {
                let connection = MariadbConnection::of(&mariadb_entry(plan, dump), sandbox, n)?;
                let result = target::mariadb(&connection, &name, true, &mut reader)
                    .and_then(|_| mariadb_counts(&connection, &name));
                let dropped = connection.drop_database(&name);
                let counts = result?;
                dropped?;
                (format!("{name} on mariadb {}", connection.server()), counts)
            }
            DumpKind::Sqlite => {
                let path = sandbox.join(format!("{name}.sqlite"));
                target::sqlite(&path, true, &mut reader)?;
                let counts = sqlite_counts(&path);
                let _ = std::fs::remove_file(&path);
                ("a sandbox file".to_string(), counts?)
            }
        };
        if tables == 0 && dump.node.size > EMPTY_DUMP_BYTES {
            return Err(JobError::Drill(format!(
                "{} loaded into {loaded_into} but holds no table",
                dump.describe()
            )));
        }
        loaded.push(DatabaseDrill {
            kind: dump.kind.to_string(),
            dump: dump.path.clone(),
            loaded_into,
            tables,
            rows,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(loaded)
}

/// A dump this small may come from an empty database (a header, settings, no table).
const EMPTY_DUMP_BYTES: u64 = 16 * 1024;

/// Tables and their rows counted exactly (not the planner's estimates).
fn postgres_counts(connection: &PgConnection, database: &str) -> Result<(u64, u64)> {
    const SQL: &str = "select count(*), coalesce(sum((xpath('/row/c/text()', \
        query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name), \
        false, true, '')))[1]::text::bigint), 0) from information_schema.tables \
        where table_type = 'BASE TABLE' \
        and table_schema not in ('pg_catalog', 'information_schema')";
    let describe = format!(
        "counting the rows of {database} on postgresql {}",
        connection.server()
    );
    parse_counts(
        &connection.query_in(database, SQL, &describe)?,
        '|',
        &describe,
    )
}

fn mariadb_counts(connection: &MariadbConnection, database: &str) -> Result<(u64, u64)> {
    let describe = format!(
        "counting the rows of {database} on mariadb {}",
        connection.server()
    );
    let list = connection.query(
        &format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{database}' \
             AND TABLE_TYPE = 'BASE TABLE'"
        ),
        &describe,
    )?;
    let tables: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    if tables.is_empty() {
        return Ok((0, 0));
    }
    let sum = tables
        .iter()
        .map(|t| {
            format!(
                "(SELECT COUNT(*) FROM `{database}`.`{}`)",
                t.replace('`', "``")
            )
        })
        .collect::<Vec<_>>()
        .join(" + ");
    let rows = connection.query(&format!("SELECT {sum}"), &describe)?;
    let rows = rows.trim().parse::<u64>().map_err(|_| {
        JobError::Database(format!("{describe}: unexpected answer {:?}", rows.trim()))
    })?;
    Ok((tables.len() as u64, rows))
}

fn sqlite_counts(path: &Path) -> Result<(u64, u64)> {
    let fail = |e: rusqlite::Error| {
        JobError::Database(format!("counting the rows of the drill's sqlite copy: {e}"))
    };
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(fail)?;
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(fail)?;
    let mut rows = 0u64;
    for table in &tables {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\""));
        rows += connection
            .query_row(&sql, [], |r| r.get::<_, i64>(0))
            .map_err(fail)? as u64;
    }
    Ok((tables.len() as u64, rows))
}

fn parse_counts(text: &str, separator: char, describe: &str) -> Result<(u64, u64)> {
    let line = text.trim();
    let parsed = line
        .split_once(separator)
        .and_then(|(t, r)| Some((t.trim().parse().ok()?, r.trim().parse().ok()?)));
    parsed.ok_or_else(|| JobError::Database(format!("{describe}: unexpected answer {line:?}")))
}

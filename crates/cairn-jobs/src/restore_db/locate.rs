//! Finding a database's dump in a snapshot: what lies below `/cairn-dumps`, and the one dump a
//! request names (by database, and by kind or host when several match).

use cairn_config::PostgresFormat;
use cairn_format::tree::{Node, NodeType};
use cairn_format::Id;
use cairn_repo::index::Index;
use cairn_repo::tree_io::find_node;
use cairn_repo::Repository;

use crate::dumps::DumpKind;
use crate::{JobError, Result};

/// The file `pg_dumpall --globals-only` writes beside a server's databases (not a database).
const GLOBALS_FILE: &str = "globals.sql";

/// One dump in a snapshot.
#[derive(Debug, Clone)]
pub struct DumpFile {
    pub kind: DumpKind,
    /// The server's host as the plan named it; `None` for SQLite.
    pub host: Option<String>,
    /// The database (SQLite: the dump's name).
    pub database: String,
    /// For PostgreSQL, how `pg_dump` wrote it.
    pub format: Option<PostgresFormat>,
    /// `/cairn-dumps/postgresql/HOST/DB.dump`.
    pub path: String,
    pub node: Node,
}

impl DumpFile {
    /// `postgresql app on 127.0.0.1 (/cairn-dumps/postgresql/127.0.0.1/app.dump)`.
    pub fn describe(&self) -> String {
        match &self.host {
            Some(host) => format!("{} {} on {host} ({})", self.kind, self.database, self.path),
            None => format!("{} {} ({})", self.kind, self.database, self.path),
        }
    }
}

/// Every dump of the snapshot whose root tree is `tree`; none when it holds no
/// `/cairn-dumps`.
pub fn dumps_in(repo: &Repository, index: &Index, tree: &Id) -> Result<Vec<DumpFile>> {
    let root = match find_node(repo, index, tree, b"/cairn-dumps") {
        Ok(Some(node)) => node,
        Ok(None) => return Ok(Vec::new()),
        Err(cairn_repo::RepoError::InvalidInput(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut dumps = Vec::new();
    for kind_dir in children(repo, index, &root)? {
        let kind = match String::from_utf8_lossy(&kind_dir.name).as_ref() {
            "postgresql" => DumpKind::Postgresql,
            "mariadb" => DumpKind::Mariadb,
            "sqlite" => DumpKind::Sqlite,
            _ => continue,
        };
        let base = format!("/cairn-dumps/{kind}");
        if kind == DumpKind::Sqlite {
            for file in children(repo, index, &kind_dir)? {
                if let Some(name) = file_stem(&file, "sqlite") {
                    dumps.push(DumpFile {
                        kind,
                        host: None,
                        path: format!("{base}/{}.sqlite", name),
                        database: name,
                        format: None,
                        node: file,
                    });
                }
            }
            continue;
        }
        for host_dir in children(repo, index, &kind_dir)? {
            let host = String::from_utf8_lossy(&host_dir.name).into_owned();
            for file in children(repo, index, &host_dir)? {
                let name = String::from_utf8_lossy(&file.name).into_owned();
                let (database, format) = match (kind, name.rsplit_once('.')) {
                    (DumpKind::Postgresql, _) if name == GLOBALS_FILE => continue,
                    (DumpKind::Postgresql, Some((db, "dump"))) => {
                        (db, Some(PostgresFormat::Custom))
                    }
                    (DumpKind::Postgresql, Some((db, "sql"))) => (db, Some(PostgresFormat::Plain)),
                    (DumpKind::Mariadb, Some((db, "sql"))) => (db, None),
                    _ => continue,
                };
                if file.node_type != NodeType::File {
                    continue;
                }
                dumps.push(DumpFile {
                    kind,
                    host: Some(host.clone()),
                    database: database.to_string(),
                    format,
                    path: format!("{base}/{host}/{name}"),
                    node: file,
                });
            }
        }
    }
    Ok(dumps)
}

fn children(repo: &Repository, index: &Index, dir: &Node) -> Result<Vec<Node>> {
    match (&dir.node_type, &dir.subtree) {
        (NodeType::Dir, Some(subtree)) => Ok(repo.load_tree(index, subtree)?),
        _ => Ok(Vec::new()),
    }
}

fn file_stem(node: &Node, extension: &str) -> Option<String> {
    if node.node_type != NodeType::File {
        return None;
    }
    let name = String::from_utf8_lossy(&node.name).into_owned();
    let (stem, ext) = name.rsplit_once('.')?;
    (ext == extension).then(|| stem.to_string())
}

/// The one dump of `database` (of `kind`, from `host`, when given); the error lists what the
/// snapshot holds when none or several match.
pub fn choose(
    dumps: Vec<DumpFile>,
    snapshot: &str,
    database: &str,
    kind: Option<DumpKind>,
    host: Option<&str>,
) -> Result<DumpFile> {
    let listing = || {
        if dumps.is_empty() {
            "it holds no database dumps".to_string()
        } else {
            let all: Vec<String> = dumps.iter().map(DumpFile::describe).collect();
            format!("it holds {}", all.join(", "))
        }
    };
    let mut matching: Vec<&DumpFile> = dumps
        .iter()
        .filter(|d| d.database == database && kind.is_none_or(|k| d.kind == k))
        .collect();
    if matching.len() > 1 {
        if let Some(host) = host {
            let same_host: Vec<&DumpFile> = matching
                .iter()
                .copied()
                .filter(|d| d.host.as_deref() == Some(host))
                .collect();
            if !same_host.is_empty() {
                matching = same_host;
            }
        }
    }
    let what = match kind {
        Some(kind) => format!("{kind} database {database}"),
        None => format!("database {database}"),
    };
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(JobError::InvalidInput(format!(
            "snapshot {snapshot} has no dump of {what}; {}",
            listing()
        ))),
        several => {
            let names: Vec<String> = several.iter().map(|d| d.describe()).collect();
            Err(JobError::InvalidInput(format!(
                "snapshot {snapshot} has {} dumps of {what}: {}; choose one with --kind (and \
                 --host)",
                several.len(),
                names.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(kind: DumpKind, host: Option<&str>, database: &str) -> DumpFile {
        DumpFile {
            kind,
            host: host.map(str::to_string),
            database: database.into(),
            format: None,
            path: format!("/cairn-dumps/{kind}/{database}"),
            node: Node::new(database.as_bytes().to_vec(), NodeType::File),
        }
    }

    #[test]
    fn one_match_is_chosen_and_otherwise_the_error_lists_the_dumps() {
        let dumps = vec![
            dump(DumpKind::Postgresql, Some("db1"), "app"),
            dump(DumpKind::Mariadb, Some("db1"), "app"),
            dump(DumpKind::Postgresql, Some("db2"), "shop"),
        ];
        let chosen = choose(dumps.clone(), "abcd", "shop", None, None).unwrap();
        assert_eq!(chosen.host.as_deref(), Some("db2"));
        let error = choose(dumps.clone(), "abcd", "app", None, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("2 dumps of database app"), "{error}");
        assert!(error.contains("--kind"), "{error}");
        let chosen = choose(dumps.clone(), "abcd", "app", Some(DumpKind::Mariadb), None).unwrap();
        assert_eq!(chosen.kind, DumpKind::Mariadb);
        let error = choose(dumps, "abcd", "nope", None, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no dump of database nope"), "{error}");
        assert!(error.contains("postgresql shop on db2"), "{error}");
    }
}

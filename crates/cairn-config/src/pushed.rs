//! Config tables as they travel between multihost instances: a fragment split into one item
//! per `[plans.NAME]` / `[repositories.NAME]` table, the managed file composed from items and
//! read back, and a config's tables with their secrets left out (what a client reports).

use toml::{Table, Value};

use crate::config::Config;

/// One plan or repository table: its name, the repository a plan backs up into, and the
/// table's body as TOML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableItem {
    pub name: String,
    pub repository: Option<String>,
    pub toml: String,
}

/// The two kinds of items, plans first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableItems {
    pub plans: Vec<TableItem>,
    pub repositories: Vec<TableItem>,
}

/// The managed file's parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedParts {
    pub generation: u64,
    /// The pushed plans and repositories.
    pub pushed: TableItems,
    pub shared_generation: u64,
    /// The shared repositories (their passwords sealed).
    pub shared: Vec<TableItem>,
}

fn item(name: &str, table: &Table) -> Result<TableItem, String> {
    Ok(TableItem {
        name: name.to_string(),
        repository: table
            .get("repository")
            .and_then(Value::as_str)
            .map(str::to_string),
        toml: toml::to_string(table).map_err(|e| format!("{name}: {e}"))?,
    })
}

fn named(document: &Table, key: &str) -> Result<Vec<TableItem>, String> {
    match document.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Table(tables)) => tables
            .iter()
            .map(|(name, value)| match value {
                Value::Table(table) => item(name, table),
                _ => Err(format!(
                    "{key}.{name} is not a table; write it as [{key}.{name}]"
                )),
            })
            .collect(),
        Some(_) => Err(format!("{key} must be a table of named sections")),
    }
}

/// Splits a fragment (`[repositories.X]` and `[plans.Y]` tables, nothing else) into items.
/// The tables' contents are judged later, by the receiver's real validation.
pub fn split_fragment(text: &str) -> Result<TableItems, String> {
    let document: Table = text.parse().map_err(|e: toml::de::Error| {
        format!("invalid TOML: {}", e.message().replace('\n', " "))
    })?;
    if let Some(other) = document
        .keys()
        .find(|k| *k != "plans" && *k != "repositories")
    {
        return Err(format!(
            "{other} cannot be pushed; a fragment holds only [repositories.NAME] and [plans.NAME] tables"
        ));
    }
    let items = TableItems {
        plans: named(&document, "plans")?,
        repositories: named(&document, "repositories")?,
    };
    if items.plans.is_empty() && items.repositories.is_empty() {
        return Err("the fragment has no [repositories.NAME] or [plans.NAME] table".into());
    }
    Ok(items)
}

fn parse_body(item: &TableItem) -> Result<Table, String> {
    item.toml.parse::<Table>().map_err(|e| {
        format!(
            "{}: invalid TOML: {}",
            item.name,
            e.message().replace('\n', " ")
        )
    })
}

/// The managed file's text for these parts.
pub fn compose_managed(parts: &ManagedParts) -> Result<String, String> {
    let mut document = Table::new();
    document.insert("generation".into(), Value::Integer(parts.generation as i64));
    document.insert(
        "shared_generation".into(),
        Value::Integer(parts.shared_generation as i64),
    );
    document.insert(
        "shared".into(),
        Value::Array(
            parts
                .shared
                .iter()
                .map(|i| Value::String(i.name.clone()))
                .collect(),
        ),
    );
    let mut repositories = Table::new();
    for item in parts.pushed.repositories.iter().chain(&parts.shared) {
        if repositories
            .insert(item.name.clone(), Value::Table(parse_body(item)?))
            .is_some()
        {
            return Err(format!(
                "repository {:?} is both pushed and shared by the server; rename one",
                item.name
            ));
        }
    }
    let mut plans = Table::new();
    for item in &parts.pushed.plans {
        plans.insert(item.name.clone(), Value::Table(parse_body(item)?));
    }
    document.insert("repositories".into(), Value::Table(repositories));
    document.insert("plans".into(), Value::Table(plans));
    let body = toml::to_string(&document).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Written by cairn from its multihost server's config; every change here is replaced.\n{body}"
    ))
}

/// Reads the managed file's text back into its parts.
pub fn read_managed(text: &str) -> Result<ManagedParts, String> {
    let document: Table = text.parse().map_err(|e: toml::de::Error| {
        format!("invalid TOML: {}", e.message().replace('\n', " "))
    })?;
    let number = |key: &str| {
        document
            .get(key)
            .and_then(Value::as_integer)
            .unwrap_or(0)
            .max(0) as u64
    };
    let shared_names: Vec<&str> = document
        .get("shared")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let (shared, repositories): (Vec<TableItem>, Vec<TableItem>) =
        named(&document, "repositories")?
            .into_iter()
            .partition(|item| shared_names.contains(&item.name.as_str()));
    Ok(ManagedParts {
        generation: number("generation"),
        pushed: TableItems {
            plans: named(&document, "plans")?,
            repositories,
        },
        shared_generation: number("shared_generation"),
        shared,
    })
}

/// A shared repository as the server sends it: its location and its password (inside the
/// encrypted session only; the client seals it at once, [`seal_shared`]).
pub fn shared_item(name: &str, location: &str, password: &str) -> Result<TableItem, String> {
    let mut table = Table::new();
    table.insert("location".into(), Value::String(location.into()));
    table.insert("password".into(), Value::String(password.into()));
    item(name, &table)
}

/// A shared repository as the client keeps it: the password replaced by `seal(purpose,
/// password)` (sealed with the client's instance key), nothing else than the location.
pub fn seal_shared(
    item: &TableItem,
    seal: impl Fn(&str, &[u8]) -> String,
) -> Result<TableItem, String> {
    let table = parse_body(item)?;
    let text = |key: &str| {
        table
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("shared repository {:?} has no {key}", item.name))
    };
    let (location, password) = (text("location")?, text("password")?);
    let mut kept = Table::new();
    kept.insert("location".into(), Value::String(location.into()));
    let purpose = crate::secret::shared_password_purpose(&item.name);
    kept.insert(
        "password_sealed".into(),
        Value::String(seal(&purpose, password.as_bytes())),
    );
    self::item(&item.name, &kept)
}

/// Keys whose value is a secret (or sealed ciphertext): never reported.
fn is_secret_key(key: &str) -> bool {
    key.ends_with("_sealed")
        || key == "password"
        || key == "secret_access_key"
        || key == "access_key_id"
}

/// A table with its secrets left out: sealed values and inline secrets removed, a password
/// command (which may hold a password) replaced by a mark. File names stay (names only).
fn without_secrets(table: &Table) -> Table {
    let mut out = Table::new();
    for (key, value) in table {
        if is_secret_key(key) {
            continue;
        }
        let value = match value {
            Value::Table(inner) => Value::Table(without_secrets(inner)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| match item {
                        Value::Table(inner) => Value::Table(without_secrets(inner)),
                        other => other.clone(),
                    })
                    .collect(),
            ),
            Value::String(_) if key == "password_command" || key.ends_with("_command") => {
                Value::String("(not reported)".into())
            }
            other => other.clone(),
        };
        out.insert(key.clone(), value);
    }
    out
}

/// The config's plans and repositories (its file's and the managed file's) as reported to a
/// multihost server: secrets left out.
pub fn reported_items(config: &Config) -> TableItems {
    let mut sources = vec![config.source().text().to_string()];
    if let Some(path) = &config.managed.path {
        if let Ok(text) = std::fs::read_to_string(path) {
            sources.push(text);
        }
    }
    let mut items = TableItems::default();
    for text in sources {
        let Ok(document) = text.parse::<Table>() else {
            continue;
        };
        for (key, list) in [
            ("plans", &mut items.plans),
            ("repositories", &mut items.repositories),
        ] {
            let Some(Value::Table(tables)) = document.get(key) else {
                continue;
            };
            for (name, value) in tables {
                let in_model = if key == "plans" {
                    config.plans.contains_key(name)
                } else {
                    config.repositories.contains_key(name)
                };
                if let (true, Value::Table(table)) = (in_model, value) {
                    if let Ok(item) = item(name, &without_secrets(table)) {
                        list.push(item);
                    }
                }
            }
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_split_and_managed_files_round_trip() {
        let items = split_fragment(
            "[repositories.r]\nlocation = \"/srv/r\"\npassword_file = \"/etc/r.pass\"\n\n\
             [plans.p]\nrepository = \"r\"\nsources = [\"/home\"]\n",
        )
        .unwrap();
        assert_eq!(items.plans[0].repository.as_deref(), Some("r"));
        assert!(split_fragment("state_dir = \"/x\"").is_err());
        assert!(split_fragment("").is_err());
        let parts = ManagedParts {
            generation: 4,
            pushed: items,
            shared_generation: 2,
            shared: vec![TableItem {
                name: "team".into(),
                repository: None,
                toml: "location = \"/srv/team\"\npassword_sealed = \"sealed:v1:x\"\n".into(),
            }],
        };
        let text = compose_managed(&parts).unwrap();
        assert_eq!(read_managed(&text).unwrap(), parts);
    }

    #[test]
    fn secrets_are_left_out() {
        let table: Table = "password_command = \"echo hunter2\"\npassword_file = \"/p\"\n\
                            password_sealed = \"sealed:v1:abc\"\n\
                            [offsite]\nsecret_access_key_sealed = \"sealed:v1:def\"\n"
            .parse()
            .unwrap();
        let text = toml::to_string(&without_secrets(&table)).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("sealed:v1"),
            "{text}"
        );
        assert!(text.contains("/p"), "{text}");
    }
}

//! Editing `cairn.toml` in place: what the web UI's plan and offsite forms do.
//!
//! The file stays the single source of truth. An edit starts from the text the running
//! config was read from ([`ConfigEdit::new`]), changes single fields in a `toml_edit`
//! document, so the user's comments, key order, blank lines and inline-or-section style
//! survive (a changed value keeps the comment after it), and is then checked by the real
//! loader ([`ConfigEdit::validate`]: [`Config::parse`] and the referenced-file checks), so an
//! error carries the [`KeyPath`] and position of the bad field exactly as `cairn config
//! validate` would report it. Only a text that validates is written, with
//! [`write_atomically`]; the caller then hands the returned [`Config`] to the daemon.
//!
//! Fields are checked against a schema ([`fields`]) before anything changes: an unknown
//! field or a value of the wrong type is an [`EditError`] naming the field and the known
//! ones. Secrets never pass through here in plaintext: an offsite's S3 key pair arrives
//! sealed (`sealed:v1:…`, sealed by the caller with the instance key).
//!
//! # Layout
//! - [`fields`]: the editable fields of a plan and of an offsite, with their TOML types.
//! - [`value`]: [`EditValue`], the JSON-shaped values an edit writes.
//! - `write`: [`write_atomically`].

pub mod fields;
mod value;
mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::config::Config;
use crate::error::{ConfigError, ConfigErrors};
use crate::files::check_referenced_files;
use crate::positions::{KeyPath, Segment};
use crate::source::SourceText;
use fields::{lookup, Field, FieldType, OFFSITE_FIELDS, PLAN_FIELDS, SEALED_KEYS};

pub use value::EditValue;
pub use write::{write_atomically, WriteError};

/// What kind of refusal an [`EditError`] is (the API maps it to a status code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditErrorKind {
    /// A field the form does not edit, or a value of the wrong type.
    InvalidField,
    /// The plan or repository does not exist.
    NotFound,
    /// A plan of that name exists already.
    Exists,
}

/// An edit refused before the file was touched: which field, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EditError {
    pub kind: EditErrorKind,
    /// The field as the form names it (`schedule`, `retention.keep_daily`); empty when the
    /// error is about the whole plan or repository.
    pub field: String,
    pub message: String,
}

impl EditError {
    fn invalid(field: &str, message: String) -> EditError {
        EditError {
            kind: EditErrorKind::InvalidField,
            field: field.to_string(),
            message,
        }
    }
}

/// A config file being edited: the document and where it is written back.
#[derive(Debug, Clone)]
pub struct ConfigEdit {
    path: PathBuf,
    document: DocumentMut,
}

impl ConfigEdit {
    /// An edit of the text `config` was read from.
    pub fn new(config: &Config) -> Result<ConfigEdit, EditError> {
        let source = config.source();
        let document = source
            .text()
            .parse::<DocumentMut>()
            .map_err(|e| EditError {
                kind: EditErrorKind::InvalidField,
                field: String::new(),
                message: format!(
                    "{} cannot be edited: {}",
                    source.path().display(),
                    e.message()
                ),
            })?;
        Ok(ConfigEdit {
            path: source.path().to_path_buf(),
            document,
        })
    }

    /// The config file this edit is written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The edited text.
    pub fn text(&self) -> String {
        self.document.to_string()
    }

    /// Reads the edited text as `cairn config validate` and the daemon's reload do: the
    /// config, or every error with its key path and position.
    pub fn validate(&self) -> Result<Config, ConfigErrors> {
        let config = Config::parse(SourceText::new(&self.path, self.text()))?;
        let file_errors = check_referenced_files(&config);
        if !file_errors.is_empty() {
            return Err(ConfigErrors::new(file_errors));
        }
        Ok(config)
    }

    /// The plan's editable fields as the file writes them; `None`: no such plan.
    pub fn plan_fields(&self, plan: &str) -> Option<BTreeMap<String, EditValue>> {
        let table = self.document.get("plans")?.get(plan)?.as_table_like()?;
        Some(fields_of(table, PLAN_FIELDS, &[]))
    }

    /// Sets one field of a plan: `schedule`, or `retention.keep_daily` inside its table.
    pub fn set_plan_field(
        &mut self,
        plan: &str,
        field: &str,
        value: &EditValue,
    ) -> Result<(), EditError> {
        let table = self.plan_table(plan)?;
        set_field(table, PLAN_FIELDS, field, value)
    }

    /// Removes one field of a plan (nothing when it is not written).
    pub fn remove_plan_field(&mut self, plan: &str, field: &str) -> Result<(), EditError> {
        let table = self.plan_table(plan)?;
        remove_field(table, PLAN_FIELDS, field)
    }

    /// Adds an empty `[plans.NAME]` after the last plan; its fields are set next.
    pub fn add_plan(&mut self, plan: &str) -> Result<(), EditError> {
        if let Some(problem) = crate::names::name_problem(plan) {
            return Err(EditError::invalid(
                "name",
                format!("plan name {plan:?} {problem}; {}", crate::names::NAME_FORM),
            ));
        }
        let plans = self
            .document
            .entry("plans")
            .or_insert_with(|| {
                let mut plans = Table::new();
                plans.set_implicit(true);
                Item::Table(plans)
            })
            .as_table_like_mut()
            .ok_or_else(|| EditError::invalid("", "plans is not a table in the file".into()))?;
        if plans.contains_key(plan) {
            return Err(EditError {
                kind: EditErrorKind::Exists,
                field: "name".into(),
                message: format!("a plan named {plan:?} exists already; choose another name"),
            });
        }
        plans.insert(plan, Item::Table(Table::new()));
        Ok(())
    }

    /// Removes `[plans.NAME]` with everything below it (hooks, dumps, drill).
    pub fn remove_plan(&mut self, plan: &str) -> Result<(), EditError> {
        self.plan_table(plan)?;
        let plans = self
            .document
            .get_mut("plans")
            .and_then(Item::as_table_like_mut)
            .expect("plan_table found it");
        plans.remove(plan);
        Ok(())
    }

    /// The offsite's editable fields as the file writes them (never the sealed key pair);
    /// `None`: no such repository, or it has no offsite.
    pub fn offsite_fields(&self, repository: &str) -> Option<BTreeMap<String, EditValue>> {
        let table = self
            .document
            .get("repositories")?
            .get(repository)?
            .get("offsite")?
            .as_table_like()?;
        Some(fields_of(table, OFFSITE_FIELDS, &SEALED_KEYS))
    }

    /// Sets one field of a repository's offsite, creating `[repositories.NAME.offsite]` when
    /// the repository has none. Setting `credentials_file` drops a sealed key pair: the file
    /// becomes the one source of credentials.
    pub fn set_offsite_field(
        &mut self,
        repository: &str,
        field: &str,
        value: &EditValue,
    ) -> Result<(), EditError> {
        let table = self.offsite_table(repository)?;
        set_field(table, OFFSITE_FIELDS, field, value)?;
        if field == "credentials_file" {
            for key in SEALED_KEYS {
                table.remove(key);
            }
        }
        Ok(())
    }

    pub fn remove_offsite_field(&mut self, repository: &str, field: &str) -> Result<(), EditError> {
        let table = self.offsite_table(repository)?;
        remove_field(table, OFFSITE_FIELDS, field)
    }

    /// Stores a sealed S3 key pair (values from `cairn_access::InstanceKey::seal` with the
    /// purposes of [`crate::SealedCredentials::purposes`]) in place of a credentials file.
    pub fn set_offsite_sealed_credentials(
        &mut self,
        repository: &str,
        access_key_id_sealed: &str,
        secret_access_key_sealed: &str,
    ) -> Result<(), EditError> {
        for (key, sealed) in [
            ("access_key_id", access_key_id_sealed),
            ("secret_access_key", secret_access_key_sealed),
        ] {
            if !sealed.starts_with(crate::SEALED_PREFIX) {
                // Never written: a plaintext secret must not reach the file.
                return Err(EditError::invalid(
                    key,
                    format!("{key} must be sealed with the instance key before it is stored"),
                ));
            }
        }
        let table = self.offsite_table(repository)?;
        table.remove("credentials_file");
        let [id_key, secret_key] = SEALED_KEYS;
        replace_value(
            table,
            id_key,
            &EditValue::String(access_key_id_sealed.into()),
        );
        replace_value(
            table,
            secret_key,
            &EditValue::String(secret_access_key_sealed.into()),
        );
        Ok(())
    }

    /// Points the repository at another location (a server restore writes repositories
    /// restored from their offsites to new directories); the line's comment stays.
    pub fn set_repository_location(
        &mut self,
        repository: &str,
        location: &str,
    ) -> Result<(), EditError> {
        let table = self.repository_table(repository)?;
        set_keeping_decor(table.entry("location").or_insert(Item::None), location);
        Ok(())
    }

    /// Sets the top-level `state_dir` (a server restore into another directory).
    pub fn set_state_dir(&mut self, state_dir: &str) {
        let item = self.document.entry("state_dir").or_insert(Item::None);
        set_keeping_decor(item, state_dir);
    }

    /// Removes the repository's offsite table.
    pub fn remove_offsite(&mut self, repository: &str) -> Result<(), EditError> {
        self.repository_table(repository)?.remove("offsite");
        Ok(())
    }

    fn plan_table(&mut self, plan: &str) -> Result<&mut dyn TableLike, EditError> {
        self.document
            .get_mut("plans")
            .and_then(Item::as_table_like_mut)
            .and_then(|plans| plans.get_mut(plan))
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| EditError {
                kind: EditErrorKind::NotFound,
                field: String::new(),
                message: format!("the config has no plan {plan:?}"),
            })
    }

    fn repository_table(&mut self, repository: &str) -> Result<&mut dyn TableLike, EditError> {
        self.document
            .get_mut("repositories")
            .and_then(Item::as_table_like_mut)
            .and_then(|repositories| repositories.get_mut(repository))
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| EditError {
                kind: EditErrorKind::NotFound,
                field: String::new(),
                message: format!("the config has no repository {repository:?}"),
            })
    }

    fn offsite_table(&mut self, repository: &str) -> Result<&mut dyn TableLike, EditError> {
        let table = self.repository_table(repository)?;
        table
            .entry("offsite")
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_like_mut()
            .ok_or_else(|| {
                EditError::invalid(
                    "",
                    format!("offsite of repository {repository:?} is not a table in the file"),
                )
            })
    }
}

/// The field an error is about, as the form names it: its key path below `table`
/// (`plans.web.retention.keep_daily` below `plans.web` is `retention.keep_daily`). `None`
/// when the error is about something outside the table.
pub fn field_of(error: &ConfigError, table: &KeyPath) -> Option<String> {
    let path = error.key_path()?;
    let rest = path.segments().strip_prefix(table.segments())?;
    let mut field = String::new();
    for segment in rest {
        match segment {
            Segment::Key(key) => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Index(index) => field.push_str(&format!("[{index}]")),
        }
    }
    Some(field)
}

fn fields_of(
    table: &dyn TableLike,
    fields: &[Field],
    hidden: &[&str],
) -> BTreeMap<String, EditValue> {
    table
        .iter()
        .filter(|(key, _)| fields.iter().any(|f| f.name == *key) && !hidden.contains(key))
        .filter_map(|(key, item)| Some((key.to_string(), EditValue::from_item(item)?)))
        .collect()
}

fn set_field(
    table: &mut dyn TableLike,
    fields: &'static [Field],
    name: &str,
    value: &EditValue,
) -> Result<(), EditError> {
    let (top, sub) = lookup(fields, name).map_err(|message| EditError::invalid(name, message))?;
    let kind = sub.map_or(top.kind, |sub| sub.kind);
    value
        .check(name, kind)
        .map_err(|message| EditError::invalid(name, message))?;
    match (sub, top.kind, value) {
        (Some(sub), _, _) => {
            let container = container(table, top)?;
            replace_value(container, sub.name, value);
        }
        // A section is edited key by key so that its comments and layout stay.
        (None, FieldType::Section(subfields), EditValue::Table(entries)) => {
            let container = container(table, top)?;
            for field in subfields {
                if !entries.contains_key(field.name) {
                    container.remove(field.name);
                }
            }
            for (key, value) in entries {
                replace_value(container, key, value);
            }
        }
        (None, _, _) => replace_value(table, top.name, value),
    }
    Ok(())
}

/// The table a subfield lives in, created in the field's style when missing.
fn container(table: &mut dyn TableLike, field: Field) -> Result<&mut dyn TableLike, EditError> {
    table
        .entry(field.name)
        .or_insert_with(|| match field.kind {
            FieldType::Section(_) => Item::Table(Table::new()),
            _ => Item::Value(Value::InlineTable(InlineTable::new())),
        })
        .as_table_like_mut()
        .ok_or_else(|| {
            EditError::invalid(
                field.name,
                format!(
                    "{} is not a table in the file; set the whole {} instead",
                    field.name, field.name
                ),
            )
        })
}

/// Writes `value` at `key`, keeping the old value's surroundings (the spaces and the comment
/// after it) and the key's place; a new key goes last.
fn replace_value(table: &mut dyn TableLike, key: &str, value: &EditValue) {
    let mut new = value.to_toml();
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        Some(item) => *item = Item::Value(new),
        None => {
            table.insert(key, Item::Value(new));
        }
    }
}

fn remove_field(
    table: &mut dyn TableLike,
    fields: &'static [Field],
    name: &str,
) -> Result<(), EditError> {
    let (top, sub) = lookup(fields, name).map_err(|message| EditError::invalid(name, message))?;
    let Some(sub) = sub else {
        table.remove(top.name);
        return Ok(());
    };
    let Some(item) = table.get_mut(top.name) else {
        return Ok(());
    };
    if let Some(inline) = item.as_inline_table_mut() {
        remove_inline(inline, sub.name);
    }
    let Some(container) = item.as_table_like_mut() else {
        return Ok(());
    };
    container.remove(sub.name);
    if container.is_empty() {
        table.remove(top.name);
    }
    Ok(())
}

/// Removes a key of an inline table; when it was the last, the spacing before `}` it carried
/// moves to the new last value (`{ a = 1, b = 2 }` becomes `{ a = 1 }`, not `{ a = 1}`).
fn remove_inline(inline: &mut InlineTable, key: &str) {
    let was_last = inline.iter().last().is_some_and(|(last, _)| last == key);
    let Some(removed) = inline.remove(key) else {
        return;
    };
    if was_last {
        if let (Some((_, last)), Some(suffix)) =
            (inline.iter_mut().last(), removed.decor().suffix().cloned())
        {
            last.decor_mut().set_suffix(suffix);
        }
    }
}

/// Replaces a string value, keeping the comments and spacing around it.
fn set_keeping_decor(item: &mut Item, text: &str) {
    let decor = item.as_value().map(|value| value.decor().clone());
    let mut value = Value::from(text);
    if let Some(decor) = decor {
        *value.decor_mut() = decor;
    }
    *item = Item::Value(value);
}

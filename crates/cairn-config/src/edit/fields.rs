//! Which fields an edit may set, and the TOML type each takes. The list mirrors `raw.rs`
//! (the serde schema); a field that is not here is refused before anything is changed, with
//! the known ones named, so a typo in a form never reaches the file.

/// The TOML shape of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Strings,
    Integer,
    Boolean,
    /// A table written inline (`retention = { keep_daily = 7 }`), as the example writes it.
    InlineTable(&'static [Field]),
    /// A table written as its own section (`[plans.web.hooks]`).
    Section(&'static [Field]),
}

impl FieldType {
    /// How the type reads in a message: "a list of strings".
    pub fn describe(self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::Strings => "a list of strings",
            FieldType::Integer => "an integer",
            FieldType::Boolean => "true or false",
            FieldType::InlineTable(_) | FieldType::Section(_) => "a table",
        }
    }

    pub fn subfields(self) -> Option<&'static [Field]> {
        match self {
            FieldType::InlineTable(fields) | FieldType::Section(fields) => Some(fields),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldType,
}

const fn field(name: &'static str, kind: FieldType) -> Field {
    Field { name, kind }
}

use FieldType::{Boolean, InlineTable, Integer, Section, String, Strings};

const RETENTION: &[Field] = &[
    field("keep_last", Integer),
    field("keep_hourly", Integer),
    field("keep_daily", Integer),
    field("keep_weekly", Integer),
    field("keep_monthly", Integer),
    field("keep_yearly", Integer),
    field("keep_within", String),
    field("keep_within_hourly", String),
    field("keep_within_daily", String),
    field("keep_within_weekly", String),
    field("keep_within_monthly", String),
    field("keep_within_yearly", String),
    field("keep_tag", Strings),
];

const CHECK: &[Field] = &[field("every", String), field("read_data_subset", String)];

const HOOKS: &[Field] = &[
    field("before_backup", Strings),
    field("after_backup", Strings),
    field("on_error", Strings),
    field("finally", Strings),
    field("timeout", String),
];

const OBJECT_LOCK: &[Field] = &[field("mode", String), field("days", Integer)];

const DRILL: &[Field] = &[
    field("schedule", String),
    field("sample", String),
    field("sample_min_files", Integer),
];

/// The fields of `[plans.NAME]` the UI edits (database dumps are edited in the file).
pub const PLAN_FIELDS: &[Field] = &[
    field("repository", String),
    field("sources", Strings),
    field("exclude", Strings),
    field("exclude_if_present", Strings),
    field("one_file_system", Boolean),
    field("tags", Strings),
    field("host", String),
    field("schedule", String),
    field("timezone", String),
    field("retention", InlineTable(RETENTION)),
    field("check", InlineTable(CHECK)),
    field("catch_up", Boolean),
    field("retries", Integer),
    field("stale_after", String),
    field("hooks", Section(HOOKS)),
    field("drill", Section(DRILL)),
];

/// The fields of `[repositories.NAME.offsite]` the UI edits. The sealed key pair is set
/// through [`super::ConfigEdit::set_offsite_sealed_credentials`] only.
pub const OFFSITE_FIELDS: &[Field] = &[
    field("destination", String),
    field("credentials_file", String),
    field("bwlimit", String),
    field("storage_class", String),
    field("sse", String),
    field("delete_after", String),
    field("transfers", Integer),
    field("stale_after", String),
    field("object_lock", InlineTable(OBJECT_LOCK)),
];

/// The offsite keys that hold the sealed key pair.
pub const SEALED_KEYS: [&str; 2] = ["access_key_id_sealed", "secret_access_key_sealed"];

/// The field `name` (`schedule`, or `retention.keep_daily` one table down) among `fields`:
/// its top-level field, and the subfield when the name has one.
pub fn lookup(
    fields: &'static [Field],
    name: &str,
) -> Result<(Field, Option<Field>), std::string::String> {
    let (top, sub) = match name.split_once('.') {
        Some((top, sub)) => (top, Some(sub)),
        None => (name, None),
    };
    let known = |fields: &[Field]| fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ");
    let Some(found) = fields.iter().find(|f| f.name == top) else {
        return Err(format!(
            "{name:?} is not a field this form edits; the fields are {}",
            known(fields)
        ));
    };
    let Some(sub) = sub else {
        return Ok((*found, None));
    };
    let Some(subfields) = found.kind.subfields() else {
        return Err(format!(
            "{top} is {}, not a table; write {top} without .{sub}",
            found.kind.describe()
        ));
    };
    match subfields.iter().find(|f| f.name == sub) {
        Some(subfield) => Ok((*found, Some(*subfield))),
        None => Err(format!(
            "{name:?} is not a field this form edits; {top} has {}",
            known(subfields)
        )),
    }
}

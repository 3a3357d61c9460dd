//! The values an edit writes: the few TOML shapes the schema uses, read from JSON as they
//! come (`"0 4 * * *"`, `["/etc"]`, `7`, `true`, `{"keep_daily": 7}`), checked against the
//! field's type, and turned into `toml_edit` values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml_edit::{Array, InlineTable, Item, Value};

use super::fields::FieldType;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EditValue {
    Boolean(bool),
    Integer(i64),
    String(String),
    Strings(Vec<String>),
    Table(BTreeMap<String, EditValue>),
}

impl EditValue {
    fn describe(&self) -> &'static str {
        match self {
            EditValue::Boolean(_) => "true or false",
            EditValue::Integer(_) => "an integer",
            EditValue::String(_) => "a string",
            EditValue::Strings(_) => "a list of strings",
            EditValue::Table(_) => "a table",
        }
    }

    /// Whether the value has the field's type; the error says what to write.
    pub fn check(&self, field: &str, kind: FieldType) -> Result<(), String> {
        let matches = matches!(
            (self, kind),
            (EditValue::Boolean(_), FieldType::Boolean)
                | (EditValue::Integer(_), FieldType::Integer)
                | (EditValue::String(_), FieldType::String)
                | (EditValue::Strings(_), FieldType::Strings)
                | (
                    EditValue::Table(_),
                    FieldType::InlineTable(_) | FieldType::Section(_)
                )
        );
        if !matches {
            return Err(format!(
                "{field} is {}; write {}",
                self.describe(),
                kind.describe()
            ));
        }
        if let (EditValue::Table(entries), Some(subfields)) = (self, kind.subfields()) {
            for (key, value) in entries {
                let name = format!("{field}.{key}");
                let Some(subfield) = subfields.iter().find(|f| f.name == key) else {
                    let known: Vec<&str> = subfields.iter().map(|f| f.name).collect();
                    return Err(format!(
                        "{name:?} is not a field this form edits; {field} has {}",
                        known.join(", ")
                    ));
                };
                value.check(&name, subfield.kind)?;
            }
        }
        Ok(())
    }

    /// The value as TOML; a table becomes an inline table.
    pub fn to_toml(&self) -> Value {
        match self {
            EditValue::Boolean(b) => Value::from(*b),
            EditValue::Integer(n) => Value::from(*n),
            EditValue::String(s) => Value::from(s.as_str()),
            EditValue::Strings(items) => {
                Value::Array(items.iter().map(String::as_str).collect::<Array>())
            }
            EditValue::Table(entries) => {
                let mut table = InlineTable::new();
                for (key, value) in entries {
                    table.insert(key, value.to_toml());
                }
                Value::InlineTable(table)
            }
        }
    }

    /// A value as the file holds it, when it has one of the shapes above (dates and floats
    /// the schema never uses are left out).
    pub fn from_item(item: &Item) -> Option<EditValue> {
        match item {
            Item::Value(value) => EditValue::from_value(value),
            Item::Table(table) => Some(EditValue::Table(
                table
                    .iter()
                    .filter_map(|(key, item)| Some((key.to_string(), EditValue::from_item(item)?)))
                    .collect(),
            )),
            Item::None | Item::ArrayOfTables(_) => None,
        }
    }

    fn from_value(value: &Value) -> Option<EditValue> {
        Some(match value {
            Value::Boolean(b) => EditValue::Boolean(*b.value()),
            Value::Integer(n) => EditValue::Integer(*n.value()),
            Value::String(s) => EditValue::String(s.value().clone()),
            Value::Array(items) => EditValue::Strings(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()?,
            ),
            Value::InlineTable(table) => EditValue::Table(
                table
                    .iter()
                    .filter_map(|(key, v)| Some((key.to_string(), EditValue::from_value(v)?)))
                    .collect(),
            ),
            Value::Float(_) | Value::Datetime(_) => return None,
        })
    }
}

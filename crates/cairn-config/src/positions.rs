//! Where every key and value of the file is: key paths (`plans.web.schedule`) to byte spans.
//!
//! Recorded once from the parsed document for every key, known or not, so errors can name the
//! position of any value, and the web UI can put a message beside the field it belongs to
//! (and, later, edit the file in place with `toml_edit`, whose spans are the same bytes).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One step of a key path: a table key or an index into an array (of tables).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// The path of a value from the document root: `plans.web.postgresql[0].database`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath::default()
    }

    /// A path of keys only: `KeyPath::of(&["plans", "web", "schedule"])`.
    pub fn of(keys: &[&str]) -> KeyPath {
        KeyPath(
            keys.iter()
                .map(|k| Segment::Key((*k).to_string()))
                .collect(),
        )
    }

    pub fn key(&self, key: &str) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_string()));
        path
    }

    pub fn index(&self, index: usize) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn parent(&self) -> Option<KeyPath> {
        let (_, rest) = self.0.split_last()?;
        Some(KeyPath(rest.to_vec()))
    }

    /// The last key and the indexes after it: `sources[1]`, `database`.
    pub fn leaf(&self) -> String {
        let start = self
            .0
            .iter()
            .rposition(|s| matches!(s, Segment::Key(_)))
            .unwrap_or(0);
        KeyPath(self.0[start..].to_vec()).to_string()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The spans of one entry: its key (absent for array elements) and its value. For a table
/// written as `[header]`, the value span is the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySpan {
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
}

/// Every entry of a document by key path.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    entries: BTreeMap<KeyPath, EntrySpan>,
}

impl Positions {
    pub fn of_document(document: &Spanned<DeTable<'_>>) -> Positions {
        let mut positions = Positions::default();
        positions.entries.insert(
            KeyPath::root(),
            EntrySpan {
                key: None,
                value: document.span(),
            },
        );
        positions.record_table(&KeyPath::root(), document.get_ref());
        positions
    }

    fn record_table(&mut self, path: &KeyPath, table: &DeTable<'_>) {
        for (key, value) in table {
            let child = path.key(key.get_ref());
            self.entries.insert(
                child.clone(),
                EntrySpan {
                    key: Some(key.span()),
                    value: value.span(),
                },
            );
            self.record_value(&child, value.get_ref());
        }
    }

    fn record_value(&mut self, path: &KeyPath, value: &DeValue<'_>) {
        match value {
            DeValue::Table(table) => self.record_table(path, table),
            DeValue::Array(array) => {
                for (index, element) in array.iter().enumerate() {
                    let child = path.index(index);
                    self.entries.insert(
                        child.clone(),
                        EntrySpan {
                            key: None,
                            value: element.span(),
                        },
                    );
                    self.record_value(&child, element.get_ref());
                }
            }
            _ => {}
        }
    }

    pub fn get(&self, path: &KeyPath) -> Option<&EntrySpan> {
        self.entries.get(path)
    }

    /// Where an error about this path belongs: the value, else the nearest recorded ancestor's
    /// value (a missing key is reported at its table).
    pub fn value_span(&self, path: &KeyPath) -> Option<Range<usize>> {
        let mut path = path.clone();
        loop {
            if let Some(entry) = self.entries.get(&path) {
                return Some(entry.value.clone());
            }
            path = path.parent()?;
        }
    }

    /// Where the key of this path is written (the value's position for array elements).
    pub fn key_span(&self, path: &KeyPath) -> Option<Range<usize>> {
        let entry = self.entries.get(path)?;
        Some(entry.key.clone().unwrap_or_else(|| entry.value.clone()))
    }

    /// The entry a span belongs to: the one whose key is that span, else the innermost value
    /// holding it.
    pub fn path_at(&self, span: &Range<usize>) -> Option<&KeyPath> {
        if let Some((path, _)) = self
            .entries
            .iter()
            .find(|(_, entry)| entry.key.as_ref() == Some(span))
        {
            return Some(path);
        }
        self.entries
            .iter()
            .filter(|(_, entry)| entry.value.start <= span.start && span.end <= entry.value.end)
            .min_by_key(|(path, entry)| (entry.value.len(), std::cmp::Reverse(path.0.len())))
            .map(|(path, _)| path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_as_dotted_keys() {
        let path = KeyPath::of(&["plans", "web"])
            .key("postgresql")
            .index(0)
            .key("database");
        assert_eq!(path.to_string(), "plans.web.postgresql[0].database");
        assert_eq!(path.leaf(), "database");
        assert_eq!(
            KeyPath::of(&["plans", "web"])
                .key("sources")
                .index(1)
                .leaf(),
            "sources[1]"
        );
        assert_eq!(
            KeyPath::of(&["plans", "my plan"]).to_string(),
            "plans.\"my plan\""
        );
    }

    #[test]
    fn every_key_and_value_has_its_span() {
        let text =
            "[plans.web]\nsources = [\"/etc\", \"/srv\"]\n[[plans.web.sqlite]]\nname = \"g\"\n";
        let document = DeTable::parse(text).unwrap();
        let positions = Positions::of_document(&document);
        let slice = |span: Range<usize>| &text[span];
        let sources = KeyPath::of(&["plans", "web", "sources"]);
        assert_eq!(slice(positions.key_span(&sources).unwrap()), "sources");
        assert_eq!(
            slice(positions.value_span(&sources.index(1)).unwrap()),
            "\"/srv\""
        );
        let name = KeyPath::of(&["plans", "web", "sqlite"])
            .index(0)
            .key("name");
        assert_eq!(slice(positions.value_span(&name).unwrap()), "\"g\"");
        // A missing key is placed at its table.
        let missing = KeyPath::of(&["plans", "web", "repository"]);
        assert_eq!(
            slice(positions.value_span(&missing).unwrap()),
            "[plans.web]"
        );
        // And a span leads back to its path.
        let at = text.find("\"/srv\"").unwrap();
        assert_eq!(positions.path_at(&(at..at + 6)), Some(&sources.index(1)));
        let key = text.find("name").unwrap();
        assert_eq!(positions.path_at(&(key..key + 4)), Some(&name));
    }
}

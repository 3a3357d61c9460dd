//! Checking the values of one table while the model is built: each problem reported at its
//! key's position, in words that name the table the way a person thinks of it.

use std::fmt::Display;
use std::path::PathBuf;

use crate::error::{ErrorKind, Reporter};
use crate::positions::{KeyPath, Segment};

/// How a table is named in messages: `plan "web"`, `offsite of repository "main"`,
/// `postgresql dump 2 of plan "web"`.
pub fn label_of(path: &KeyPath) -> String {
    let keys: Vec<String> = path
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Key(k) => k.clone(),
            Segment::Index(i) => i.to_string(),
        })
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    match keys.as_slice() {
        [] => "the top level".into(),
        ["repositories", name] => format!("repository {name:?}"),
        ["repositories", name, table] => format!("{table} of repository {name:?}"),
        ["plans", name] => format!("plan {name:?}"),
        ["plans", name, kind @ ("postgresql" | "mariadb" | "sqlite"), index] => {
            let number = index.parse::<usize>().map_or(0, |i| i + 1);
            format!("{kind} dump {number} of plan {name:?}")
        }
        ["plans", name, table] => format!("{table} of plan {name:?}"),
        _ => format!("[{path}]"),
    }
}

/// One table being checked; every method reports at the position of the key it is given.
pub struct Section<'r, 'a> {
    reporter: &'r mut Reporter<'a>,
    path: KeyPath,
    errors_before: usize,
}

impl<'r, 'a> Section<'r, 'a> {
    pub fn new(reporter: &'r mut Reporter<'a>, path: KeyPath) -> Section<'r, 'a> {
        let errors_before = reporter.error_count();
        Section {
            reporter,
            path,
            errors_before,
        }
    }

    pub fn path(&self) -> &KeyPath {
        &self.path
    }

    pub fn label(&self) -> String {
        label_of(&self.path)
    }

    pub fn key(&self, key: &str) -> KeyPath {
        self.path.key(key)
    }

    pub fn reporter(&mut self) -> &mut Reporter<'a> {
        self.reporter
    }

    /// Whether anything was reported since this section was opened.
    pub fn failed(&self) -> bool {
        self.reporter.error_count() > self.errors_before
    }

    /// A bad value: `KEY: MESSAGE` at the value.
    pub fn invalid(&mut self, key: &KeyPath, message: impl Display) {
        self.reporter.at_value(
            ErrorKind::InvalidValue,
            key,
            format!("{}: {message}", key.leaf()),
        );
    }

    /// A bad value described by what it is: `KEY is empty; write …`.
    pub fn wrong(&mut self, key: &KeyPath, predicate: impl Display) {
        self.reporter.at_value(
            ErrorKind::InvalidValue,
            key,
            format!("{} {predicate}", key.leaf()),
        );
    }

    /// An error of any kind at the value of `key`.
    pub fn report(&mut self, kind: ErrorKind, key: &KeyPath, message: String) {
        self.reporter.at_value(kind, key, message);
    }

    /// A required key, or an error at the table saying what to add.
    pub fn required<T>(&mut self, key: &str, value: Option<T>, example: &str) -> Option<T> {
        if value.is_none() {
            let label = self.label();
            self.reporter.at_value(
                ErrorKind::MissingKey,
                &self.path.key(key),
                format!("{label} has no {key}; add {key} = {example}"),
            );
        }
        value
    }

    /// Parses a string value, reporting the parser's message at the value when it fails.
    pub fn parse<T, E: Display>(
        &mut self,
        key: &str,
        text: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let text = text?;
        match parse(text) {
            Ok(value) => Some(value),
            Err(error) => {
                self.invalid(&self.path.key(key), error);
                None
            }
        }
    }

    /// An absolute path (relative ones are refused: a daemon's working directory is `/`,
    /// and a path that means something else under another one is a trap).
    pub fn absolute_path(&mut self, key: &KeyPath, text: &str, example: &str) -> Option<PathBuf> {
        if text.starts_with('/') {
            Some(PathBuf::from(text))
        } else {
            self.invalid(
                key,
                format!("{text:?} is not an absolute path; write one from /, e.g. {example:?}"),
            );
            None
        }
    }

    /// A count of 0 or more.
    pub fn count(&mut self, key: &str, value: Option<i64>) -> u32 {
        let Some(value) = value else { return 0 };
        match u32::try_from(value) {
            Ok(count) => count,
            Err(_) => {
                self.invalid(
                    &self.path.key(key),
                    format!(
                        "{value} is not a count; write a whole number from 0 to {}",
                        u32::MAX
                    ),
                );
                0
            }
        }
    }

    /// A TCP port.
    pub fn port(&mut self, key: &str, value: Option<i64>, default: u16) -> u16 {
        let Some(value) = value else { return default };
        match u16::try_from(value) {
            Ok(port) if port > 0 => port,
            _ => {
                self.invalid(
                    &self.path.key(key),
                    format!(
                        "{value} is not a port; write a number from 1 to 65535, e.g. {default}"
                    ),
                );
                default
            }
        }
    }

    /// A string that must hold something.
    pub fn non_empty(&mut self, key: &KeyPath, text: &str, example: &str) -> bool {
        if text.trim().is_empty() {
            self.wrong(key, format!("is empty; write e.g. {example:?}"));
            false
        } else {
            true
        }
    }
}

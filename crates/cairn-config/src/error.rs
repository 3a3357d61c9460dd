//! Config errors: one line each, `FILE:LINE:COLUMN: what is wrong; what to write instead`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::positions::{KeyPath, Positions};
use crate::source::{LineColumn, SourceText};

/// What kind of mistake an error is, for callers that treat them differently (the web UI
/// puts value errors beside their field, a reload keeps the old config on any of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not valid TOML.
    Syntax,
    /// A key the schema does not have.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type or form: a bad duration, cron expression, name or path.
    InvalidValue,
    /// Keys that exclude each other are both set (two password sources), or two entries
    /// claim the same thing (two dumps to one path).
    Conflict,
    /// A reference to something the file does not define (a plan's repository).
    UnknownReference,
    /// A file the config references is missing, unreadable or readable by others.
    ReferencedFile,
}

impl ErrorKind {
    /// A stable snake_case name for JSON and APIs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Syntax => "syntax",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::MissingKey => "missing_key",
            ErrorKind::InvalidValue => "invalid_value",
            ErrorKind::Conflict => "conflict",
            ErrorKind::UnknownReference => "unknown_reference",
            ErrorKind::ReferencedFile => "referenced_file",
        }
    }
}

/// One error, with its position when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ErrorKind,
    file: PathBuf,
    position: Option<LineColumn>,
    span: Option<Range<usize>>,
    path: Option<KeyPath>,
    message: String,
}

impl ConfigError {
    /// An error about the file as a whole (it cannot be read).
    pub(crate) fn whole_file(kind: ErrorKind, file: &Path, message: String) -> ConfigError {
        ConfigError {
            kind,
            file: file.to_path_buf(),
            position: None,
            span: None,
            path: None,
            message,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Line and column (from 1) of the offending text.
    pub fn position(&self) -> Option<LineColumn> {
        self.position
    }

    /// Byte span of the offending text in the file.
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    /// The key the error is about (`plans.web.schedule`), when it is about one.
    pub fn key_path(&self) -> Option<&KeyPath> {
        self.path.as_ref()
    }

    /// The message without the file and position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Config errors are mistakes in a file: trying again does not help.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(at) => write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                at.line,
                at.column,
                self.message
            ),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in one file, in the order of their positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub(crate) fn new(mut errors: Vec<ConfigError>) -> ConfigErrors {
        debug_assert!(!errors.is_empty());
        errors.sort_by(|a, b| {
            (a.position.is_some(), a.position).cmp(&(b.position.is_some(), b.position))
        });
        errors.dedup();
        ConfigErrors(errors)
    }

    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    pub fn into_errors(self) -> Vec<ConfigError> {
        self.0
    }
}

impl fmt::Display for ConfigErrors {
    /// The first error, and how many more there are: one line, for commands that only need to
    /// say that the config is broken.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0[0])?;
        match self.0.len() {
            1 => Ok(()),
            n => write!(
                f,
                " (and {} more; `cairn config validate` lists them all)",
                n - 1
            ),
        }
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors while a document is checked, placing each at the span of its key path.
pub(crate) struct Reporter<'a> {
    source: &'a SourceText,
    positions: &'a Positions,
    errors: Vec<ConfigError>,
}

impl<'a> Reporter<'a> {
    pub fn new(source: &'a SourceText, positions: &'a Positions) -> Reporter<'a> {
        Reporter {
            source,
            positions,
            errors: Vec::new(),
        }
    }

    pub fn positions(&self) -> &'a Positions {
        self.positions
    }

    /// An error at a byte span; the key path is found from the span when not given.
    pub fn at_span(
        &mut self,
        kind: ErrorKind,
        span: Range<usize>,
        path: Option<KeyPath>,
        message: String,
    ) {
        let path = path.or_else(|| self.positions.path_at(&span).cloned());
        self.errors.push(ConfigError {
            kind,
            file: self.source.path().to_path_buf(),
            position: Some(self.source.line_column(span.start)),
            span: Some(span),
            path,
            message,
        });
    }

    /// An error about a value (at the value; a missing one at its table).
    pub fn at_value(&mut self, kind: ErrorKind, path: &KeyPath, message: String) {
        match self.positions.value_span(path) {
            Some(span) => self.at_span(kind, span, Some(path.clone()), message),
            None => self.errors.push(ConfigError {
                kind,
                file: self.source.path().to_path_buf(),
                position: None,
                span: None,
                path: Some(path.clone()),
                message,
            }),
        }
    }

    /// An error about a key itself (its name).
    pub fn at_key(&mut self, kind: ErrorKind, path: &KeyPath, message: String) {
        match self.positions.key_span(path) {
            Some(span) => self.at_span(kind, span, Some(path.clone()), message),
            None => self.at_value(kind, path, message),
        }
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }
}

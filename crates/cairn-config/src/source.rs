//! The config text as read, and turning byte offsets into the lines and columns people see.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// A line and column, both from 1; the column counts characters, not bytes, as editors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineColumn {
    pub line: usize,
    pub column: usize,
}

/// The text of one config file and where it came from. The text is kept as it was read: the
/// model is derived from it, never written back into it.
#[derive(Debug, Clone)]
pub struct SourceText {
    path: PathBuf,
    text: String,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> SourceText {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceText {
            path: path.into(),
            text,
            line_starts,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The line and column of a byte offset (clamped to the text, moved back to a character
    /// boundary).
    pub fn line_column(&self, offset: usize) -> LineColumn {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        LineColumn {
            line,
            column: self.text[start..offset].chars().count() + 1,
        }
    }

    /// The text a span covers, when the span lies inside the text.
    pub fn slice(&self, span: &Range<usize>) -> Option<&str> {
        self.text.get(span.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let source = SourceText::new("c.toml", "a = 1\nnäme = \"x\"\n\nz");
        let at = |line, column| LineColumn { line, column };
        assert_eq!(source.line_column(0), at(1, 1));
        assert_eq!(source.line_column(4), at(1, 5));
        assert_eq!(source.line_column(6), at(2, 1));
        // "ä" is two bytes and one column.
        let equals = source.text().find('=').unwrap();
        let second = source.text()[equals + 1..].find('=').unwrap() + equals + 1;
        assert_eq!(source.line_column(second), at(2, 6));
        assert_eq!(source.line_column(source.text().len() - 1), at(4, 1));
        assert_eq!(source.line_column(10_000), at(4, 2));
    }
}

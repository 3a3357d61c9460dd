//! What a backup leaves out: patterns, tag files and other file systems.

use std::io::Read;
use std::path::Path;

use super::pattern::Pattern;
use crate::{RepoError, Result};

/// The tag file `--exclude-caches` looks for, and the header it must start with
/// (<https://bford.info/cachedir/>).
pub const CACHEDIR_TAG: &str = "CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55";

/// A tag file that marks a directory's contents as excluded: `NAME` or `NAME:HEADER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFile {
    pub name: String,
    /// When set, the tag file must begin with these bytes.
    pub header: Option<Vec<u8>>,
}

impl TagFile {
    pub fn parse(spec: &str) -> Result<TagFile> {
        let (name, header) = match spec.split_once(':') {
            Some((name, header)) => (name, Some(header.as_bytes().to_vec())),
            None => (spec, None),
        };
        if name.is_empty() || name.contains('/') {
            return Err(RepoError::InvalidInput(format!(
                "invalid --exclude-if-present value {spec:?}: give a file name, optionally followed by :HEADER"
            )));
        }
        Ok(TagFile {
            name: name.to_string(),
            header,
        })
    }

    /// Whether `dir` holds this tag file (with the right header).
    fn is_in(&self, dir: &Path) -> bool {
        let path = dir.join(&self.name);
        match &self.header {
            None => std::fs::symlink_metadata(&path).is_ok(),
            Some(header) => {
                let mut start = vec![0u8; header.len()];
                std::fs::File::open(&path)
                    .and_then(|mut f| f.read_exact(&mut start))
                    .is_ok_and(|()| start == *header)
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExcludeRules {
    pub patterns: Vec<Pattern>,
    pub tag_files: Vec<TagFile>,
    /// Stay on the file system of each backup path (restic's `--one-file-system`: entries on
    /// another device, mount points included, are left out).
    pub one_file_system: bool,
}

impl ExcludeRules {
    /// Adds patterns from an exclude file: one per line, `#` comments and blank lines skipped,
    /// surrounding spaces trimmed, `$VAR`/`${VAR}` expanded (`$$` is a literal `$`), as restic.
    pub fn add_exclude_file(&mut self, path: &Path, case_insensitive: bool) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            RepoError::InvalidInput(format!("cannot read exclude file {}: {e}", path.display()))
        })?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            self.patterns
                .push(Pattern::new(&expand_env(line), case_insensitive)?);
        }
        Ok(())
    }

    /// Whether a pattern excludes the absolute path.
    pub fn excludes_path(&self, path: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(path))
    }

    /// The tag file found in `dir`, if any: then only the tag file itself is kept of its
    /// contents, as restic's `--exclude-if-present` does.
    pub fn tag_in(&self, dir: &Path) -> Option<&TagFile> {
        self.tag_files.iter().find(|t| t.is_in(dir))
    }

    /// Patterns as the snapshot records them (`excludes`).
    pub fn pattern_sources(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| p.source().to_string())
            .collect()
    }
}

fn expand_env(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some('{') => {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push_str(&std::env::var(&name).unwrap_or_default());
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
                let mut name = String::new();
                while let Some(c) = chars
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
                {
                    name.push(*c);
                    chars.next();
                }
                out.push_str(&std::env::var(&name).unwrap_or_default());
            }
            _ => out.push('$'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_files_skip_comments_and_expand_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("excludes");
        std::env::set_var("CAIRN_TEST_EXCLUDE_DIR", "cache");
        std::fs::write(&file, "# comment\n\n  *.tmp  \n/home/$CAIRN_TEST_EXCLUDE_DIR\n/x/${CAIRN_TEST_EXCLUDE_DIR}/y\na$$b\n").unwrap();
        let mut rules = ExcludeRules::default();
        rules.add_exclude_file(&file, false).unwrap();
        assert_eq!(
            rules.pattern_sources(),
            vec!["*.tmp", "/home/cache", "/x/cache/y", "a$b"]
        );
        assert!(rules.excludes_path("/a/b.tmp"));
        assert!(rules.excludes_path("/home/cache/z"));
        assert!(!rules.excludes_path("/home/other"));
    }

    #[test]
    fn tag_files_with_headers_must_match() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55\n",
        )
        .unwrap();
        let rules = ExcludeRules {
            tag_files: vec![
                TagFile::parse(CACHEDIR_TAG).unwrap(),
                TagFile::parse(".nobackup").unwrap(),
            ],
            ..Default::default()
        };
        assert_eq!(rules.tag_in(dir.path()).unwrap().name, "CACHEDIR.TAG");
        let wrong = TagFile::parse("CACHEDIR.TAG:Nope").unwrap();
        assert!(!wrong.is_in(dir.path()));
        assert!(TagFile::parse("a/b").is_err());
    }
}

//! Exclude patterns with restic's semantics (`internal/filter`).
//!
//! A pattern is a path cleaned and split at `/`; each part is a Go `filepath.Match` glob
//! (`*`, `?`, `[…]`, `\` escapes) and `**` stands for any number of whole parts.
//! - A pattern starting with `/` is anchored at the root and matches that path and everything
//!   below it.
//! - Any other pattern matches wherever its parts line up with consecutive parts of the path,
//!   so `foo` matches `/a/foo` and `/a/foo/b`, and `*.log` matches every `.log` file.

use crate::{RepoError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    text: String,
    /// No glob characters: compared as a plain string.
    literal: bool,
}

/// One parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    parts: Vec<Part>,
    case_insensitive: bool,
}

impl Pattern {
    /// Parses a pattern; `case_insensitive` is restic's `--iexclude`.
    pub fn new(source: &str, case_insensitive: bool) -> Result<Pattern> {
        let text = if case_insensitive {
            source.to_lowercase()
        } else {
            source.to_string()
        };
        let cleaned = clean_path(&text);
        let parts: Vec<Part> = cleaned
            .split('/')
            .map(|p| Part {
                text: p.to_string(),
                literal: !p.contains(['\\', '[', ']', '*', '?']),
            })
            .collect();
        for part in &parts {
            if !part.literal && part.text != "**" {
                glob_match(&part.text, "").map_err(|reason| {
                    RepoError::InvalidInput(format!("invalid exclude pattern {source:?}: {reason}"))
                })?;
            }
        }
        Ok(Pattern {
            source: source.to_string(),
            parts,
            case_insensitive,
        })
    }

    /// A pattern matching exactly the absolute path `path`, whatever characters its names
    /// hold (a restore of chosen files). `None` for a path a pattern cannot name exactly: not
    /// absolute, or with a component `**`, `.` or `..`, or an empty one.
    pub fn literal(path: &str) -> Option<Pattern> {
        let rest = path.strip_prefix('/')?;
        let mut parts = vec![Part {
            text: String::new(),
            literal: true,
        }];
        for name in rest.split('/') {
            if matches!(name, "" | "." | ".." | "**") {
                return None;
            }
            parts.push(Part {
                text: name.to_string(),
                literal: true,
            });
        }
        Some(Pattern {
            source: path.to_string(),
            parts,
            case_insensitive: false,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the absolute path `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let lowered;
        let path = if self.case_insensitive {
            lowered = path.to_lowercase();
            lowered.as_str()
        } else {
            path
        };
        let parts: Vec<&str> = path.split('/').collect();
        let pattern: Vec<&Part> = self.parts.iter().collect();
        match_parts(&pattern, &parts)
    }
}

impl Pattern {
    /// Whether something below the directory `path` may match (restic's `ChildMatch`), so a
    /// restore with includes knows which directories to descend into.
    pub fn child_may_match(&self, path: &str) -> bool {
        if !self.parts.first().is_some_and(|p| p.text.is_empty()) {
            // A relative pattern can match at any depth.
            return true;
        }
        let lowered;
        let path = if self.case_insensitive {
            lowered = path.to_lowercase();
            lowered.as_str()
        } else {
            path
        };
        let mut parts: Vec<&str> = path.split('/').collect();
        if let Some(pos) = self.parts.iter().position(|p| p.text == "**") {
            parts.truncate(pos);
        }
        let length = parts.len().min(self.parts.len());
        let pattern: Vec<&Part> = self.parts[..length].iter().collect();
        match_parts(&pattern, &parts[..length])
    }
}

fn match_parts(pattern: &[&Part], path: &[&str]) -> bool {
    if let Some(pos) = pattern.iter().position(|p| p.text == "**") {
        // Expand `**` into zero, one, two … `*` parts, as restic does.
        let star = Part {
            text: "*".into(),
            literal: false,
        };
        let rest = &pattern[pos + 1..];
        let max_stars = (path.len() + 1).saturating_sub(pattern.len());
        for stars in 0..=max_stars {
            let mut expanded: Vec<&Part> = pattern[..pos].to_vec();
            expanded.extend(std::iter::repeat_n(&star, stars));
            expanded.extend_from_slice(rest);
            if match_parts(&expanded, path) {
                return true;
            }
        }
        return false;
    }
    if pattern.is_empty() {
        return path.is_empty();
    }
    if pattern.len() > path.len() {
        return false;
    }
    let absolute = pattern[0].text.is_empty();
    let max_offset = if absolute {
        0
    } else {
        path.len() - pattern.len()
    };
    (0..=max_offset).rev().any(|offset| {
        pattern.iter().enumerate().all(|(i, part)| {
            let text = path[offset + i];
            if part.literal {
                part.text == text
            } else {
                glob_match(&part.text, text).unwrap_or(false)
            }
        })
    })
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Match` on one path part: `*` any run of characters, `?` one character,
/// `[a-z]`/`[^a-z]` classes, `\` escapes. Returns an error for a malformed pattern.
pub fn glob_match(pattern: &str, name: &str) -> std::result::Result<bool, String> {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let matched = glob_at(&pattern, &name)?;
    // Go reports a malformed pattern even when an earlier mismatch ended matching; check the
    // whole pattern's syntax so errors do not depend on the name.
    validate(&pattern)?;
    Ok(matched)
}

fn validate(pattern: &[char]) -> std::result::Result<(), String> {
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' => {
                if i + 1 >= pattern.len() {
                    return Err("trailing backslash".into());
                }
                i += 2;
            }
            '[' => {
                let (_, next) = parse_class(pattern, i, None)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn glob_at(pattern: &[char], name: &[char]) -> std::result::Result<bool, String> {
    let (mut p, mut n) = (0usize, 0usize);
    // Backtracking point for the last `*`: (pattern index after it, name index it matched to).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                '*' => {
                    star = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                '?' if n < name.len() => {
                    p += 1;
                    n += 1;
                    continue;
                }
                '[' if n < name.len() => {
                    let (ok, next) = parse_class(pattern, p, Some(name[n]))?;
                    if ok {
                        p = next;
                        n += 1;
                        continue;
                    }
                }
                '\\' if n < name.len() => {
                    if p + 1 >= pattern.len() {
                        return Err("trailing backslash".into());
                    }
                    if pattern[p + 1] == name[n] {
                        p += 2;
                        n += 1;
                        continue;
                    }
                }
                c if n < name.len() && c != '?' && c != '[' && c != '\\' && c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        } else if n == name.len() {
            return Ok(true);
        }
        match star {
            Some((star_p, star_n)) if star_n < name.len() => {
                star = Some((star_p, star_n + 1));
                p = star_p;
                n = star_n + 1;
            }
            _ => return Ok(false),
        }
    }
}

/// Parses a `[...]` class starting at `start`; returns whether `c` is in it and the index after
/// the class.
fn parse_class(
    pattern: &[char],
    start: usize,
    c: Option<char>,
) -> std::result::Result<(bool, usize), String> {
    let mut i = start + 1;
    let negated = pattern.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&ch) = pattern.get(i) else {
            return Err("unterminated character class".into());
        };
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, after_lo) = class_char(pattern, i)?;
        i = after_lo;
        let hi = if pattern.get(i) == Some(&'-') && pattern.get(i + 1).is_some_and(|c| *c != ']') {
            let (hi, after_hi) = class_char(pattern, i + 1)?;
            i = after_hi;
            hi
        } else {
            lo
        };
        if let Some(c) = c {
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    Ok((matched != negated, i))
}

fn class_char(pattern: &[char], i: usize) -> std::result::Result<(char, usize), String> {
    match pattern.get(i) {
        Some('\\') => pattern
            .get(i + 1)
            .map(|c| (*c, i + 2))
            .ok_or_else(|| "trailing backslash in character class".to_string()),
        Some(c) => Ok((*c, i + 1)),
        None => Err("unterminated character class".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::new(pattern, false).unwrap().matches(path)
    }

    #[test]
    fn a_literal_pattern_names_one_path_whatever_its_characters() {
        let pattern = Pattern::literal("/data/[x]*?.txt").unwrap();
        assert!(pattern.matches("/data/[x]*?.txt"));
        assert!(!pattern.matches("/data/xa.txt"));
        assert!(pattern.child_may_match("/data"));
        assert!(!pattern.child_may_match("/other"));
        assert!(Pattern::literal("relative/path").is_none());
        assert!(Pattern::literal("/a/**/b").is_none());
        assert!(Pattern::literal("/a//b").is_none());
    }

    #[test]
    fn relative_patterns_match_anywhere_and_below() {
        assert!(m("foo", "/a/foo"));
        assert!(m("foo", "/a/foo/b/c"));
        assert!(!m("foo", "/a/foobar"));
        assert!(m("*.log", "/var/log/syslog.log"));
        assert!(!m("*.log", "/var/log/syslog"));
        assert!(m("a/b", "/x/a/b/c"));
        assert!(!m("a/b", "/x/a/c/b"));
    }

    #[test]
    fn absolute_patterns_are_anchored() {
        assert!(m("/home/u/cache", "/home/u/cache"));
        assert!(m("/home/u/cache", "/home/u/cache/x"));
        assert!(!m("/home/u/cache", "/srv/home/u/cache"));
        assert!(m("/home/*/cache", "/home/v/cache/deep"));
    }

    #[test]
    fn double_star_spans_directories() {
        assert!(m("/home/**/cache", "/home/cache"));
        assert!(m("/home/**/cache", "/home/a/b/c/cache"));
        assert!(m("**/.git", "/src/p/.git"));
        assert!(!m("/home/**/cache", "/srv/a/cache"));
    }

    #[test]
    fn globs_follow_go_filepath_match() {
        assert_eq!(glob_match("a?c", "abc"), Ok(true));
        assert_eq!(glob_match("a*", "a"), Ok(true));
        assert_eq!(glob_match("*x*y", "axbxy"), Ok(true));
        assert_eq!(glob_match("[a-c]x", "bx"), Ok(true));
        assert_eq!(glob_match("[^a-c]x", "bx"), Ok(false));
        assert_eq!(glob_match("\\*", "*"), Ok(true));
        assert_eq!(glob_match("\\*", "a"), Ok(false));
        assert!(glob_match("[a-", "a").is_err());
        assert!(Pattern::new("foo[", false).is_err());
    }

    #[test]
    fn child_may_match_follows_the_absolute_prefix() {
        let p = Pattern::new("/home/u/docs", false).unwrap();
        assert!(p.child_may_match("/home"));
        assert!(p.child_may_match("/home/u"));
        assert!(!p.child_may_match("/srv"));
        assert!(Pattern::new("*.txt", false)
            .unwrap()
            .child_may_match("/anything"));
        assert!(Pattern::new("/home/**/x", false)
            .unwrap()
            .child_may_match("/home/a/b"));
    }

    #[test]
    fn case_insensitive_patterns_ignore_case() {
        let p = Pattern::new("*.JPG", true).unwrap();
        assert!(p.matches("/Photos/a.jpg"));
        assert!(p.matches("/Photos/B.JpG"));
    }

    #[test]
    fn clean_path_matches_go() {
        assert_eq!(clean_path("a//b/./c/.."), "a/b");
        assert_eq!(clean_path("/../a"), "/a");
        assert_eq!(clean_path("../a"), "../a");
        assert_eq!(clean_path("a/"), "a");
        assert_eq!(clean_path(""), ".");
    }
}

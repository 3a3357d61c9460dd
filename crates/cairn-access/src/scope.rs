//! Scopes: which repositories and plans a principal reaches. `*` is everything; `repo:NAME`
//! a repository and every plan backing up into it; `plan:NAME` one plan; `!repo:NAME` and
//! `!plan:NAME` take them away again, and a denial always wins over a grant. The same
//! strings mean the same for API tokens, UI users and (later) multihost peers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::AccessError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    Repository(String),
    Plan(String),
    NotRepository(String),
    NotPlan(String),
}

/// What a request touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The server as a whole: users, tokens, settings, the audit log, the config file.
    Global,
    Repository(&'a str),
    /// A plan, with the repository it backs up into (a `repo:` scope reaches it).
    Plan {
        name: &'a str,
        repository: &'a str,
    },
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Global => f.write_str("the server"),
            Resource::Repository(name) => write!(f, "repository {name:?}"),
            Resource::Plan { name, .. } => write!(f, "plan {name:?}"),
        }
    }
}

impl Scope {
    fn grants(&self, resource: Resource<'_>) -> bool {
        match (self, resource) {
            (Scope::All, _) => true,
            (Scope::Repository(r), Resource::Repository(name)) => r == name,
            (Scope::Repository(r), Resource::Plan { repository, .. }) => r == repository,
            (Scope::Plan(p), Resource::Plan { name, .. }) => p == name,
            _ => false,
        }
    }

    fn denies(&self, resource: Resource<'_>) -> bool {
        match (self, resource) {
            (Scope::NotRepository(r), Resource::Repository(name)) => r == name,
            (Scope::NotRepository(r), Resource::Plan { repository, .. }) => r == repository,
            (Scope::NotPlan(p), Resource::Plan { name, .. }) => p == name,
            _ => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("*"),
            Scope::Repository(name) => write!(f, "repo:{name}"),
            Scope::Plan(name) => write!(f, "plan:{name}"),
            Scope::NotRepository(name) => write!(f, "!repo:{name}"),
            Scope::NotPlan(name) => write!(f, "!plan:{name}"),
        }
    }
}

impl FromStr for Scope {
    type Err = AccessError;

    fn from_str(text: &str) -> Result<Scope, AccessError> {
        let bad = || {
            AccessError::InvalidInput(format!(
                "{text:?} is not a scope; write *, repo:NAME, plan:NAME, !repo:NAME or !plan:NAME"
            ))
        };
        if text == "*" {
            return Ok(Scope::All);
        }
        let (negated, rest) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (kind, name) = rest.split_once(':').ok_or_else(bad)?;
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            return Err(bad());
        }
        let name = name.to_string();
        Ok(match (kind, negated) {
            ("repo", false) => Scope::Repository(name),
            ("repo", true) => Scope::NotRepository(name),
            ("plan", false) => Scope::Plan(name),
            ("plan", true) => Scope::NotPlan(name),
            _ => return Err(bad()),
        })
    }
}

/// A principal's scopes. Empty means `*`: a user or token without scopes reaches everything
/// its role allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn all() -> Scopes {
        Scopes(Vec::new())
    }

    pub fn new(scopes: Vec<Scope>) -> Scopes {
        Scopes(scopes)
    }

    pub fn as_slice(&self) -> &[Scope] {
        &self.0
    }

    /// Whether nothing narrows these scopes (what server-wide actions need).
    pub fn is_unrestricted(&self) -> bool {
        let grants_all = self.0.is_empty() || self.0.contains(&Scope::All);
        grants_all
            && !self
                .0
                .iter()
                .any(|s| matches!(s, Scope::NotRepository(_) | Scope::NotPlan(_)))
    }

    /// Whether `resource` is within these scopes: no denial matches it, and a grant does.
    /// Server-wide resources need unrestricted scopes.
    pub fn allows(&self, resource: Resource<'_>) -> bool {
        if resource == Resource::Global {
            return self.is_unrestricted();
        }
        if self.0.iter().any(|s| s.denies(resource)) {
            return false;
        }
        self.0.is_empty() || self.0.iter().any(|s| s.grants(resource))
    }

    /// Parses a list as typed (`--scope` flags, a comma-separated form field).
    pub fn parse_all<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Scopes, AccessError> {
        let scopes = texts
            .into_iter()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Scope>, _>>()?;
        Ok(Scopes(scopes))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("*");
        }
        let texts: Vec<String> = self.0.iter().map(Scope::to_string).collect();
        f.write_str(&texts.join(","))
    }
}

impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let texts: Vec<String> = self.0.iter().map(Scope::to_string).collect();
        texts.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Scopes, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        Scopes::parse_all(texts.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(texts: &[&str]) -> Scopes {
        Scopes::parse_all(texts.iter().copied()).unwrap()
    }

    const WEB: Resource<'static> = Resource::Plan {
        name: "web",
        repository: "main",
    };
    const DB: Resource<'static> = Resource::Plan {
        name: "db",
        repository: "main",
    };
    const MAIN: Resource<'static> = Resource::Repository("main");
    const OTHER: Resource<'static> = Resource::Repository("other");

    #[test]
    fn the_scope_algebra() {
        // (scopes, [web, db, main, other, global])
        let table: &[(&[&str], [bool; 5])] = &[
            (&[], [true, true, true, true, true]),
            (&["*"], [true, true, true, true, true]),
            (&["repo:main"], [true, true, true, false, false]),
            (&["plan:web"], [true, false, false, false, false]),
            (&["*", "!plan:web"], [false, true, true, true, false]),
            (&["*", "!repo:main"], [false, false, false, true, false]),
            (
                &["repo:main", "!plan:db"],
                [true, false, true, false, false],
            ),
            // Deny wins over a grant of the same thing, in any order.
            (
                &["!plan:web", "plan:web"],
                [false, false, false, false, false],
            ),
            (
                &["plan:web", "!repo:main"],
                [false, false, false, false, false],
            ),
        ];
        for (texts, expected) in table {
            let s = scopes(texts);
            let got = [
                s.allows(WEB),
                s.allows(DB),
                s.allows(MAIN),
                s.allows(OTHER),
                s.allows(Resource::Global),
            ];
            assert_eq!(&got, expected, "scopes {texts:?}");
        }
    }

    #[test]
    fn scopes_round_trip_and_refuse_malformed_ones() {
        for text in ["*", "repo:main", "plan:web-1", "!repo:a.b", "!plan:x_y"] {
            assert_eq!(text.parse::<Scope>().unwrap().to_string(), text);
        }
        for bad in ["", "repo", "repo:", "host:x", "!*", "repo:a/b", "plan:../x"] {
            let error = bad.parse::<Scope>().unwrap_err().to_string();
            assert!(error.contains("is not a scope"), "{bad}: {error}");
        }
    }
}

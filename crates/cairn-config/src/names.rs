//! Names that become parts of paths, URLs and permission scopes.
//!
//! Repository, plan and SQLite dump names appear in state files, dump paths inside snapshots
//! (`/cairn-dumps/sqlite/NAME.sqlite`), API URLs and scopes (`plan:NAME`), so they are held to
//! a set of characters that is safe in all of them. Database and host names come from the
//! database server and can be almost anything; they only must not break the dump path.

/// The longest name accepted; longer ones are hard to read in tables and logs.
pub const NAME_LENGTH_MAX: usize = 64;

/// Why `name` cannot name a repository, plan or dump, if it cannot.
pub fn name_problem(name: &str) -> Option<String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() {
        Some("is empty".into())
    } else if name.len() > NAME_LENGTH_MAX {
        Some(format!("is longer than {NAME_LENGTH_MAX} characters"))
    } else if !first_ok || !rest_ok {
        Some("cannot be used in a path or URL".into())
    } else {
        None
    }
}

/// What to write instead of a bad name.
pub const NAME_FORM: &str =
    "use letters, digits, '_', '-' and '.', starting with a letter or digit, e.g. \"web-1\"";

/// Why a database or host name cannot be one component of a dump path, if it cannot.
pub fn path_component_problem(text: &str) -> Option<&'static str> {
    if text.is_empty() {
        Some("is empty")
    } else if text == "." || text == ".." {
        Some("is a relative directory name")
    } else if text.contains(['/', '\0']) {
        Some("contains '/' or a NUL character")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_safe_in_paths_and_urls_pass() {
        for good in ["main", "web-1", "db_2", "a.b", "0day"] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "my plan",
            "../x",
            "a/b",
            ".hidden",
            "-x",
            "é",
            &"x".repeat(65),
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn dump_path_components_refuse_only_what_breaks_a_path() {
        for good in ["app", "my db", "host.example", "ünïcode"] {
            assert_eq!(path_component_problem(good), None, "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(path_component_problem(bad).is_some(), "{bad:?}");
        }
    }
}

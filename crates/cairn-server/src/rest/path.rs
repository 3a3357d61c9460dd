//! The request path of the REST endpoint, read strictly from its raw (undecoded) form.
//!
//! `/rest/REPOSITORY/` then `config`, `{data,index,keys,locks,snapshots}/` (a listing) or
//! `{…}/NAME` with NAME exactly 64 lowercase hex digits. This is the path-traversal defence:
//! nothing but a known kind and a hex name ever reaches the store, so `..`, `/`, `%2e%2e`,
//! uppercase or short names are refused (400) before any storage call.

use cairn_storage::FileKind;

/// What a request addresses inside a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The repository itself (`POST /?create=true`).
    Root,
    Config,
    Listing(FileKind),
    Object(FileKind, String),
}

/// Why a path addresses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not a place the protocol knows (404).
    Unknown,
    /// A known kind with a name that is not 64 lowercase hex digits (400).
    BadName,
}

/// The repository segment and the rest of a path below `/rest/`; `None` when there is no
/// repository segment.
pub fn split_repository(path: &str) -> Option<(&str, &str)> {
    let below = path.strip_prefix("/rest/")?;
    let (repository, rest) = match below.find('/') {
        Some(slash) => (&below[..slash], &below[slash + 1..]),
        None => (below, ""),
    };
    (!repository.is_empty()).then_some((repository, rest))
}

/// The target of the part of a path after `/rest/REPOSITORY/`.
pub fn parse_target(rest: &str) -> Result<Target, PathError> {
    if rest.is_empty() {
        return Ok(Target::Root);
    }
    if rest == "config" {
        return Ok(Target::Config);
    }
    let (dir, name) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash + 1..]),
        None => (rest, ""),
    };
    let kind = match dir {
        "data" => FileKind::Pack,
        "index" => FileKind::Index,
        "keys" => FileKind::Key,
        "locks" => FileKind::Lock,
        "snapshots" => FileKind::Snapshot,
        _ => return Err(PathError::Unknown),
    };
    if name.is_empty() {
        return Ok(Target::Listing(kind));
    }
    if is_object_name(name) {
        Ok(Target::Object(kind, name.to_string()))
    } else {
        Err(PathError::BadName)
    }
}

/// 64 lowercase hex digits: the SHA-256 of the object's bytes.
pub fn is_object_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn paths_name_a_repository_and_a_target() {
        assert_eq!(split_repository("/rest/main/"), Some(("main", "")));
        assert_eq!(split_repository("/rest/main"), Some(("main", "")));
        assert_eq!(
            split_repository("/rest/main/data/ab"),
            Some(("main", "data/ab"))
        );
        assert_eq!(split_repository("/rest/"), None);
        assert_eq!(split_repository("/rest//config"), None);
        assert_eq!(parse_target(""), Ok(Target::Root));
        assert_eq!(parse_target("config"), Ok(Target::Config));
        assert_eq!(parse_target("data/"), Ok(Target::Listing(FileKind::Pack)));
        assert_eq!(parse_target("locks"), Ok(Target::Listing(FileKind::Lock)));
        assert_eq!(
            parse_target(&format!("snapshots/{NAME}")),
            Ok(Target::Object(FileKind::Snapshot, NAME.into()))
        );
    }

    #[test]
    fn traversal_and_malformed_names_are_refused() {
        for bad in [
            "keys/../config".to_string(),
            "keys/%2e%2e".to_string(),
            "keys/%2e%2e%2fconfig".to_string(),
            format!("keys/{}", NAME.to_uppercase()),
            format!("keys/{}", &NAME[..63]),
            format!("keys/{NAME}0"),
            format!("data/01/{NAME}"),
            format!("keys/{NAME}/"),
            format!("keys/{}%00", &NAME[..61]),
        ] {
            assert_eq!(parse_target(&bad), Err(PathError::BadName), "{bad}");
        }
        for unknown in ["..", "%2e%2e/config", "config/", "cairn-manifest", "Data/"] {
            assert_eq!(parse_target(unknown), Err(PathError::Unknown), "{unknown}");
        }
    }
}

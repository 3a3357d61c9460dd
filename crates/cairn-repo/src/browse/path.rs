//! Snapshot-absolute paths, checked before use, and resolving them one tree at a time.

use std::fmt;

use cairn_format::tree::{Node, NodeType};
use cairn_format::Id;

use crate::index::Index;
use crate::{RepoError, Repository, Result};

/// An absolute path inside a snapshot whose components are plain names: no `.`, no `..`, no
/// empty component (one trailing `/` is allowed and dropped). The root is `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SnapshotPath {
    components: Vec<Vec<u8>>,
}

impl SnapshotPath {
    pub fn root() -> SnapshotPath {
        SnapshotPath {
            components: Vec::new(),
        }
    }

    /// Checks `text`; the error names it and says what is wrong.
    pub fn parse(text: &str) -> Result<SnapshotPath> {
        let refuse = |reason: &str| RepoError::UnsafePath {
            path: text.to_string(),
            reason: reason.to_string(),
        };
        let Some(rest) = text.strip_prefix('/') else {
            return Err(refuse("it does not start with /"));
        };
        if text.contains('\0') {
            return Err(refuse("it contains a NUL byte"));
        }
        if rest.starts_with('/') {
            return Err(refuse("it has an empty component (//)"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(SnapshotPath::root());
        }
        let mut components = Vec::new();
        for part in rest.split('/') {
            match part {
                "" => return Err(refuse("it has an empty component (//)")),
                "." | ".." => return Err(refuse("it has a . or .. component")),
                name => components.push(name.as_bytes().to_vec()),
            }
        }
        Ok(SnapshotPath { components })
    }

    pub fn components(&self) -> &[Vec<u8>] {
        &self.components
    }

    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The last component (what a download is called); `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.components.last().map(Vec::as_slice)
    }
}

impl fmt::Display for SnapshotPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.components.is_empty() {
            return f.write_str("/");
        }
        for component in &self.components {
            write!(f, "/{}", String::from_utf8_lossy(component))?;
        }
        Ok(())
    }
}

/// What a path names: the snapshot's root tree, or an entry.
#[derive(Debug, Clone)]
pub enum Resolved {
    Root(Id),
    Node(Box<Node>),
}

impl Resolved {
    /// The tree of a directory (the root, or a directory entry), else `None`.
    pub fn directory_tree(&self) -> Option<Id> {
        match self {
            Resolved::Root(tree) => Some(*tree),
            Resolved::Node(node) if node.node_type == NodeType::Dir => node.subtree,
            Resolved::Node(_) => None,
        }
    }
}

/// Finds `path` below the snapshot tree `root`, loading only the trees along it through
/// `load` (which may keep them); `None` when it names nothing.
pub fn resolve_with(
    root: &Id,
    path: &SnapshotPath,
    load: &mut dyn FnMut(&Id) -> Result<std::sync::Arc<Vec<Node>>>,
) -> Result<Option<Resolved>> {
    let Some((last, dirs)) = path.components().split_last() else {
        return Ok(Some(Resolved::Root(*root)));
    };
    let mut tree = *root;
    for dir in dirs {
        let nodes = load(&tree)?;
        let next = nodes
            .iter()
            .find(|n| n.name == *dir && n.node_type == NodeType::Dir)
            .and_then(|n| n.subtree);
        match next {
            Some(subtree) => tree = subtree,
            None => return Ok(None),
        }
    }
    Ok(load(&tree)?
        .iter()
        .find(|n| n.name == *last)
        .map(|n| Resolved::Node(Box::new(n.clone()))))
}

/// [`resolve_with`] reading each tree from the repository; a path that names nothing is
/// [`RepoError::NoSuchPath`].
pub fn resolve(
    repo: &Repository,
    index: &Index,
    root: &Id,
    path: &SnapshotPath,
    snapshot: &str,
) -> Result<Resolved> {
    let mut load = |id: &Id| repo.load_tree(index, id).map(std::sync::Arc::new);
    resolve_with(root, path, &mut load)?.ok_or_else(|| RepoError::NoSuchPath {
        path: path.to_string(),
        snapshot: snapshot.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_absolute_paths_parse_and_print_back() {
        let path = SnapshotPath::parse("/etc/hosts").unwrap();
        assert_eq!(path.components(), [b"etc".to_vec(), b"hosts".to_vec()]);
        assert_eq!(path.to_string(), "/etc/hosts");
        assert_eq!(path.file_name(), Some(&b"hosts"[..]));
        assert_eq!(SnapshotPath::parse("/etc/").unwrap().to_string(), "/etc");
        assert!(SnapshotPath::parse("/").unwrap().is_root());
        // Names that merely start with dots are names.
        assert!(SnapshotPath::parse("/home/u/.profile").is_ok());
        assert!(SnapshotPath::parse("/a/...").is_ok());
    }

    #[test]
    fn paths_that_could_leave_the_root_are_refused_naming_the_path() {
        for bad in [
            "/../etc",
            "/etc/..",
            "..",
            "/a/./b",
            "etc/hosts",
            "",
            "/a//b",
            "//",
            "/a\0b",
        ] {
            let error = SnapshotPath::parse(bad).unwrap_err();
            assert!(matches!(error, RepoError::UnsafePath { .. }), "{bad:?}");
            assert_eq!(error.kind(), crate::ErrorKind::InvalidInput);
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
    }
}

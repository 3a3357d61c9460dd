//! The backup paths as a tree of path components, from which the snapshot's intermediate
//! directories (`/`, `/home`, …) are built down to each backup path.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, PathBuf};

/// One path component. Children are kept in byte order, the order of nodes in a tree.
#[derive(Debug, Default)]
pub(crate) struct TargetNode {
    pub children: BTreeMap<Vec<u8>, TargetNode>,
    /// This path was given to back up: everything below it is walked.
    pub is_target: bool,
}

/// Builds the component tree of absolute, clean paths. A path below another path adds nothing,
/// because walking the upper one covers it.
pub(crate) fn build(targets: &[PathBuf]) -> TargetNode {
    let mut root = TargetNode::default();
    for target in targets {
        let mut node = &mut root;
        for part in target.components() {
            if node.is_target {
                break;
            }
            if let Component::Normal(name) = part {
                node = node.children.entry(name.as_bytes().to_vec()).or_default();
            }
        }
        node.is_target = true;
        node.children.clear();
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_targets_collapse_into_the_upper_one() {
        let tree = build(&["/a/b".into(), "/a/b/c".into(), "/a/d".into(), "/e".into()]);
        let a = &tree.children[b"a".as_slice()];
        assert!(!tree.is_target && !a.is_target);
        assert!(a.children[b"b".as_slice()].is_target);
        assert!(a.children[b"b".as_slice()].children.is_empty());
        assert!(a.children[b"d".as_slice()].is_target);
        assert!(tree.children[b"e".as_slice()].is_target);
    }

    #[test]
    fn the_root_as_a_target_covers_everything() {
        let tree = build(&["/".into(), "/x".into()]);
        assert!(tree.is_target);
        assert!(tree.children.is_empty());
    }
}

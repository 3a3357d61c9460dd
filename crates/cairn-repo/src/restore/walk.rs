//! Which entries of a snapshot a restore selects: the walk both the planner and the totals
//! pass follow, so that what is counted and what is restored are chosen by the same rules.
//!
//! Rules (restic 0.14's): an entry matching an exclude pattern is left out with everything
//! below it; with include patterns, an entry is restored when it or an ancestor matches one,
//! and a directory is entered when something below it may match.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use cairn_format::tree::{Node, NodeType};
use cairn_format::Id;

use super::RestoreOptions;
use crate::index::Index;
use crate::{RepoError, Repository};

/// What the walk reports; each call gets the entry's path under the restore target.
pub(crate) trait SelectionVisitor {
    /// A directory to enter: `matched` when it (or an ancestor) matched, so it is restored with
    /// everything below it; otherwise it only lies on the way to possible matches. Returns
    /// whether to descend.
    fn enter_dir(&mut self, path: &Path, node: Node, depth: usize, matched: bool) -> bool;
    /// Called after the entries of a directory `enter_dir` let the walk descend into.
    fn leave_dir(&mut self, _path: &Path, _matched: bool) {}
    /// A selected entry that is not a directory.
    fn entry(&mut self, path: &Path, node: Node);
    /// A tree could not be loaded; the walk goes on with the rest.
    fn tree_error(&mut self, _dir: &Path, _tree: &Id, _error: RepoError) {}
    /// Whether the walk should stop (a tree could not be fetched at all).
    fn stopped(&self) -> bool {
        false
    }
    /// A name that would escape its directory; the entry is skipped.
    fn unsafe_name(&mut self, _path: &Path) {}
}

pub(crate) struct SelectionWalk<'a> {
    pub repo: &'a Repository,
    pub index: &'a Index,
    pub options: &'a RestoreOptions,
}

impl SelectionWalk<'_> {
    /// Walks the tree `tree` restored to `target`, depth first in tree order.
    pub fn run(&self, tree: &Id, target: &Path, visitor: &mut dyn SelectionVisitor) {
        self.visit(
            tree,
            b"",
            target,
            1,
            self.options.include.is_empty(),
            visitor,
        );
    }

    /// Visits a tree at `snapshot_path` restored to `dir`. `selected` says an ancestor matched
    /// an include pattern (or there are none), so everything below is restored.
    fn visit(
        &self,
        tree: &Id,
        snapshot_path: &[u8],
        dir: &Path,
        depth: usize,
        selected: bool,
        visitor: &mut dyn SelectionVisitor,
    ) {
        if visitor.stopped() {
            return;
        }
        let nodes = match self.repo.load_tree(self.index, tree) {
            Ok(nodes) => nodes,
            Err(e) => return visitor.tree_error(dir, tree, e),
        };
        for node in nodes {
            if visitor.stopped() {
                return;
            }
            let path = dir.join(OsStr::from_bytes(&node.name));
            if !safe_name(&node.name) {
                visitor.unsafe_name(&path);
                continue;
            }
            let mut child_snapshot_path = snapshot_path.to_vec();
            child_snapshot_path.push(b'/');
            child_snapshot_path.extend_from_slice(&node.name);
            let text = String::from_utf8_lossy(&child_snapshot_path);
            if self.options.exclude.iter().any(|p| p.matches(&text)) {
                continue;
            }
            let (matched, child_may_match) = if selected {
                (true, true)
            } else {
                self.included(&text)
            };
            if node.node_type == NodeType::Dir {
                if !matched && !child_may_match {
                    continue;
                }
                let Some(subtree) = node.subtree else {
                    continue;
                };
                if visitor.enter_dir(&path, node, depth, matched) {
                    self.visit(
                        &subtree,
                        &child_snapshot_path,
                        &path,
                        depth + 1,
                        matched,
                        visitor,
                    );
                    visitor.leave_dir(&path, matched);
                }
            } else if matched {
                visitor.entry(&path, node);
            }
        }
    }

    fn included(&self, snapshot_path: &str) -> (bool, bool) {
        let include = &self.options.include;
        let matched = include.iter().any(|p| p.matches(snapshot_path));
        let child_may_match = matched || include.iter().any(|p| p.child_may_match(snapshot_path));
        (matched, child_may_match)
    }
}

/// A name from the repository that would escape its directory is refused: the repository is
/// not trusted to write outside the restore target.
fn safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

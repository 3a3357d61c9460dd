//! The totals a restore's progress is measured against, from a walk of its own: the plan is
//! built and dropped batch by batch, so it never knows them before the end.
//!
//! The walk loads every selected tree a second time and creates nothing; it runs beside the
//! restore and only when the observer shows totals.

use std::collections::HashSet;
use std::path::Path;

use cairn_format::tree::{Node, NodeType};

use super::walk::SelectionVisitor;

/// Files and bytes the restore will write, counted as the planner counts them: a hard link
/// to a path restored earlier is not a file of its own.
#[derive(Default)]
pub(crate) struct Totals {
    pub files: u64,
    pub bytes: u64,
    /// (device, inode) of files with several links already counted.
    linked: HashSet<(u64, u64)>,
}

impl SelectionVisitor for Totals {
    fn enter_dir(&mut self, _path: &Path, _node: Node, _depth: usize, _matched: bool) -> bool {
        true
    }

    fn entry(&mut self, _path: &Path, node: Node) {
        if node.node_type != NodeType::File {
            return;
        }
        if node.links > 1 && !self.linked.insert((node.device_id, node.inode)) {
            return;
        }
        self.files += 1;
        self.bytes += node.size;
    }
}

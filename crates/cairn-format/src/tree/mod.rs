//! Tree blobs: `{"nodes":[...]}\n`, nodes sorted by name, encoded exactly as restic encodes them
//! so the same directory gives the same tree id in cairn and in restic.

mod node;

pub use node::{go_mode, ExtendedAttribute, GoTime, Node, NodeType};

//! `cairn dump`: one file's content, or a directory as a tar stream, on standard output.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use anyhow::{bail, Result};
use cairn_format::tree::NodeType;
use cairn_repo::dump::{dump_file, dump_tar};
use cairn_repo::index::Index;
use cairn_repo::snapshots::find_snapshot;
use cairn_repo::tree_io::find_node;

use crate::cli::{DumpArgs, GlobalArgs};
use crate::repository;

pub fn run(global: &GlobalArgs, args: DumpArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let (_, snapshot) = find_snapshot(&repo, &args.snapshot, &args.filter.to_filter())?;
    let index = Index::load(&repo)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let path = args.path.as_bytes();
    let shown = args.path.to_string_lossy();
    match find_node(&repo, &index, &snapshot.tree, path)? {
        None => dump_tar(&repo, &index, &snapshot.tree, b"", &mut out)?,
        Some(node) => match node.node_type {
            NodeType::File => {
                dump_file(&repo, &index, &node, &mut out)?;
            }
            NodeType::Dir => {
                let Some(subtree) = node.subtree else {
                    bail!("directory {shown} has no content in the snapshot")
                };
                // Entries carry their full path in the snapshot, as restic names them.
                dump_tar(&repo, &index, &subtree, path, &mut out)?;
            }
            other => bail!(
                "{shown} is a {}; dump writes files and directories",
                other.as_str()
            ),
        },
    }
    out.flush()?;
    Ok(0)
}

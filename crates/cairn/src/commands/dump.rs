//! `cairn dump`: one file's content, or a directory as a tar stream, on standard output.

use std::io::Write;

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
    match find_node(&repo, &index, &snapshot.tree, args.path.as_bytes())? {
        None => dump_tar(&repo, &index, &snapshot.tree, "", &mut out)?,
        Some(node) => match node.node_type {
            NodeType::File => {
                dump_file(&repo, &index, &node, &mut out)?;
            }
            NodeType::Dir => {
                let Some(subtree) = node.subtree else {
                    bail!("directory {} has no content in the snapshot", args.path)
                };
                let name = String::from_utf8_lossy(&node.name).into_owned();
                dump_tar(&repo, &index, &subtree, &name, &mut out)?;
            }
            other => bail!(
                "{} is a {}; dump writes files and directories",
                args.path,
                other.as_str()
            ),
        },
    }
    out.flush()?;
    Ok(0)
}

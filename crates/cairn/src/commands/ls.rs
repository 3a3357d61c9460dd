//! `cairn ls`: the entries of a snapshot.

use anyhow::Result;
use cairn_format::tree::{go_mode, Node, NodeType};
use cairn_repo::index::Index;
use cairn_repo::snapshots::find_snapshot;
use cairn_repo::tree_io::walk_tree;

use crate::cli::{GlobalArgs, LsArgs};
use crate::repository;

/// Go's `FileMode.String()`, e.g. `drwxr-xr-x`, as restic prints `permissions`.
pub fn mode_string(mode: u32) -> String {
    let mut out = String::new();
    for (bit, c) in [
        (go_mode::DIR, 'd'),
        (go_mode::APPEND, 'a'),
        (go_mode::EXCLUSIVE, 'l'),
        (go_mode::TEMPORARY, 'T'),
        (go_mode::SYMLINK, 'L'),
        (go_mode::DEVICE, 'D'),
        (go_mode::NAMED_PIPE, 'p'),
        (go_mode::SOCKET, 'S'),
        (go_mode::SETUID, 'u'),
        (go_mode::SETGID, 'g'),
        (go_mode::CHAR_DEVICE, 'c'),
        (go_mode::STICKY, 't'),
        (go_mode::IRREGULAR, '?'),
    ] {
        if mode & bit != 0 {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        out.push(if mode & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    out
}

fn node_json(path: &str, node: &Node) -> serde_json::Value {
    let mut value = serde_json::json!({
        "name": String::from_utf8_lossy(&node.name),
        "type": node.node_type.as_str(),
        "path": path,
        "uid": node.uid,
        "gid": node.gid,
        "mode": node.mode,
        "permissions": mode_string(node.mode),
        "mtime": node.mtime.to_rfc3339_nano(),
        "atime": node.atime.to_rfc3339_nano(),
        "ctime": node.ctime.to_rfc3339_nano(),
        "struct_type": "node",
    });
    if node.node_type == NodeType::File {
        value["size"] = node.size.into();
    }
    value
}

pub fn run(global: &GlobalArgs, args: LsArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let (id, snapshot) = find_snapshot(&repo, &args.snapshot, &args.filter.to_filter())?;
    let index = Index::load(&repo)?;
    let dirs: Vec<String> = args
        .dirs
        .iter()
        .map(|d| format!("/{}", d.trim_matches('/')))
        .collect();
    if global.json {
        let mut value = super::snapshots::snapshot_json(&id, &snapshot)?;
        value["struct_type"] = "snapshot".into();
        super::print_json(&value)?;
    } else if !global.quiet {
        println!(
            "snapshot {} of {:?} at {}:",
            id.short(),
            snapshot.paths,
            snapshot.time.format("%Y-%m-%d %H:%M:%S")
        );
    }
    let mut out = std::io::stdout().lock();
    walk_tree(&repo, &index, &snapshot.tree, &mut |path, node| {
        let path = String::from_utf8_lossy(path).into_owned();
        let selected = dirs.is_empty()
            || dirs.iter().any(|dir| {
                let below = dir == "/" || path.starts_with(&format!("{dir}/"));
                let depth_ok = args.recursive
                    || !path[dir.len().min(path.len())..]
                        .trim_start_matches('/')
                        .contains('/');
                path == *dir || (below && depth_ok)
            });
        let descend = dirs.is_empty()
            || dirs.iter().any(|dir| {
                dir.starts_with(&format!("{path}/"))
                    || path == *dir
                    || (args.recursive && path.starts_with(dir.as_str()))
            });
        if selected {
            use std::io::Write;
            let line = if global.json {
                node_json(&path, node).to_string()
            } else if args.long {
                format!(
                    "{} {:>8} {:>8} {:>12} {} {}",
                    mode_string(node.mode),
                    if node.user.is_empty() {
                        node.uid.to_string()
                    } else {
                        node.user.clone()
                    },
                    if node.group.is_empty() {
                        node.gid.to_string()
                    } else {
                        node.group.clone()
                    },
                    node.size,
                    chrono::DateTime::from_timestamp(node.mtime.unix_secs, node.mtime.nanos)
                        .map(|t| t
                            .with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M:%S")
                            .to_string())
                        .unwrap_or_default(),
                    path
                )
            } else {
                path
            };
            writeln!(out, "{line}").map_err(|e| cairn_repo::RepoError::io("standard output", e))?;
        }
        Ok(descend)
    })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_match_go() {
        assert_eq!(mode_string(0o644), "-rw-r--r--");
        assert_eq!(mode_string(go_mode::DIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(go_mode::SYMLINK | 0o777), "Lrwxrwxrwx");
        assert_eq!(mode_string(go_mode::SETUID | 0o755), "urwxr-xr-x");
    }
}

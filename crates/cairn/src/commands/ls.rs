//! `cairn ls`: the entries of a snapshot.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

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

/// Whether `path` is one of `dirs`, or inside one of them (directly, unless recursive).
fn is_selected(path: &[u8], dirs: &[Vec<u8>], recursive: bool) -> bool {
    dirs.is_empty()
        || dirs.iter().any(|dir| {
            let rest = if dir.as_slice() == b"/" {
                path.strip_prefix(b"/")
            } else {
                path.strip_prefix(dir.as_slice())
                    .and_then(|r| r.strip_prefix(b"/"))
            };
            path == dir.as_slice() || rest.is_some_and(|rest| recursive || !rest.contains(&b'/'))
        })
}

/// Whether the walk must go below `path` to reach what `dirs` select.
fn must_descend(path: &[u8], dirs: &[Vec<u8>], recursive: bool) -> bool {
    dirs.is_empty()
        || dirs.iter().any(|dir| {
            let mut prefix = path.to_vec();
            prefix.push(b'/');
            dir.starts_with(&prefix)
                || path == dir.as_slice()
                || dir.as_slice() == b"/"
                || (recursive && path.starts_with(dir))
        })
}

/// One line of `ls -l`, laid out as restic lays it out.
fn long_line(path: &[u8], node: &Node) -> Vec<u8> {
    let time = chrono::DateTime::from_timestamp(node.mtime.unix_secs, node.mtime.nanos)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let mut line = format!(
        "{} {:5} {:5} {:6} {} ",
        mode_string(node.mode),
        node.uid,
        node.gid,
        node.size,
        time
    )
    .into_bytes();
    line.extend_from_slice(path);
    if node.node_type == NodeType::Symlink {
        line.extend_from_slice(b" -> ");
        line.extend_from_slice(&node.link_target);
    }
    line
}

pub fn run(global: &GlobalArgs, args: LsArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let (id, snapshot) = find_snapshot(&repo, &args.snapshot, &args.filter.to_filter())?;
    let index = Index::load(&repo)?;
    let dirs: Vec<Vec<u8>> = args
        .dirs
        .iter()
        .map(|d| {
            let trimmed: Vec<u8> = {
                let bytes = d.as_bytes();
                let start = bytes.iter().position(|b| *b != b'/').unwrap_or(bytes.len());
                let end = bytes
                    .iter()
                    .rposition(|b| *b != b'/')
                    .map_or(start, |i| i + 1);
                bytes[start..end].to_vec()
            };
            [b"/".as_slice(), &trimmed].concat()
        })
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
            snapshot
                .time
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
        );
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    walk_tree(&repo, &index, &snapshot.tree, &mut |path, node| {
        if is_selected(path, &dirs, args.recursive) {
            let mut line = if global.json {
                node_json(&String::from_utf8_lossy(path), node)
                    .to_string()
                    .into_bytes()
            } else if args.long {
                long_line(path, node)
            } else {
                path.to_vec()
            };
            line.push(b'\n');
            out.write_all(&line)
                .map_err(|e| cairn_repo::RepoError::io("standard output", e))?;
        }
        Ok(must_descend(path, &dirs, args.recursive))
    })?;
    out.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_of_dirs_follows_restic() {
        let dirs = vec![b"/a/b".to_vec()];
        assert!(is_selected(b"/a/b", &dirs, false));
        assert!(is_selected(b"/a/b/c", &dirs, false));
        assert!(!is_selected(b"/a/b/c/d", &dirs, false));
        assert!(is_selected(b"/a/b/c/d", &dirs, true));
        assert!(!is_selected(b"/a/bc", &dirs, true));
        assert!(must_descend(b"/a", &dirs, false));
        assert!(!must_descend(b"/x", &dirs, false));
        assert!(is_selected(b"/top", &[b"/".to_vec()], false));
        assert!(!is_selected(b"/top/below", &[b"/".to_vec()], false));
    }

    #[test]
    fn mode_strings_match_go() {
        assert_eq!(mode_string(0o644), "-rw-r--r--");
        assert_eq!(mode_string(go_mode::DIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(go_mode::SYMLINK | 0o777), "Lrwxrwxrwx");
        assert_eq!(mode_string(go_mode::SETUID | 0o755), "urwxr-xr-x");
    }
}

//! Reading a file system entry into a tree node, recording what restic records.
//!
//! Follows restic 0.14's `NodeFromFileInfo` and `fillExtra` so that the same directory gives
//! byte-identical nodes: Go file mode bits, times in the local zone, `links` only for files,
//! symlinks and devices, `size` only for files, every extended attribute as listed (without
//! following symlinks). The archiver's default of recording atime as mtime is applied by the
//! caller (`with_atime`).

use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cairn_format::tree::{go_mode, ExtendedAttribute, GoTime, Node, NodeType};

use crate::system;

pub fn node_type(st_mode: u32) -> NodeType {
    match st_mode & libc::S_IFMT {
        libc::S_IFREG => NodeType::File,
        libc::S_IFDIR => NodeType::Dir,
        libc::S_IFLNK => NodeType::Symlink,
        libc::S_IFBLK => NodeType::Dev,
        libc::S_IFCHR => NodeType::CharDev,
        libc::S_IFIFO => NodeType::Fifo,
        libc::S_IFSOCK => NodeType::Socket,
        _ => NodeType::Other(String::new()),
    }
}

/// A node for the entry at `path` with lstat result `metadata`, named `name`. Content and
/// subtree are left for the caller. Fails only if the entry cannot be read at all (e.g. a
/// symlink that vanished); unreadable extended attributes are skipped with a warning, as restic
/// does.
pub fn node_from_metadata(
    path: &Path,
    name: &[u8],
    metadata: &Metadata,
    with_atime: bool,
) -> io::Result<Node> {
    let node_type = node_type(metadata.mode());
    let mut node = Node::new(name.to_vec(), node_type.clone());
    // restic masks with ModePerm | ModeType | ModeSetuid | ModeSetgid | ModeSticky: everything
    // go_file_mode sets.
    node.mode = go_mode::from_unix(metadata.mode());
    node.mtime = GoTime::from_unix_local(metadata.mtime(), metadata.mtime_nsec() as u32);
    node.ctime = GoTime::from_unix_local(metadata.ctime(), metadata.ctime_nsec() as u32);
    node.atime = if with_atime {
        GoTime::from_unix_local(metadata.atime(), metadata.atime_nsec() as u32)
    } else {
        node.mtime
    };
    node.uid = metadata.uid();
    node.gid = metadata.gid();
    node.user = system::user_name(node.uid);
    node.group = system::group_name(node.gid);
    node.inode = metadata.ino();
    node.device_id = metadata.dev();
    match node_type {
        NodeType::File => {
            node.size = metadata.size();
            node.links = metadata.nlink();
        }
        NodeType::Symlink => {
            node.link_target = std::fs::read_link(path)?.as_os_str().as_bytes().to_vec();
            node.links = metadata.nlink();
        }
        NodeType::Dev | NodeType::CharDev => {
            node.device = metadata.rdev();
            node.links = metadata.nlink();
        }
        _ => {}
    }
    node.extended_attributes = read_xattrs(path);
    Ok(node)
}

/// Every extended attribute of `path` (not following symlinks), in the order the kernel lists
/// them.
pub fn read_xattrs(path: &Path) -> Vec<ExtendedAttribute> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) => {
            if e.raw_os_error() != Some(libc::ENOTSUP) {
                tracing::warn!("cannot list extended attributes of {}: {e}", path.display());
            }
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for name in names {
        let Some(text) = name.to_str() else {
            tracing::warn!(
                "skipping extended attribute with a non-UTF-8 name on {}",
                path.display()
            );
            continue;
        };
        match xattr::get(path, &name) {
            Ok(value) => out.push(ExtendedAttribute {
                name: text.to_string(),
                value: value.unwrap_or_default(),
            }),
            Err(e) => tracing::warn!(
                "cannot read extended attribute {text} of {}: {e}",
                path.display()
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_records_size_links_and_atime_as_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let node = node_from_metadata(&path, b"f", &metadata, false).unwrap();
        assert_eq!(node.node_type, NodeType::File);
        assert_eq!((node.size, node.links), (5, 1));
        assert_eq!(node.atime, node.mtime);
        assert_eq!(node.inode, metadata.ino());
        assert!(node.content.is_none());
    }

    #[test]
    fn a_directory_records_no_size_or_links() {
        let dir = tempfile::tempdir().unwrap();
        let metadata = std::fs::symlink_metadata(dir.path()).unwrap();
        let node = node_from_metadata(dir.path(), b"d", &metadata, false).unwrap();
        assert_eq!(node.node_type, NodeType::Dir);
        assert_eq!((node.size, node.links), (0, 0));
    }
}

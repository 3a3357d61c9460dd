//! Files whose content is produced while the backup runs (database dumps), stored in the same
//! snapshot as the files, under [`STREAMS_DIR`].
//!
//! A stream is read by the same readers as files and chunked the same way, so a dump that did
//! not change deduplicates against the last one. Unlike a file that cannot be read (reported,
//! left out, exit code 3), a stream that fails — its producer exits non-zero, reading it fails —
//! fails the whole backup: no snapshot is written, because a snapshot missing a database, or
//! holding half a dump, must never look like a good backup.
//!
//! The engine knows nothing of databases: a [`StreamSource`] hands out a descriptor to read and
//! says at the end whether what it produced is complete.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, PathBuf};

use cairn_format::tree::{go_mode, GoTime, Node, NodeType};

use crate::{system, RepoError, Result};

/// The directory at the snapshot root that holds every stream: `/cairn-dumps`.
pub const STREAMS_DIR: &str = "cairn-dumps";

/// Where a stream's bytes come from.
pub trait StreamSource: Send {
    /// Starts the producer; the backup reads the returned descriptor to its end.
    fn open(&mut self) -> io::Result<OwnedFd>;

    /// Called after the last byte was read: `Err` (a one-line reason, e.g. the producer's exit
    /// status and the end of its error output) fails the backup.
    fn finish(&mut self) -> std::result::Result<(), String>;
}

/// One stream and its place in the snapshot.
pub struct StreamEntry {
    /// Absolute path below `/cairn-dumps`, e.g. `/cairn-dumps/postgresql/db1/app.dump`.
    pub path: PathBuf,
    pub source: Box<dyn StreamSource>,
}

impl std::fmt::Debug for StreamEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEntry")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The streams as a directory tree below `/cairn-dumps`, checked: every path is below it, has
/// plain components, and names one stream.
pub(crate) enum StreamTree {
    Dir(BTreeMap<Vec<u8>, StreamTree>),
    Stream(StreamEntry),
}

pub(crate) fn stream_tree(streams: Vec<StreamEntry>) -> Result<BTreeMap<Vec<u8>, StreamTree>> {
    let mut root = BTreeMap::new();
    for stream in streams {
        let invalid = |why: &str| {
            RepoError::InvalidInput(format!("stream path {} {why}", stream.path.display()))
        };
        let mut parts = Vec::new();
        for component in stream.path.components() {
            match component {
                Component::RootDir => {}
                Component::Normal(name) => parts.push(name.as_bytes().to_vec()),
                _ => return Err(invalid("must be absolute and plain (no `.` or `..`)")),
            }
        }
        if parts.len() < 2 || parts[0] != STREAMS_DIR.as_bytes() {
            return Err(invalid(&format!("must be below /{STREAMS_DIR}")));
        }
        let (file, dirs) = parts[1..].split_last().expect("at least one part");
        let mut level = &mut root;
        for dir in dirs {
            let entry = level
                .entry(dir.clone())
                .or_insert_with(|| StreamTree::Dir(BTreeMap::new()));
            level = match entry {
                StreamTree::Dir(children) => children,
                StreamTree::Stream(_) => return Err(invalid("runs through another stream")),
            };
        }
        if level.contains_key(file) {
            return Err(invalid("is given twice"));
        }
        level.insert(file.clone(), StreamTree::Stream(stream));
    }
    Ok(root)
}

/// The node of a directory or file made for streams: owned by this process, private (dumps
/// hold whole databases), timed at the snapshot.
pub(crate) fn synthetic_node(name: &[u8], node_type: NodeType, time: GoTime) -> Node {
    let mode = match node_type {
        NodeType::Dir => go_mode::DIR | 0o700,
        _ => 0o600,
    };
    let mut node = Node::new(name.to_vec(), node_type);
    node.mode = mode;
    node.mtime = time;
    node.atime = time;
    node.ctime = time;
    node.uid = system::uid();
    node.gid = system::gid();
    node.user = system::username();
    node.links = 1;
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Empty;
    impl StreamSource for Empty {
        fn open(&mut self) -> io::Result<OwnedFd> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn finish(&mut self) -> std::result::Result<(), String> {
            Ok(())
        }
    }

    fn entry(path: &str) -> StreamEntry {
        StreamEntry {
            path: path.into(),
            source: Box::new(Empty),
        }
    }

    #[test]
    fn streams_form_a_tree_below_the_dumps_directory() {
        let tree = stream_tree(vec![
            entry("/cairn-dumps/postgresql/db1/app.dump"),
            entry("/cairn-dumps/postgresql/db1/globals.sql"),
            entry("/cairn-dumps/sqlite/grafana.sqlite"),
        ])
        .unwrap();
        let Some(StreamTree::Dir(postgresql)) = tree.get(b"postgresql".as_slice()) else {
            panic!("postgresql is a directory");
        };
        let Some(StreamTree::Dir(db1)) = postgresql.get(b"db1".as_slice()) else {
            panic!("db1 is a directory");
        };
        assert_eq!(db1.len(), 2);
        assert!(matches!(
            tree.get(b"sqlite".as_slice()),
            Some(StreamTree::Dir(_))
        ));
    }

    #[test]
    fn misplaced_or_repeated_paths_are_refused() {
        for bad in [
            vec![entry("/elsewhere/app.dump")],
            vec![entry("/cairn-dumps")],
            vec![entry("/cairn-dumps/../etc/passwd")],
            vec![entry("/cairn-dumps/a"), entry("/cairn-dumps/a")],
            vec![entry("/cairn-dumps/a"), entry("/cairn-dumps/a/b")],
        ] {
            assert!(stream_tree(bad).is_err());
        }
    }
}

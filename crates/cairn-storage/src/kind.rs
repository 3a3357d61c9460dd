//! The kinds of files in a repository and where each kind lives.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    Config,
    Key,
    Lock,
    Snapshot,
    Index,
    /// Pack files, under `data/<first two hex digits>/`.
    Pack,
    /// cairn's own files beside a repository (`cairn-manifest`, the mirror's state), at its
    /// root and named `cairn-…`. restic ignores them. Not part of [`FileKind::ALL`], which
    /// lists the repository's own kinds.
    Sidecar,
}

impl FileKind {
    pub const ALL: [FileKind; 6] = [
        FileKind::Config,
        FileKind::Key,
        FileKind::Lock,
        FileKind::Snapshot,
        FileKind::Index,
        FileKind::Pack,
    ];

    /// The directory of this kind relative to the repository root (empty for `config`).
    pub fn dir(self) -> &'static str {
        match self {
            FileKind::Config => "",
            FileKind::Key => "keys",
            FileKind::Lock => "locks",
            FileKind::Snapshot => "snapshots",
            FileKind::Index => "index",
            FileKind::Pack => "data",
            FileKind::Sidecar => "",
        }
    }

    /// The object path relative to the repository root, e.g. `data/ab/abcd…`.
    pub fn path(self, name: &str) -> String {
        match self {
            FileKind::Config => "config".to_string(),
            FileKind::Pack => {
                let prefix = name.get(..2).unwrap_or("00");
                format!("data/{prefix}/{name}")
            }
            FileKind::Sidecar => name.to_string(),
            other => format!("{}/{name}", other.dir()),
        }
    }

    /// Whether `name` is a valid file name of this kind: 64 lowercase hex digits (or `config`).
    pub fn is_valid_name(self, name: &str) -> bool {
        match self {
            FileKind::Config => name == "config",
            FileKind::Sidecar => {
                // `cairn-manifest-tmp-…` is a write cut short (see `local`), never a sidecar.
                is_server_backup_name(name)
                    || name.len() > "cairn-".len()
                        && name.starts_with("cairn-")
                        && !name.contains("-tmp-")
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            }
            _ => {
                name.len() == 64
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }
        }
    }
}

/// A server self-backup archive, `YYYYMMDDTHHMMSSZ[-N].cairn-server` (kept as a sidecar at
/// the root of its destination).
pub fn is_server_backup_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".cairn-server") else {
        return false;
    };
    let (time, counter) = match stem.split_once('-') {
        Some((time, counter)) => (time, Some(counter)),
        None => (stem, None),
    };
    let time = time.as_bytes();
    time.len() == 16
        && time[8] == b'T'
        && time[15] == b'Z'
        && time[..8].iter().chain(&time[9..15]).all(u8::is_ascii_digit)
        && counter
            .is_none_or(|c| !c.is_empty() && c.len() <= 6 && c.bytes().all(|b| b.is_ascii_digit()))
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Config => "config",
            FileKind::Key => "key",
            FileKind::Lock => "lock",
            FileKind::Snapshot => "snapshot",
            FileKind::Index => "index",
            FileKind::Pack => "pack",
            FileKind::Sidecar => "sidecar",
        })
    }
}

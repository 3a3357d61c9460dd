//! The engine's error: what went wrong, on which object, and what the user can do.

use std::io;
use std::path::PathBuf;

use cairn_storage::StorageError;

/// The broad class of a failure, for callers that react differently (exit codes, retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    /// Bytes in the repository fail authentication or do not parse.
    Corrupt,
    /// Wrong password or refused credentials.
    Auth,
    /// Another process holds a conflicting lock.
    Locked,
    /// A timeout or overload that may pass.
    Transient,
    /// The request itself is wrong (bad id, bad pattern, missing path).
    InvalidInput,
    /// The operation stopped itself: its repository lock could no longer be refreshed. Running
    /// it again later is safe and may succeed.
    LockLost,
    /// The operation was cancelled by whoever ran it.
    Cancelled,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0}")]
    Storage(#[from] StorageError),

    #[error("wrong password for repository {location} (tried {tried} key{plural}); supply the right one with --password-file, --password-command or CAIRN_PASSWORD", plural = if *.tried == 1 { "" } else { "s" })]
    WrongPassword { location: String, tried: usize },

    #[error("{location} is not a repository (no config file); create one with `cairn init` or check the path")]
    NotARepository { location: String },

    #[error("a repository already exists at {location}")]
    AlreadyExists { location: String },

    #[error("{object} is damaged: {reason}")]
    Corrupt { object: String, reason: String },

    #[error("repository {location} is locked {holder}; wait for it to finish, or if that process is gone (e.g. its host crashed) run `cairn unlock --remove-all`")]
    Locked { location: String, holder: String },

    #[error("{0}")]
    InvalidInput(String),

    #[error("stopped work on repository {location}: {reason}; nothing more was written, and the next run carries on")]
    LockLost { location: String, reason: String },

    #[error(
        "{} blob {id} is not in the index; run `cairn check` to find out what is damaged",
        blob_type
    )]
    BlobNotIndexed {
        blob_type: cairn_format::BlobType,
        id: cairn_format::Id,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{path}: {reason}; no snapshot was written")]
    StreamFailed { path: String, reason: String },

    #[error("interrupted")]
    Interrupted,

    /// A path inside a snapshot that could escape or confuse the snapshot root (`..`, `.`,
    /// empty components, relative); refused before anything is read.
    #[error("path {path:?} is not allowed: {reason}; give an absolute path inside the snapshot such as /etc/hosts")]
    UnsafePath { path: String, reason: String },

    /// A path inside a snapshot that names no entry.
    #[error(
        "{path} is not in snapshot {snapshot}; browse its parent directory to see what it holds"
    )]
    NoSuchPath { path: String, snapshot: String },
}

pub type Result<T> = std::result::Result<T, RepoError>;

impl RepoError {
    pub fn corrupt(object: impl Into<String>, reason: impl Into<String>) -> RepoError {
        RepoError::Corrupt {
            object: object.into(),
            reason: reason.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> RepoError {
        RepoError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            RepoError::Storage(e) => match e.kind {
                cairn_storage::ErrorKind::NotFound => ErrorKind::NotFound,
                cairn_storage::ErrorKind::PermissionDenied => ErrorKind::Auth,
                cairn_storage::ErrorKind::Transient => ErrorKind::Transient,
                cairn_storage::ErrorKind::Invalid => ErrorKind::Corrupt,
                cairn_storage::ErrorKind::Aborted => ErrorKind::LockLost,
                cairn_storage::ErrorKind::Cancelled => ErrorKind::Cancelled,
                _ => ErrorKind::Other,
            },
            RepoError::WrongPassword { .. } => ErrorKind::Auth,
            RepoError::NotARepository { .. } => ErrorKind::NotFound,
            RepoError::AlreadyExists { .. } => ErrorKind::InvalidInput,
            RepoError::Corrupt { .. } | RepoError::BlobNotIndexed { .. } => ErrorKind::Corrupt,
            RepoError::Locked { .. } => ErrorKind::Locked,
            RepoError::LockLost { .. } => ErrorKind::LockLost,
            RepoError::InvalidInput(_) | RepoError::UnsafePath { .. } => ErrorKind::InvalidInput,
            RepoError::NoSuchPath { .. } => ErrorKind::NotFound,
            RepoError::Io { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Other,
            },
            RepoError::Interrupted | RepoError::StreamFailed { .. } => ErrorKind::Other,
        }
    }

    /// Whether this is damage to what the repository holds (bytes that fail authentication or
    /// do not parse, a blob no index lists), as opposed to a failure to read it at all. Only
    /// damage lets a lenient reader leave an object out; an unreachable store must never look
    /// like a smaller repository.
    pub fn is_damage(&self) -> bool {
        self.kind() == ErrorKind::Corrupt
    }

    /// Whether the same operation may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Transient | ErrorKind::Locked | ErrorKind::LockLost
        )
    }
}

//! Storage errors: what failed, on which object, and whether trying again may help.

use std::io;

/// What sort of failure a storage met; callers match on this, not on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    /// Credentials or permissions refused the operation.
    PermissionDenied,
    /// The device or quota is full.
    NoSpace,
    /// A timeout, reset or overload: the same call may succeed later.
    Transient,
    /// The store answered something that cannot be right (short read, bad name).
    Invalid,
    /// The store cannot be used as configured (a missing bucket, a malformed endpoint):
    /// trying again will not help until the user changes something.
    Misconfigured,
    /// The caller stopped the operation before it reached the store (a repository lock that
    /// could no longer be refreshed); nothing was written.
    Aborted,
    /// The caller cancelled the operation; nothing more is read or written.
    Cancelled,
    Other,
}

#[derive(Debug, thiserror::Error)]
#[error("{operation} {object}: {message}")]
pub struct StorageError {
    pub kind: ErrorKind,
    /// The verb, e.g. "read", "write", "list".
    pub operation: &'static str,
    /// The object or location concerned (a path or URL without credentials).
    pub object: String,
    pub message: String,
    #[source]
    pub source: Option<io::Error>,
}

impl StorageError {
    pub fn new(
        kind: ErrorKind,
        operation: &'static str,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> StorageError {
        StorageError {
            kind,
            operation,
            object: object.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Classifies an I/O error from a local file system call.
    pub fn from_io(
        operation: &'static str,
        object: impl Into<String>,
        err: io::Error,
    ) -> StorageError {
        let kind = match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                ErrorKind::PermissionDenied
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ErrorKind::NoSpace,
            io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {
                ErrorKind::Transient
            }
            io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => ErrorKind::Invalid,
            _ => ErrorKind::Other,
        };
        let message = match kind {
            ErrorKind::NoSpace => format!("{err} (free space on the device, then run again)"),
            _ => err.to_string(),
        };
        StorageError {
            kind,
            operation,
            object: object.into(),
            message,
            source: Some(err),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// Whether the same call may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

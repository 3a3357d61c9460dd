//! The one error type of the crate. Messages are one line, lowercase, name the subject and say
//! what to do; none carries a secret (a token's secret, a key, a proof).

use std::path::PathBuf;

use crate::token::PairingRefusal;

/// What kind of failure an error is, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Input the user typed or a file holds is malformed (a token, an identity file).
    InvalidInput,
    /// The other side is not who it must be, or could not prove it (fingerprint, proof).
    Auth,
    /// The other side refused us with a reason (pairing refused, version not shared).
    Refused,
    /// The other side broke the protocol: bad frame, tampered, replayed or reordered bytes.
    Protocol,
    /// A local file could not be read or written.
    Io,
    /// The persistent store behind a replica or change log failed.
    Store,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    InvalidToken(String),
    #[error("identity key {}: {message}", path.display())]
    Identity { path: PathBuf, message: String },
    #[error("identity key {}: {source}", path.display())]
    IdentityIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Auth(String),
    #[error("pairing refused by the server: {0}")]
    PairingRefused(PairingRefusal),
    #[error("{0}")]
    VersionNotShared(String),
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Store(String),
}

impl SyncError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SyncError::InvalidToken(_) | SyncError::Identity { .. } => ErrorKind::InvalidInput,
            SyncError::IdentityIo { .. } => ErrorKind::Io,
            SyncError::Auth(_) => ErrorKind::Auth,
            SyncError::PairingRefused(_) | SyncError::VersionNotShared(_) => ErrorKind::Refused,
            SyncError::Protocol(_) => ErrorKind::Protocol,
            SyncError::Store(_) => ErrorKind::Store,
        }
    }

    /// Whether dialling again later may succeed. A protocol error or a broken frame ends a
    /// session but the next one may go through; a refusal, a wrong identity or a bad token
    /// will not change by itself.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Protocol | ErrorKind::Io | ErrorKind::Store
        )
    }

    pub(crate) fn protocol(message: impl Into<String>) -> SyncError {
        SyncError::Protocol(message.into())
    }
}

/// Errors of the persistent part behind a [`crate::reconcile::ChangeLog`] or
/// [`crate::reconcile::ReplicaStore`] (the state database, later). One line, no secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl From<StoreError> for SyncError {
    fn from(error: StoreError) -> SyncError {
        SyncError::Store(error.0)
    }
}

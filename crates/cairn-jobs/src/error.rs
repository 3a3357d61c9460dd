//! What can go wrong running a job, with what to do about it.

use cairn_repo::RepoError;
use cairn_state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A password or credentials source could not be read.
    #[error("{what}: {reason}")]
    Secret { what: String, reason: String },

    #[error("{0}")]
    Repo(#[from] RepoError),

    #[error("{0}")]
    State(#[from] StateError),

    /// A store could not be opened as configured.
    #[error("{0}")]
    Storage(#[from] cairn_storage::StorageError),

    /// A hook command failed, timed out or could not be started.
    #[error("{step} hook `{command}` {reason}")]
    Hook {
        step: String,
        command: String,
        reason: String,
    },

    /// A database could not be listed, dumped or restored.
    #[error("{0}")]
    Database(String),

    /// A restore drill found the backup does not restore as it should.
    #[error("{0}")]
    Drill(String),

    /// The request cannot be carried out as given (an unknown plan, a missing dump).
    #[error("{0}")]
    InvalidInput(String),

    /// A server backup or restore could not be made (a file, the archive).
    #[error("{0}")]
    ServerBackup(String),

    #[error("{0}")]
    Recovery(#[from] cairn_access::RecoveryError),

    /// What the request names does not exist (a repository not in the config).
    #[error("{0}")]
    NotFound(String),
}

impl JobError {
    /// Whether running the same job later may succeed (a store or lock that may come back).
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Repo(e) => e.is_retryable(),
            JobError::Storage(e) => e.is_retryable(),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, JobError>;

//! What the accounts can refuse, with kinds the server maps to statuses. No message carries a
//! password, code, token or hash.

use cairn_state::StateError;

use crate::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Unknown user or wrong password: one error for both, so names cannot be probed.
    #[error("unknown user or wrong password")]
    BadCredentials,
    #[error("the code is wrong, expired or used already; enter the current code from the authenticator app or an unused recovery code")]
    BadSecondFactor,
    #[error("the setup link is not valid (used already, or replaced by a newer one); use the newest link the daemon printed")]
    BadSetupToken,
    /// What does not exist, and where to look (e.g. `user "bob"; see cairn user list`).
    #[error("no {0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

pub type Result<T> = std::result::Result<T, AccountsError>;

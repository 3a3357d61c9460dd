//! The state database's error.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot use the state directory {path}: {source}; check that it exists and is writable, or set state_dir")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("state database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("state database {path} has schema version {found}, newer than this cairn knows ({known}); run the cairn that wrote it, or a newer one")]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },

    #[error("state database {path} stayed locked for {waited:?} while copying it; try again when no checkpoint runs")]
    Busy {
        path: PathBuf,
        waited: std::time::Duration,
    },

    #[error("no job {0} in the state database; see `cairn jobs`")]
    NoSuchJob(i64),

    #[error("state database holds an unreadable value in {column}: {value:?}")]
    BadValue { column: &'static str, value: String },
}

pub type Result<T> = std::result::Result<T, StateError>;

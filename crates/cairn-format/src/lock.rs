//! Lock files (`locks/<id>`): who holds the repository, shared or exclusive, since when.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::FormatError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    #[serde(with = "crate::go_time_serde")]
    pub time: DateTime<FixedOffset>,
    pub exclusive: bool,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
}

impl LockFile {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("lock serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<LockFile, FormatError> {
        serde_json::from_slice(bytes).map_err(FormatError::json("lock"))
    }
}

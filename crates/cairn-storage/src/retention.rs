//! Object Lock and object versions as a store offers them: a retention date an object keeps
//! until it passes (no one may delete or overwrite that version before), and the versions a
//! store keeps of each name (older contents, and delete markers where a name was deleted).
//!
//! Only S3 buckets with versioning and Object Lock enabled have these; the other stores answer
//! every call with [`unsupported`]. The offsite mirror writes with a retention when its
//! destination is configured for it and rebuilds a repository from versions for
//! `mirror restore --at`.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::error::{ErrorKind, StorageError};

/// How strictly a retention holds (S3's two modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionMode {
    /// Users with a special permission (`s3:BypassGovernanceRetention`) may still delete a
    /// version or shorten its retention.
    Governance,
    /// No one, not even the account's root user, may delete a version or shorten its
    /// retention before the date.
    Compliance,
}

impl RetentionMode {
    /// `governance` or `compliance`, any case.
    pub fn parse(text: &str) -> Option<RetentionMode> {
        if text.eq_ignore_ascii_case("governance") {
            Some(RetentionMode::Governance)
        } else if text.eq_ignore_ascii_case("compliance") {
            Some(RetentionMode::Compliance)
        } else {
            None
        }
    }

    /// The value of S3's `x-amz-object-lock-mode` header and `Mode` element.
    pub fn as_s3(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }
}

impl fmt::Display for RetentionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RetentionMode::Governance => "governance",
            RetentionMode::Compliance => "compliance",
        })
    }
}

/// A version's retention: its mode and the instant until which it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub mode: RetentionMode,
    pub retain_until: DateTime<Utc>,
}

/// One version of a name, as a versioned listing returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub name: String,
    /// The store's id of this version (opaque).
    pub version_id: String,
    pub last_modified: DateTime<Utc>,
    /// 0 for a delete marker.
    pub size: u64,
    /// A delete marker: the name was deleted (without a version id) at `last_modified`.
    pub is_delete_marker: bool,
}

/// The error of a store asked for locks or versions it does not keep.
pub fn unsupported(operation: &'static str, location: String) -> StorageError {
    StorageError::new(
        ErrorKind::Misconfigured,
        operation,
        location,
        "this store keeps no object versions or retention dates; use an S3 bucket created \
         with Object Lock enabled",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_in_any_case() {
        assert_eq!(
            RetentionMode::parse("Governance"),
            Some(RetentionMode::Governance)
        );
        assert_eq!(
            RetentionMode::parse("COMPLIANCE"),
            Some(RetentionMode::Compliance)
        );
        assert_eq!(RetentionMode::parse("legal-hold"), None);
        assert_eq!(RetentionMode::Compliance.as_s3(), "COMPLIANCE");
    }
}

//! What a client may do to a repository, exactly as restic's rest-server decides it.
//!
//! - Objects are never replaced: a write of a name that exists is refused (403), append-only
//!   or not; so is writing `config` where one exists.
//! - Append-only: deleting `config`, keys, data, index or snapshots is refused (403); locks
//!   may be deleted (restic removes its own when it finishes).
//! - An object's bytes must hash (SHA-256) to its name (400); `config` is not named by its
//!   content and is not checked.

use cairn_storage::FileKind;

/// A refusal: the status and the reason logged with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub reason: &'static str,
}

const OVERWRITE: Refused = Refused {
    status: 403,
    reason: "the object exists; objects are never replaced",
};

/// Whether a write may go ahead, given whether the object exists.
pub fn may_write(exists: bool) -> Result<(), Refused> {
    if exists {
        Err(OVERWRITE)
    } else {
        Ok(())
    }
}

/// Whether a delete may go ahead.
pub fn may_delete(kind: FileKind, append_only: bool) -> Result<(), Refused> {
    if append_only && kind != FileKind::Lock {
        Err(Refused {
            status: 403,
            reason: "the repository is append-only; only locks may be deleted",
        })
    } else {
        Ok(())
    }
}

/// Whether the uploaded bytes are the object their name says.
pub fn content_matches(kind: FileKind, name: &str, sha256_hex: &str) -> Result<(), Refused> {
    if kind == FileKind::Config || name == sha256_hex {
        Ok(())
    } else {
        Err(Refused {
            status: 400,
            reason: "the body's SHA-256 is not its name",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_only_refuses_every_delete_but_locks() {
        for kind in [
            FileKind::Config,
            FileKind::Key,
            FileKind::Pack,
            FileKind::Index,
            FileKind::Snapshot,
        ] {
            assert_eq!(may_delete(kind, true).unwrap_err().status, 403, "{kind}");
            assert_eq!(may_delete(kind, false), Ok(()), "{kind}");
        }
        assert_eq!(may_delete(FileKind::Lock, true), Ok(()));
    }

    #[test]
    fn existing_objects_are_never_replaced_and_content_must_match_names() {
        assert_eq!(may_write(true).unwrap_err().status, 403);
        assert_eq!(may_write(false), Ok(()));
        let name = "ab".repeat(32);
        assert_eq!(content_matches(FileKind::Pack, &name, &name), Ok(()));
        assert_eq!(
            content_matches(FileKind::Pack, &name, &"cd".repeat(32))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(content_matches(FileKind::Config, "config", &name), Ok(()));
    }
}

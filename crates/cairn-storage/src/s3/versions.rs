//! Object versions on an S3 store, through OpenDAL: ListObjectVersions (delete markers
//! included) and GetObject by version id.

use chrono::{DateTime, Utc};
use opendal::options::{ListOptions, ReadOptions};

use super::S3Store;
use crate::error::{ErrorKind, StorageError};
use crate::kind::FileKind;
use crate::retention::ObjectVersion;
use crate::Result;

impl S3Store {
    /// Every version of every object of `kind` (older contents and delete markers too).
    pub fn object_versions(&self, kind: FileKind) -> Result<Vec<ObjectVersion>> {
        // config and sidecars sit at the root: one level, then filtered by name.
        let (dir, recursive) = match kind {
            FileKind::Config | FileKind::Sidecar => (String::new(), false),
            other => (format!("{}/", other.dir()), true),
        };
        let options = ListOptions {
            recursive,
            versions: true,
            deleted: true,
            ..ListOptions::default()
        };
        let entries = self
            .block_on(self.operator.list_options(&dir, options))
            .map_err(|e| self.error(e, "list versions of", &dir))?;
        let mut versions = Vec::new();
        for entry in entries {
            let path = entry.path();
            if path == dir || path.ends_with('/') {
                continue;
            }
            let Some(name) = path.rsplit('/').next() else {
                continue;
            };
            if !kind.is_valid_name(name) {
                continue;
            }
            let meta = entry.metadata();
            let missing = |what: &str| {
                StorageError::new(
                    ErrorKind::Invalid,
                    "list versions of",
                    self.object_name(path),
                    format!("the listing gave no {what}; is versioning enabled on the bucket?"),
                )
            };
            let version_id = meta.version().ok_or_else(|| missing("version id"))?;
            let last_modified = meta
                .last_modified()
                .ok_or_else(|| missing("modification time"))?;
            versions.push(ObjectVersion {
                name: name.to_string(),
                version_id: version_id.to_string(),
                last_modified: DateTime::<Utc>::from(std::time::SystemTime::from(last_modified)),
                size: if meta.is_deleted() {
                    0
                } else {
                    meta.content_length()
                },
                is_delete_marker: meta.is_deleted(),
            });
        }
        Ok(versions)
    }

    /// One version of an object (relative key), whole.
    pub fn read_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>> {
        let options = ReadOptions {
            version: Some(version_id.to_string()),
            ..ReadOptions::default()
        };
        self.block_on(self.operator.read_options(key, options))
            .map(|buffer| buffer.to_vec())
            .map_err(|e| self.error(e, "read", &format!("{key}?versionId={version_id}")))
    }
}

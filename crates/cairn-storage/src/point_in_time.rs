//! A versioned store as it was at an instant, as a read-only [`Storage`].
//!
//! For every name, the version that was current at the instant is the newest version written
//! at or before it; a name whose newest version by then is a delete marker did not exist. So
//! whatever deleted or overwrote objects later (an attacker holding the store's own key) is
//! invisible here, as long as the store still keeps the older versions (Object Lock makes it
//! keep them until their retention ends). `mirror restore --at` reads the mirror through this
//! view with the restore it uses for the current mirror.
//!
//! The versions are listed once, when the view is opened; reads fetch the chosen version.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{ErrorKind, StorageError};
use crate::kind::FileKind;
use crate::retention::ObjectVersion;
use crate::{ObjectInfo, Result, Storage};

/// The kinds a point-in-time view shows (locks are never part of a past state worth having).
const KINDS: [FileKind; 6] = [
    FileKind::Config,
    FileKind::Key,
    FileKind::Snapshot,
    FileKind::Index,
    FileKind::Pack,
    FileKind::Sidecar,
];

pub struct PointInTimeStore {
    inner: Arc<dyn Storage>,
    at: DateTime<Utc>,
    /// Per kind, each name present at `at` with the version to read.
    chosen: HashMap<FileKind, BTreeMap<String, ObjectVersion>>,
}

impl PointInTimeStore {
    /// Lists every version in `inner` and keeps those current at `at`.
    pub fn open(inner: Arc<dyn Storage>, at: DateTime<Utc>) -> Result<PointInTimeStore> {
        let mut chosen = HashMap::new();
        for kind in KINDS {
            chosen.insert(kind, current_at(inner.list_versions(kind)?, at));
        }
        Ok(PointInTimeStore { inner, at, chosen })
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The version chosen for a name, if the name existed at the instant.
    pub fn version(&self, kind: FileKind, name: &str) -> Option<&ObjectVersion> {
        self.chosen.get(&kind)?.get(name)
    }

    fn chosen(
        &self,
        kind: FileKind,
        name: &str,
        operation: &'static str,
    ) -> Result<&ObjectVersion> {
        self.version(kind, name).ok_or_else(|| {
            StorageError::new(
                ErrorKind::NotFound,
                operation,
                self.object(kind, name),
                "no such object at that time",
            )
        })
    }

    fn object(&self, kind: FileKind, name: &str) -> String {
        format!("{}/{}", self.location(), kind.path(name))
    }

    fn read_only(&self, operation: &'static str, object: String) -> StorageError {
        StorageError::new(
            ErrorKind::Invalid,
            operation,
            object,
            "a store as it was at a past time is read-only",
        )
    }
}

/// For each name, the newest version written at or before `at`, unless that is a delete
/// marker. Listings give times to the second (S3) and two versions of one name may share
/// one: among those the first listed wins (S3 lists a name's versions newest first), and a
/// version wins over a delete marker of the same second, so a restore rather has one object
/// too many (harmless: unreferenced) than one too few.
pub fn current_at(
    versions: Vec<ObjectVersion>,
    at: DateTime<Utc>,
) -> BTreeMap<String, ObjectVersion> {
    let mut newest: BTreeMap<String, ObjectVersion> = BTreeMap::new();
    for version in versions {
        if version.last_modified > at {
            continue;
        }
        let replaces = match newest.get(&version.name) {
            None => true,
            Some(held) => {
                version.last_modified > held.last_modified
                    || (version.last_modified == held.last_modified
                        && held.is_delete_marker
                        && !version.is_delete_marker)
            }
        };
        if replaces {
            newest.insert(version.name.clone(), version);
        }
    }
    newest.retain(|_, version| !version.is_delete_marker);
    newest
}

impl Storage for PointInTimeStore {
    fn location(&self) -> String {
        format!(
            "{} as of {}",
            self.inner.location(),
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    fn create(&self) -> Result<()> {
        Err(self.read_only("create", self.location()))
    }

    fn put(&self, kind: FileKind, name: &str, _data: &[u8]) -> Result<()> {
        Err(self.read_only("write", self.object(kind, name)))
    }

    fn get(&self, kind: FileKind, name: &str) -> Result<Vec<u8>> {
        let version = self.chosen(kind, name, "read")?;
        self.inner.get_version(kind, name, &version.version_id)
    }

    fn get_range(&self, kind: FileKind, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        let data = self.get(kind, name)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(length).unwrap_or(usize::MAX));
        data.get(start..end).map(<[u8]>::to_vec).ok_or_else(|| {
            StorageError::new(
                ErrorKind::Invalid,
                "read",
                self.object(kind, name),
                format!(
                    "short read: {} bytes, {length} wanted at offset {offset}",
                    data.len()
                ),
            )
        })
    }

    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        Ok(self.chosen(kind, name, "stat")?.size)
    }

    fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>> {
        Ok(self
            .chosen
            .get(&kind)
            .map(|names| {
                names
                    .values()
                    .map(|v| ObjectInfo {
                        name: v.name.clone(),
                        size: v.size,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        Err(self.read_only("remove", self.object(kind, name)))
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn is_remote(&self) -> bool {
        self.inner.is_remote()
    }

    fn write_concurrency(&self) -> usize {
        self.inner.write_concurrency()
    }

    fn list_versions(&self, kind: FileKind) -> Result<Vec<ObjectVersion>> {
        self.inner.list_versions(kind)
    }

    fn get_version(&self, kind: FileKind, name: &str, version_id: &str) -> Result<Vec<u8>> {
        self.inner.get_version(kind, name, version_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("valid time")
    }

    fn version(name: &str, id: &str, seconds: i64, marker: bool) -> ObjectVersion {
        ObjectVersion {
            name: name.into(),
            version_id: id.into(),
            last_modified: at(seconds),
            size: if marker { 0 } else { 10 },
            is_delete_marker: marker,
        }
    }

    fn chosen(versions: Vec<ObjectVersion>, seconds: i64) -> Vec<(String, String)> {
        current_at(versions, at(seconds))
            .into_values()
            .map(|v| (v.name, v.version_id))
            .collect()
    }

    #[test]
    fn takes_the_newest_version_written_by_then() {
        let versions = vec![
            version("a", "a3", 30, false),
            version("a", "a2", 20, false),
            version("a", "a1", 10, false),
        ];
        assert_eq!(chosen(versions.clone(), 25), [("a".into(), "a2".into())]);
        assert_eq!(chosen(versions.clone(), 30), [("a".into(), "a3".into())]);
        assert_eq!(chosen(versions, 5), []);
    }

    #[test]
    fn a_delete_marker_hides_the_name_only_after_it() {
        let versions = vec![
            version("a", "a1", 10, false),
            version("a", "del", 20, true),
            version("b", "b1", 15, false),
        ];
        assert_eq!(
            chosen(versions.clone(), 19),
            [("a".into(), "a1".into()), ("b".into(), "b1".into())]
        );
        assert_eq!(chosen(versions, 20), [("b".into(), "b1".into())]);
    }

    #[test]
    fn within_one_second_the_first_listed_version_wins_over_later_ones_and_markers() {
        let versions = vec![
            version("a", "del", 10, true),
            version("a", "newer", 10, false),
            version("a", "older", 10, false),
        ];
        assert_eq!(chosen(versions, 10), [("a".into(), "newer".into())]);
    }
}

//! Where archives are kept: any [`Storage`] (S3, or a local directory such as a NAS mount),
//! each archive a sidecar `YYYYMMDDTHHMMSSZ[-N].cairn-server` at the root of the destination.
//!
//! An archive counts as a backup only once it is listed, and a listing shows only whole
//! objects: S3 stores an object with one PutObject (atomic: visible whole or not at all), the
//! local store writes a temporary file and renames it. Two archives in the same second get a
//! counter (`-1`, `-2`, …); archives are ordered by (time, counter), not by name.

use std::sync::Arc;

use cairn_storage::kind::is_server_backup_name;
use cairn_storage::{FileKind, Storage};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use crate::Result;

pub const SUFFIX: &str = ".cairn-server";

/// One archive at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveName {
    pub name: String,
    pub time: DateTime<Utc>,
    pub counter: u32,
    pub size: u64,
}

impl ArchiveName {
    pub fn parse(name: &str, size: u64) -> Option<ArchiveName> {
        if !is_server_backup_name(name) {
            return None;
        }
        let stem = name.strip_suffix(SUFFIX)?;
        let (time, counter) = match stem.split_once('-') {
            Some((time, counter)) => (time, counter.parse().ok()?),
            None => (stem, 0),
        };
        let time = NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%SZ").ok()?;
        Some(ArchiveName {
            name: name.to_string(),
            time: Utc.from_utc_datetime(&time),
            counter,
            size,
        })
    }
}

/// The archives at the destination, oldest first.
pub fn list_archives(store: &dyn Storage) -> Result<Vec<ArchiveName>> {
    let mut archives: Vec<ArchiveName> = store
        .list(FileKind::Sidecar)?
        .into_iter()
        .filter_map(|object| ArchiveName::parse(&object.name, object.size))
        .collect();
    archives.sort_by_key(|archive| (archive.time, archive.counter));
    Ok(archives)
}

/// A name for an archive made at `now` that no archive there has.
pub fn next_name(existing: &[ArchiveName], now: DateTime<Utc>) -> String {
    let stem = now.format("%Y%m%dT%H%M%SZ").to_string();
    let taken = |name: &str| existing.iter().any(|archive| archive.name == name);
    let first = format!("{stem}{SUFFIX}");
    if !taken(&first) {
        return first;
    }
    (1..)
        .map(|counter| format!("{stem}-{counter}{SUFFIX}"))
        .find(|name| !taken(name))
        .expect("a free counter")
}

/// Uploads `bytes` as a new archive and returns its name.
pub fn upload(store: &Arc<dyn Storage>, bytes: &[u8], now: DateTime<Utc>) -> Result<String> {
    let existing = list_archives(store.as_ref())?;
    let name = next_name(&existing, now);
    store.put(FileKind::Sidecar, &name, bytes)?;
    store.sync()?;
    Ok(name)
}

/// Deletes all but the newest `keep` archives; returns the names deleted.
pub fn keep_newest(store: &dyn Storage, keep: usize) -> Result<Vec<String>> {
    let archives = list_archives(store)?;
    let excess = archives.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for archive in &archives[..excess] {
        store.remove(FileKind::Sidecar, &archive.name)?;
        removed.push(archive.name.clone());
    }
    Ok(removed)
}

/// The newest archive at or before `at` (any time when `None`).
pub fn pick(archives: &[ArchiveName], at: Option<DateTime<Utc>>) -> Option<&ArchiveName> {
    archives
        .iter()
        .rev()
        .find(|archive| at.is_none_or(|at| archive.time <= at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_storage::MemoryStore;

    #[test]
    fn names_sort_by_time_then_counter_and_retention_keeps_the_newest() {
        let store: Arc<dyn Storage> = Arc::new(MemoryStore::new());
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 2, 15, 0).unwrap();
        let mut names = Vec::new();
        for _ in 0..8 {
            names.push(upload(&store, b"sealed", now).unwrap());
        }
        assert_eq!(names[0], "20261130T021500Z.cairn-server");
        assert_eq!(names[1], "20261130T021500Z-1.cairn-server");
        let removed = keep_newest(store.as_ref(), 7).unwrap();
        assert_eq!(removed, vec![names[0].clone()]);
        let left: Vec<String> = list_archives(store.as_ref())
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(left, names[1..].to_vec());
        let later = now + chrono::Duration::seconds(1);
        upload(&store, b"sealed", later).unwrap();
        let archives = list_archives(store.as_ref()).unwrap();
        assert_eq!(pick(&archives, None).unwrap().time, later);
        assert_eq!(pick(&archives, Some(now)).unwrap().name, names[7]);
        assert!(pick(&archives, Some(now - chrono::Duration::seconds(1))).is_none());
    }
}

//! The repositories the endpoint serves: each opened once from the config (through the
//! `Storage` trait, so a local directory and an S3 bucket serve alike) and kept with its size,
//! which the quota is checked against.
//!
//! The size is listed once, at the first write that needs it, then kept up to date in memory:
//! each upload reserves its bytes before it is stored (so concurrent uploads cannot together
//! pass the quota), a stored upload turns its reservation into usage, a failed one releases
//! it, a delete subtracts what it removed. Other writers (the server's own prune, restic on
//! the host) change the repository without telling the endpoint, so the size is listed again
//! when it is older than [`USAGE_RELIST_AFTER`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_config::Repository;
use cairn_storage::{FileKind, Storage};

/// A listed size older than this is listed again before it decides a quota.
pub const USAGE_RELIST_AFTER: Duration = Duration::from_secs(10 * 60);

/// One served repository.
pub struct Served {
    /// What it was opened from; a config change reopens it.
    opened_from: String,
    pub store: Arc<dyn Storage>,
    usage: Mutex<Option<Usage>>,
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    stored: u64,
    /// Bytes of uploads in progress.
    reserved: u64,
    listed_at: Instant,
}

/// An upload's claim on the quota, released unless it is committed.
pub struct Reservation {
    served: Arc<Served>,
    bytes: u64,
    committed: bool,
}

impl Reservation {
    /// The upload was stored: its bytes count as the repository's.
    pub fn commit(mut self) {
        self.committed = true;
        let mut usage = self.served.usage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(usage) = usage.as_mut() {
            usage.reserved = usage.reserved.saturating_sub(self.bytes);
            usage.stored = usage.stored.saturating_add(self.bytes);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.committed {
            let mut usage = self.served.usage.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(usage) = usage.as_mut() {
                usage.reserved = usage.reserved.saturating_sub(self.bytes);
            }
        }
    }
}

fn opened_from(repository: &Repository) -> String {
    format!(
        "{}|{}",
        repository.location,
        repository
            .credentials_file
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    )
}

/// The repositories opened so far, by name.
#[derive(Default)]
pub struct ServedRepositories {
    open: Mutex<HashMap<String, Arc<Served>>>,
}

impl ServedRepositories {
    /// The store of `repository`, opened on first use (blocking: an S3 store starts its
    /// runtime).
    pub fn get(&self, repository: &Repository) -> Result<Arc<Served>, cairn_jobs::JobError> {
        let from = opened_from(repository);
        if let Some(served) = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&repository.name)
            .filter(|served| served.opened_from == from)
        {
            return Ok(served.clone());
        }
        let store = cairn_jobs::open::store(
            &repository.location,
            repository.credentials_file.as_deref(),
            &format!("repository {}", repository.name),
            &cairn_jobs::open::S3Settings::default(),
        )?;
        let served = Arc::new(Served {
            opened_from: from,
            store,
            usage: Mutex::new(None),
        });
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(repository.name.clone(), served.clone());
        Ok(served)
    }
}

/// The repository's size, from a listing of every kind.
fn list_size(store: &dyn Storage) -> Result<u64, cairn_storage::StorageError> {
    let mut total = 0u64;
    for kind in FileKind::ALL {
        total += store.list(kind)?.iter().map(|o| o.size).sum::<u64>();
    }
    Ok(total)
}

impl Served {
    /// Claims `bytes` under `quota` (blocking: may list the repository); `Ok(None)` when
    /// the upload would pass the quota.
    pub fn reserve(
        self: &Arc<Self>,
        bytes: u64,
        quota: u64,
    ) -> Result<Option<Reservation>, cairn_storage::StorageError> {
        let stale = {
            let usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
            usage.is_none_or(|u| u.reserved == 0 && u.listed_at.elapsed() > USAGE_RELIST_AFTER)
        };
        if stale {
            let stored = list_size(self.store.as_ref())?;
            let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
            let reserved = usage.map_or(0, |u| u.reserved);
            *usage = Some(Usage {
                stored,
                reserved,
                listed_at: Instant::now(),
            });
        }
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let usage = usage.as_mut().expect("listed above");
        if usage
            .stored
            .saturating_add(usage.reserved)
            .saturating_add(bytes)
            > quota
        {
            return Ok(None);
        }
        usage.reserved += bytes;
        Ok(Some(Reservation {
            served: self.clone(),
            bytes,
            committed: false,
        }))
    }

    /// `bytes` were deleted.
    pub fn removed(&self, bytes: u64) {
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(usage) = usage.as_mut() {
            usage.stored = usage.stored.saturating_sub(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_until_committed_or_dropped() {
        let store = Arc::new(cairn_storage::MemoryStore::new());
        store
            .put(FileKind::Pack, &"aa".repeat(32), &[0; 600])
            .unwrap();
        let served = Arc::new(Served {
            opened_from: String::new(),
            store,
            usage: Mutex::new(None),
        });
        let first = served.reserve(300, 1000).unwrap().expect("600 + 300 fits");
        assert!(
            served.reserve(200, 1000).unwrap().is_none(),
            "600 + 300 + 200"
        );
        drop(first);
        let second = served.reserve(400, 1000).unwrap().expect("released");
        second.commit();
        assert!(served.reserve(1, 1000).unwrap().is_none(), "1000 stored");
        served.removed(600);
        assert!(served.reserve(600, 1000).unwrap().is_some());
    }
}

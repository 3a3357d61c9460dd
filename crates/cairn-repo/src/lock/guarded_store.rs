//! The store an open repository writes through: every write first asks whether the locks the
//! operation holds still protect it (see [`super::health`]).
//!
//! Checking here, below the engine, rather than at chosen points in each operation means no
//! write can slip past: packs, index files, snapshots, deletions, the mirror's uploads. Lock
//! files themselves are exempt, so a lost lock can still be removed on the way out. A write
//! already in flight when the lock is lost completes; it can only be a pack (harmless, no
//! index names it) or the index or snapshot that was being committed when the check passed.

use std::sync::Arc;

use cairn_storage::{
    ErrorKind, FileKind, ObjectInfo, PendingFile, Storage, StorageError, TemporaryFile,
};

use super::health::HeldLocks;

pub(crate) struct GuardedStore {
    inner: Arc<dyn Storage>,
    locks: Arc<HeldLocks>,
}

impl GuardedStore {
    pub(crate) fn new(inner: Arc<dyn Storage>, locks: Arc<HeldLocks>) -> GuardedStore {
        GuardedStore { inner, locks }
    }

    fn check(
        &self,
        operation: &'static str,
        kind: FileKind,
        name: &str,
    ) -> cairn_storage::Result<()> {
        if kind == FileKind::Lock {
            return Ok(());
        }
        self.locks
            .ensure_held()
            .map_err(|reason| lost(operation, &self.inner, &kind.path(name), reason))
    }
}

/// `path`: the object, relative to the store's root.
fn lost(
    operation: &'static str,
    store: &Arc<dyn Storage>,
    path: &str,
    reason: String,
) -> StorageError {
    StorageError::new(
        ErrorKind::Aborted,
        operation,
        format!("{}/{path}", store.location()),
        format!(
            "stopped: {reason}; another process may consider the lock stale, so nothing more \
             is written (what is already stored is kept, and the next run carries on)"
        ),
    )
}

impl Storage for GuardedStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> cairn_storage::Result<()> {
        self.inner.create()
    }

    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> cairn_storage::Result<()> {
        self.check("write", kind, name)?;
        self.inner.put(kind, name, data)
    }

    fn put_bulk(&self, kind: FileKind, name: &str, data: &[u8]) -> cairn_storage::Result<()> {
        self.check("write", kind, name)?;
        self.inner.put_bulk(kind, name, data)
    }

    fn get(&self, kind: FileKind, name: &str) -> cairn_storage::Result<Vec<u8>> {
        self.inner.get(kind, name)
    }

    fn get_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        length: u64,
    ) -> cairn_storage::Result<Vec<u8>> {
        self.inner.get_range(kind, name, offset, length)
    }

    fn get_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        length: u64,
        buffer: &mut Vec<u8>,
    ) -> cairn_storage::Result<()> {
        self.inner
            .get_range_into(kind, name, offset, length, buffer)
    }

    fn size(&self, kind: FileKind, name: &str) -> cairn_storage::Result<u64> {
        self.inner.size(kind, name)
    }

    fn list(&self, kind: FileKind) -> cairn_storage::Result<Vec<ObjectInfo>> {
        self.inner.list(kind)
    }

    fn remove(&self, kind: FileKind, name: &str) -> cairn_storage::Result<()> {
        self.check("remove", kind, name)?;
        self.inner.remove(kind, name)
    }

    fn sync(&self) -> cairn_storage::Result<()> {
        self.inner.sync()
    }

    fn create_pending(
        &self,
        kind: FileKind,
    ) -> cairn_storage::Result<Option<Box<dyn PendingFile>>> {
        Ok(self.inner.create_pending(kind)?.map(|file| {
            Box::new(GuardedPending {
                file,
                kind,
                store: self.inner.clone(),
                locks: self.locks.clone(),
            }) as Box<dyn PendingFile>
        }))
    }

    fn write_concurrency(&self) -> usize {
        self.inner.write_concurrency()
    }

    fn is_remote(&self) -> bool {
        self.inner.is_remote()
    }

    fn stale_temporaries(
        &self,
        modified_before: std::time::SystemTime,
    ) -> cairn_storage::Result<Vec<TemporaryFile>> {
        self.inner.stale_temporaries(modified_before)
    }

    fn remove_temporary(&self, path: &str) -> cairn_storage::Result<()> {
        self.locks
            .ensure_held()
            .map_err(|reason| lost("remove", &self.inner, path, reason))?;
        self.inner.remove_temporary(path)
    }
}

/// A pending file whose commit (the moment it appears under its name) is checked.
struct GuardedPending {
    file: Box<dyn PendingFile>,
    kind: FileKind,
    store: Arc<dyn Storage>,
    locks: Arc<HeldLocks>,
}

impl PendingFile for GuardedPending {
    fn write_all(&mut self, data: &[u8]) -> cairn_storage::Result<()> {
        self.file.write_all(data)
    }

    fn commit(self: Box<Self>, name: &str) -> cairn_storage::Result<()> {
        if let Err(reason) = self.locks.ensure_held() {
            return Err(lost("write", &self.store, &self.kind.path(name), reason));
        }
        self.file.commit(name)
    }
}

//! The store an open repository works through: every call first asks whether the operation
//! may go on (see [`super::stop`]): a cancelled operation makes no further call at all, and
//! one whose lock was lost writes nothing more.
//!
//! Checking here, below the engine, rather than at chosen points in each operation means no
//! call can slip past: packs, index files, snapshots, deletions, the mirror's uploads, and the
//! reads of a restore or a check. Lock files themselves are exempt, so a lost or cancelled
//! operation can still remove its lock on the way out. A call already in flight completes; a
//! write in flight can only be a pack (harmless, no index names it) or the index or snapshot
//! that was being committed when the check passed.

use std::sync::Arc;

use cairn_storage::{
    ErrorKind, FileKind, ObjectInfo, ObjectVersion, PendingFile, Retention, Storage, StorageError,
    TemporaryFile,
};

use super::stop::{Stop, StopSignals};

pub(crate) struct GuardedStore {
    inner: Arc<dyn Storage>,
    stop: Arc<StopSignals>,
}

impl GuardedStore {
    pub(crate) fn new(inner: Arc<dyn Storage>, stop: Arc<StopSignals>) -> GuardedStore {
        GuardedStore { inner, stop }
    }

    fn check_write(&self, operation: &'static str, kind: FileKind, name: &str) -> Result {
        if kind == FileKind::Lock {
            return Ok(());
        }
        self.stop
            .check_write()
            .map_err(|stop| stopped(operation, &self.inner, &kind.path(name), stop))
    }

    fn check_read(&self, operation: &'static str, kind: FileKind, name: &str) -> Result {
        if kind == FileKind::Lock {
            return Ok(());
        }
        self.stop
            .check_read()
            .map_err(|stop| stopped(operation, &self.inner, &kind.path(name), stop))
    }
}

type Result<T = ()> = cairn_storage::Result<T>;

/// `path`: the object, relative to the store's root.
fn stopped(
    operation: &'static str,
    store: &Arc<dyn Storage>,
    path: &str,
    stop: Stop,
) -> StorageError {
    let object = format!("{}/{path}", store.location());
    match stop {
        Stop::LockLost(reason) => StorageError::new(
            ErrorKind::Aborted,
            operation,
            object,
            format!(
                "stopped: {reason}; another process may consider the lock stale, so nothing \
                 more is written (what is already stored is kept, and the next run carries on)"
            ),
        ),
        Stop::Cancelled => StorageError::new(
            ErrorKind::Cancelled,
            operation,
            object,
            "cancelled; what is already stored is kept, and the next run carries on",
        ),
    }
}

impl Storage for GuardedStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> Result {
        self.inner.create()
    }

    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> Result {
        self.check_write("write", kind, name)?;
        self.inner.put(kind, name, data)
    }

    fn put_bulk(&self, kind: FileKind, name: &str, data: &[u8]) -> Result {
        self.check_write("write", kind, name)?;
        self.inner.put_bulk(kind, name, data)
    }

    fn put_retained(
        &self,
        kind: FileKind,
        name: &str,
        data: &[u8],
        bulk: bool,
        retention: &Retention,
    ) -> Result {
        self.check_write("write", kind, name)?;
        self.inner.put_retained(kind, name, data, bulk, retention)
    }

    fn extend_retention(&self, kind: FileKind, name: &str, retention: &Retention) -> Result {
        self.check_write("extend retention of", kind, name)?;
        self.inner.extend_retention(kind, name, retention)
    }

    fn retention(&self, kind: FileKind, name: &str) -> Result<Option<Retention>> {
        self.check_read("read retention of", kind, name)?;
        self.inner.retention(kind, name)
    }

    fn list_versions(&self, kind: FileKind) -> Result<Vec<ObjectVersion>> {
        self.check_read("list versions of", kind, "")?;
        self.inner.list_versions(kind)
    }

    fn check_object_lock(&self) -> Result {
        self.check_read("check", FileKind::Config, "")?;
        self.inner.check_object_lock()
    }

    fn get_version(&self, kind: FileKind, name: &str, version_id: &str) -> Result<Vec<u8>> {
        self.check_read("read", kind, name)?;
        self.inner.get_version(kind, name, version_id)
    }

    fn get(&self, kind: FileKind, name: &str) -> Result<Vec<u8>> {
        self.check_read("read", kind, name)?;
        self.inner.get(kind, name)
    }

    fn get_range(&self, kind: FileKind, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        self.check_read("read", kind, name)?;
        self.inner.get_range(kind, name, offset, length)
    }

    fn get_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        length: u64,
        buffer: &mut Vec<u8>,
    ) -> Result {
        self.check_read("read", kind, name)?;
        self.inner
            .get_range_into(kind, name, offset, length, buffer)
    }

    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        self.check_read("stat", kind, name)?;
        self.inner.size(kind, name)
    }

    fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>> {
        self.check_read("list", kind, "")?;
        self.inner.list(kind)
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result {
        self.check_write("remove", kind, name)?;
        self.inner.remove(kind, name)
    }

    fn sync(&self) -> Result {
        self.inner.sync()
    }

    fn create_pending(&self, kind: FileKind) -> Result<Option<Box<dyn PendingFile>>> {
        Ok(self.inner.create_pending(kind)?.map(|file| {
            Box::new(GuardedPending {
                file,
                kind,
                store: self.inner.clone(),
                stop: self.stop.clone(),
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
    ) -> Result<Vec<TemporaryFile>> {
        self.inner.stale_temporaries(modified_before)
    }

    fn remove_temporary(&self, path: &str) -> Result {
        self.stop
            .check_write()
            .map_err(|stop| stopped("remove", &self.inner, path, stop))?;
        self.inner.remove_temporary(path)
    }
}

/// A pending file whose commit (the moment it appears under its name) is checked.
struct GuardedPending {
    file: Box<dyn PendingFile>,
    kind: FileKind,
    store: Arc<dyn Storage>,
    stop: Arc<StopSignals>,
}

impl PendingFile for GuardedPending {
    fn write_all(&mut self, data: &[u8]) -> Result {
        if let Err(stop) = self.stop.check_read() {
            return Err(stopped(
                "write",
                &self.store,
                &self.kind.path("(pending)"),
                stop,
            ));
        }
        self.file.write_all(data)
    }

    fn commit(self: Box<Self>, name: &str) -> Result {
        if let Err(stop) = self.stop.check_write() {
            return Err(stopped("write", &self.store, &self.kind.path(name), stop));
        }
        self.file.commit(name)
    }
}

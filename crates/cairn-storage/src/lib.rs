//! Where repository files live: the [`Storage`] trait and its stores.
//!
//! # Layout
//! - [`kind`]: the kinds of repository files and their directory names.
//! - [`error`]: [`StorageError`] with a matchable [`ErrorKind`] and `is_retryable`.
//! - [`local`]: a directory on a local file system, laid out as restic's local backend.
//! - [`memory`]: an in-memory store for tests.
//! - [`s3`]: a bucket on any S3-compatible service, through OpenDAL.
//! - [`rest`]: a repository behind a server speaking restic's REST protocol (rest-server, or
//!   a cairn server's `/rest/NAME/` endpoint).
//! - [`retention`]: Object Lock retention dates and object versions (S3 with a locked bucket).
//! - [`point_in_time`]: a read-only view of a versioned store as it was at an instant.
//! - [`throttle`]: a bandwidth limit (token bucket drawn per chunk), kept by the S3 transport.
//! - [`conformance`]: the suite every store must pass (feature `conformance`), with
//!   `s3_test_server` (a real S3 server) and `s3_test_proxy` (a proxy that measures or
//!   damages what goes on the wire) for tests.
//!
//! A storage knows files by kind and name, never the repository format: it does not decrypt,
//! parse or name objects. Policy (retry, concurrency) wraps a storage from outside; a bandwidth
//! limit has to pace bytes on the wire, so the S3 store keeps it in its HTTP transport.
//!
//! The trait is synchronous. The engine's work is CPU-bound and runs on threads; an async
//! store (S3) blocks on its own runtime inside its methods, and async callers (daemon, server)
//! call the engine through `spawn_blocking`.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod error;
pub mod kind;
pub mod local;
pub mod memory;
pub mod point_in_time;
pub mod rest;
pub mod retention;
pub mod s3;
#[cfg(any(test, feature = "conformance"))]
pub mod s3_test_proxy;
#[cfg(any(test, feature = "conformance"))]
pub mod s3_test_server;
pub mod throttle;

pub use error::{ErrorKind, StorageError};
pub use kind::FileKind;
pub use local::LocalStore;
pub use memory::MemoryStore;
pub use point_in_time::PointInTimeStore;
pub use rest::{RestLocation, RestStore};
pub use retention::{ObjectVersion, Retention, RetentionMode};
pub use s3::{S3Location, S3Store};

/// A file's name and size, as a listing returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub name: String,
    pub size: u64,
}

/// A temporary file a write cut short left in a store (the writing process was killed before
/// it renamed the file into place). Listings never show these; only [`Storage::stale_temporaries`]
/// finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryFile {
    /// Where it is, relative to the store's root (e.g. `data/ab/ab12…-tmp-3f0c…`).
    pub path: String,
    pub size: u64,
    pub modified: std::time::SystemTime,
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// The listing of kind `config` from the result of asking its size: one entry, or none when
/// the store holds no repository.
pub(crate) fn config_listing(size: Result<u64>) -> Result<Vec<ObjectInfo>> {
    match size {
        Ok(size) => Ok(vec![ObjectInfo {
            name: "config".into(),
            size,
        }]),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A file written piece by piece and stored under its name only when complete, so a large
/// file (a pack) need not be held in memory whole. Dropping it without `commit` discards it.
pub trait PendingFile: Send {
    fn write_all(&mut self, data: &[u8]) -> Result<()>;

    /// Stores the file under `name`, atomically as `put` does.
    fn commit(self: Box<Self>, name: &str) -> Result<()>;
}

/// A place that holds repository files.
///
/// Invariants every implementation keeps (the conformance suite checks them):
/// - `put` is atomic: a reader sees either no file or the whole file, never a prefix, even if
///   the process dies during the call. Writing an existing name replaces it atomically.
/// - `list` returns only complete files with valid names (no temporary files).
/// - `get`/`get_range`/`size`/`remove` of a missing file fail with [`ErrorKind::NotFound`].
/// - Files of kind [`FileKind::Config`] have the single name `config`; the name argument is
///   ignored for it.
pub trait Storage: Send + Sync {
    /// Where this store is, for messages (a path or a URL without credentials).
    fn location(&self) -> String;

    /// Creates what a new repository needs (directories); fails if a `config` already exists.
    fn create(&self) -> Result<()>;

    /// Writes a whole file atomically.
    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()>;

    /// Writes a whole file as `put` does, into the store's storage class for bulk data where it
    /// has one (S3 with a storage class set: the offsite mirror's data packs). Stores without
    /// classes just `put`.
    fn put_bulk(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()> {
        self.put(kind, name, data)
    }

    /// Writes a whole file as `put` (or, with `bulk`, `put_bulk`) does, with a retention the
    /// store enforces: the version written cannot be deleted or overwritten before
    /// `retention.retain_until` (S3 Object Lock). Stores without locks refuse with
    /// [`retention::unsupported`].
    fn put_retained(
        &self,
        kind: FileKind,
        name: &str,
        _data: &[u8],
        _bulk: bool,
        _retention: &Retention,
    ) -> Result<()> {
        Err(retention::unsupported(
            "write",
            format!("{}/{}", self.location(), kind.path(name)),
        ))
    }

    /// Sets the retention of a file's current version to `retention` (a later date than it
    /// has; stores refuse to shorten one).
    fn extend_retention(&self, kind: FileKind, name: &str, _retention: &Retention) -> Result<()> {
        Err(retention::unsupported(
            "extend retention of",
            format!("{}/{}", self.location(), kind.path(name)),
        ))
    }

    /// The retention of a file's current version; `None` when it has none.
    fn retention(&self, kind: FileKind, name: &str) -> Result<Option<Retention>> {
        Err(retention::unsupported(
            "read retention of",
            format!("{}/{}", self.location(), kind.path(name)),
        ))
    }

    /// Every version of every file of a kind (older contents and delete markers included), in
    /// no particular order. Names are validated as `list` validates them.
    fn list_versions(&self, kind: FileKind) -> Result<Vec<ObjectVersion>> {
        Err(retention::unsupported(
            "list versions of",
            format!("{}/{}", self.location(), kind.dir()),
        ))
    }

    /// Fails, saying what to change, unless the store keeps versions and enforces retention
    /// dates (S3: versioning Enabled and Object Lock enabled on the bucket).
    fn check_object_lock(&self) -> Result<()> {
        Err(retention::unsupported("use", self.location()))
    }

    /// Reads one version of a file whole.
    fn get_version(&self, kind: FileKind, name: &str, _version_id: &str) -> Result<Vec<u8>> {
        Err(retention::unsupported(
            "read",
            format!("{}/{}", self.location(), kind.path(name)),
        ))
    }

    /// Reads a whole file.
    fn get(&self, kind: FileKind, name: &str) -> Result<Vec<u8>>;

    /// Reads `length` bytes at `offset`; fails if the file is shorter.
    fn get_range(&self, kind: FileKind, name: &str, offset: u64, length: u64) -> Result<Vec<u8>>;

    /// Like `get_range`, into a buffer the caller reuses (replacing its contents), so that a
    /// restore reading thousands of ranges does not allocate fresh memory for each.
    fn get_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        length: u64,
        buffer: &mut Vec<u8>,
    ) -> Result<()> {
        let data = self.get_range(kind, name, offset, length)?;
        buffer.clear();
        buffer.extend_from_slice(&data);
        Ok(())
    }

    /// The size of a file.
    fn size(&self, kind: FileKind, name: &str) -> Result<u64>;

    /// Every file of a kind, in no particular order.
    fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>>;

    /// Deletes a file.
    fn remove(&self, kind: FileKind, name: &str) -> Result<()>;

    /// Makes every completed `put` and `remove` durable (survives power loss). The engine calls
    /// it at commit points: after packs and before the index that names them, after the index
    /// and before the snapshot. Stores that are durable on return from `put` do nothing.
    fn sync(&self) -> Result<()>;

    /// A pending file of `kind` written straight into the store, where that saves holding the
    /// whole file in memory (a local disk). `None` (the default): the caller buffers the file
    /// and stores it with `put`.
    fn create_pending(&self, _kind: FileKind) -> Result<Option<Box<dyn PendingFile>>> {
        Ok(None)
    }

    /// Whether the store is reached over a network, so that keeping copies of what is read
    /// often (a metadata cache) saves time. Local and in-memory stores say no.
    fn is_remote(&self) -> bool {
        false
    }

    /// How many `put`s are worth running at once. A local disk takes writes into the page
    /// cache faster than they are produced, so one is enough and holds the least memory; a
    /// remote store hides latency with several.
    fn write_concurrency(&self) -> usize {
        4
    }

    /// Temporary files last modified before `modified_before`: what writers killed mid-write
    /// left. A store whose writes leave no temporary file behind (S3's single PUT, memory)
    /// has none.
    fn stale_temporaries(
        &self,
        _modified_before: std::time::SystemTime,
    ) -> Result<Vec<TemporaryFile>> {
        Ok(Vec::new())
    }

    /// Deletes a temporary file [`Storage::stale_temporaries`] returned (by its `path`). Fails
    /// with [`ErrorKind::Invalid`] for a path that is not a temporary file of this store, and
    /// with [`ErrorKind::NotFound`] for one already gone.
    fn remove_temporary(&self, path: &str) -> Result<()> {
        Err(StorageError::new(
            ErrorKind::NotFound,
            "remove temporary file",
            format!("{}/{path}", self.location()),
            "this store keeps no temporary files",
        ))
    }
}

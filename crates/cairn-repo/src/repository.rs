//! An open repository: a storage, the master key that decrypts it, and its config.
//!
//! Every object read through here is authenticated: unpacked files are checked against their
//! name (the SHA-256 of their stored bytes) and their MAC before anything parses them, and
//! blobs are checked against their id after decryption. A flipped bit is an error that names the
//! object, never silent garbage.

use std::sync::Arc;

use cairn_chunker::{ChunkerTables, Polynomial};
use cairn_crypto::MasterKey;
use cairn_format::unpacked::{decode_unpacked, encode_unpacked};
use cairn_format::{FormatError, Id, RepoConfig, REPOSITORY_VERSION};
use cairn_storage::{FileKind, Storage};

use crate::cache::MetadataCache;
use crate::keys::{self, KeyOptions};
use crate::lock::guarded_store::GuardedStore;
use crate::lock::stop::StopSignals;
use crate::lock::LockTimings;
use crate::{RepoError, Result};

/// zstd level for unpacked files (index, snapshots, locks): they are small and read often.
pub(crate) const UNPACKED_ZSTD_LEVEL: i32 = 3;

/// Cheap to clone: worker threads each hold one.
#[derive(Clone)]
pub struct Repository {
    /// The store, behind a guard that refuses writes once a lock held through this handle (or
    /// a clone) is lost.
    storage: Arc<dyn Storage>,
    /// Locks held through this handle and its clones, and its cancellation, for the guard.
    stop: Arc<StopSignals>,
    lock_timings: LockTimings,
    key: Arc<MasterKey>,
    /// The key file that opened the repository (the "current" key in `key list`).
    key_id: Id,
    config: RepoConfig,
    chunker_tables: Arc<ChunkerTables>,
    /// How long taking a lock keeps trying while another process holds one.
    lock_retry: std::time::Duration,
    /// Snapshots, index files and tree packs kept locally (remote repositories).
    cache: Option<Arc<MetadataCache>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.storage.location())
            .field("id", &self.config.id)
            .finish_non_exhaustive()
    }
}

impl Repository {
    /// Creates a new repository (format version 2) with one key for `password`.
    ///
    /// The key file is written before the config: a crash in between leaves a directory with no
    /// config, which is "not a repository", never a config nobody can decrypt.
    pub fn init(
        storage: Arc<dyn Storage>,
        password: &[u8],
        options: &KeyOptions,
    ) -> Result<Repository> {
        storage.create().map_err(|e| match e.kind {
            cairn_storage::ErrorKind::AlreadyExists => RepoError::AlreadyExists {
                location: storage.location(),
            },
            _ => RepoError::Storage(e),
        })?;
        let key = MasterKey::generate();
        let polynomial = Polynomial::random(&mut rand::rngs::OsRng);
        let config = RepoConfig {
            version: REPOSITORY_VERSION,
            id: hex::encode(cairn_crypto::random_bytes::<32>()),
            chunker_polynomial: polynomial.0,
            unknown_fields: Default::default(),
        };
        let key_id = keys::add_key(storage.as_ref(), &key, password, options)?;
        storage.put(FileKind::Config, "config", &key.seal(&config.to_json()))?;
        storage.sync()?;
        let stop = Arc::new(StopSignals::default());
        Ok(Repository {
            storage: Arc::new(GuardedStore::new(storage, stop.clone())),
            stop,
            lock_timings: LockTimings::default(),
            key: Arc::new(key),
            key_id,
            config,
            chunker_tables: Arc::new(ChunkerTables::new(polynomial)),
            lock_retry: std::time::Duration::ZERO,
            cache: None,
        })
    }

    /// Opens an existing repository with `password`, trying each key file in turn.
    pub fn open(storage: Arc<dyn Storage>, password: &[u8]) -> Result<Repository> {
        let sealed_config = match storage.get(FileKind::Config, "config") {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                return Err(RepoError::NotARepository {
                    location: storage.location(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let (key_id, key) = keys::find_key(storage.as_ref(), password)?;
        let plaintext = key.open(&sealed_config).map_err(|e| {
            RepoError::corrupt(format!("config of {}", storage.location()), e.to_string())
        })?;
        let config = RepoConfig::from_json(&plaintext).map_err(|e| {
            RepoError::corrupt(format!("config of {}", storage.location()), e.to_string())
        })?;
        let polynomial = Polynomial(config.chunker_polynomial);
        let tables = ChunkerTables::try_new(polynomial)
            .ok()
            .filter(|_| polynomial.is_irreducible())
            .ok_or_else(|| {
                RepoError::corrupt(
                    format!("config of {}", storage.location()),
                    format!("chunker polynomial {polynomial} is not an irreducible polynomial of degree 8 to 53"),
                )
            })?;
        let stop = Arc::new(StopSignals::default());
        Ok(Repository {
            storage: Arc::new(GuardedStore::new(storage, stop.clone())),
            stop,
            lock_timings: LockTimings::default(),
            key: Arc::new(key),
            key_id,
            config,
            chunker_tables: Arc::new(tables),
            lock_retry: std::time::Duration::ZERO,
            cache: None,
        })
    }

    /// Keep trying to take a lock for up to `wait` when it is held (default: fail at once).
    pub fn set_lock_retry(&mut self, wait: std::time::Duration) {
        self.lock_retry = wait;
    }

    pub fn lock_retry(&self) -> std::time::Duration {
        self.lock_retry
    }

    /// How often locks are refreshed and when they count as lost (tests shorten them).
    pub fn set_lock_timings(&mut self, timings: LockTimings) {
        self.lock_timings = timings;
    }

    pub fn lock_timings(&self) -> LockTimings {
        self.lock_timings
    }

    pub(crate) fn stop_signals(&self) -> &StopSignals {
        &self.stop
    }

    /// Stops this handle's (and its clones') operations at their next storage call once
    /// `flag` is set: the way a daemon cancels a job. `None` removes it.
    pub fn set_cancel(&self, flag: Option<Arc<std::sync::atomic::AtomicBool>>) {
        self.stop.set_cancel(flag);
    }

    /// `store` with writes that stop, as this repository's own do, once a lock held through
    /// this handle is lost: for what an operation writes elsewhere (the mirror's destination).
    pub fn guard_writes(&self, store: Arc<dyn Storage>) -> Arc<dyn Storage> {
        Arc::new(GuardedStore::new(store, self.stop.clone()))
    }

    /// Keeps snapshots, index files and tree packs in `cache` (see [`crate::cache`]); `None`
    /// reads everything from the store.
    pub fn set_cache(&mut self, cache: Option<Arc<MetadataCache>>) {
        self.cache = cache;
    }

    pub fn cache(&self) -> Option<&Arc<MetadataCache>> {
        self.cache.as_ref()
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub fn location(&self) -> String {
        self.storage.location()
    }

    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    pub fn key_id(&self) -> Id {
        self.key_id
    }

    /// Whether blobs and unpacked files may be compressed (format version 2).
    pub fn supports_compression(&self) -> bool {
        self.config.version >= 2
    }

    pub fn chunker_tables(&self) -> Arc<ChunkerTables> {
        self.chunker_tables.clone()
    }

    /// Reads an unpacked file (index, snapshot, lock) and returns its JSON, after checking its
    /// name against its hash and its MAC.
    pub fn load_unpacked(&self, kind: FileKind, id: &Id) -> Result<Vec<u8>> {
        let cache = self.cache.as_ref().filter(|_| is_cached(kind));
        if let Some(stored) = cache.and_then(|c| c.get(kind, id)) {
            match self.decode_unpacked(kind, id, &stored) {
                Ok(json) => return Ok(json),
                // The cache is never trusted: a damaged copy is fetched again.
                Err(_) => cache.expect("cache").forget(kind, id),
            }
        }
        let stored = self.storage.get(kind, &id.to_hex())?;
        let json = self.decode_unpacked(kind, id, &stored)?;
        if let Some(cache) = cache {
            cache.put(kind, id, &stored);
        }
        Ok(json)
    }

    /// The JSON inside stored bytes of an unpacked file named `id`.
    pub fn decode_unpacked(&self, kind: FileKind, id: &Id, stored: &[u8]) -> Result<Vec<u8>> {
        let object = || format!("{kind} {id}");
        if Id::hash(stored) != *id {
            return Err(RepoError::corrupt(
                object(),
                "its content does not match its name (SHA-256 mismatch)",
            ));
        }
        let plaintext = self
            .key
            .open(stored)
            .map_err(|e| RepoError::corrupt(object(), e.to_string()))?;
        if !self.supports_compression() {
            return Ok(plaintext);
        }
        decode_unpacked(&plaintext)
            .map_err(|e: FormatError| RepoError::corrupt(object(), e.to_string()))
    }

    /// Encrypts `json` (compressed in format version 2) and stores it under the hash of the
    /// stored bytes.
    pub fn save_unpacked(&self, kind: FileKind, json: &[u8]) -> Result<Id> {
        let (id, sealed) = self.seal_unpacked(json);
        self.storage.put(kind, &id.to_hex(), &sealed)?;
        if let Some(cache) = self.cache.as_ref().filter(|_| is_cached(kind)) {
            cache.put(kind, &id, &sealed);
        }
        Ok(id)
    }

    /// The stored form of an unpacked file and its id, without storing it (for callers that
    /// must record the id before the file exists, as locks do).
    pub fn seal_unpacked(&self, json: &[u8]) -> (Id, Vec<u8>) {
        let plaintext = if self.supports_compression() {
            encode_unpacked(json, UNPACKED_ZSTD_LEVEL)
        } else {
            json.to_vec()
        };
        let sealed = self.key.seal(&plaintext);
        (Id::hash(&sealed), sealed)
    }

    /// Ids of every file of a kind (names that are not ids are skipped). A listing of
    /// snapshots or index files also drops cached copies of files no longer listed.
    pub fn list_ids(&self, kind: FileKind) -> Result<Vec<(Id, u64)>> {
        let ids: Vec<(Id, u64)> = self
            .storage
            .list(kind)?
            .into_iter()
            .filter_map(|o| o.name.parse::<Id>().ok().map(|id| (id, o.size)))
            .collect();
        if let Some(cache) = self.cache.as_ref().filter(|_| is_cached(kind)) {
            let listed: std::collections::HashSet<Id> = ids.iter().map(|(id, _)| *id).collect();
            cache.retain(kind, |id| listed.contains(id));
        }
        Ok(ids)
    }
}

/// The unpacked kinds the cache keeps (locks change too often to be worth it).
fn is_cached(kind: FileKind) -> bool {
    matches!(kind, FileKind::Snapshot | FileKind::Index)
}

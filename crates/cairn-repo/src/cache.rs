//! A local cache of a remote repository's metadata: snapshots, index files and tree packs.
//!
//! Every command needs the snapshots and the index, and most need trees; against S3 that is
//! one request per file on every run. restic keeps them in `~/.cache/restic`; cairn keeps them
//! in `<base>/<repository id>/` laid out as the repository (`snapshots/ID`, `index/ID`,
//! `data/XX/ID`), where `<base>` is `~/.cache/cairn` unless the caller says otherwise.
//!
//! What keeps it safe:
//! - **Never trusted.** Files are named by the SHA-256 of their bytes, as in the repository. An
//!   unpacked file read from here goes through the same check as one from the store (hash,
//!   then MAC) and is fetched again when that fails; a tree pack is hashed whole the first time
//!   this process uses it, and fetched again on a mismatch. So a corrupt or tampered cache file
//!   costs a download, never a wrong answer.
//! - **Only what the repository holds.** A file enters the cache after it was read from the
//!   store and verified, or after it was written to the store. Listings prune files the
//!   repository no longer lists (see [`MetadataCache::retain`]).
//! - **Shared by processes.** Every write is a temporary file renamed into place (readers see
//!   the whole file or none); a file removed by another process while read is still readable
//!   through the open descriptor, and one removed before it is opened is a miss.
//! - **Bounded.** When the cache grows past its limit, the least recently used files go first
//!   (modification time, refreshed on every hit).
//!
//! Failures of the cache itself (a full disk, a read-only home) are logged and ignored: the
//! cache only ever saves requests.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use cairn_format::Id;
use cairn_storage::FileKind;
use sha2::{Digest, Sha256};

/// Default size limit: enough for the index and trees of several TiB of data.
pub const DEFAULT_CACHE_SIZE_BYTES: u64 = 4 << 30;

/// `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`.
pub fn default_base() -> Option<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from("XDG_CACHE_HOME")
        .or_else(|| from("HOME").map(|home| home.join(".cache")))
        .map(|dir| dir.join("cairn"))
}

/// The cache of `repo` under `base` (default: [`default_base`]) when the repository is remote;
/// `None` for local ones. A cache that cannot be opened is a warning, not an error: it only
/// ever saves requests.
pub fn open_for(
    repo: &crate::Repository,
    base: Option<&Path>,
) -> Option<std::sync::Arc<MetadataCache>> {
    if !repo.storage().is_remote() {
        return None;
    }
    let base = base.map(Path::to_path_buf).or_else(default_base)?;
    match MetadataCache::open(&base, &repo.config().id, DEFAULT_CACHE_SIZE_BYTES) {
        Ok(cache) => Some(std::sync::Arc::new(cache)),
        Err(e) => {
            tracing::warn!(
                "cannot use the cache in {}: {e}; going on without (set --cache-dir or --no-cache)",
                base.display()
            );
            None
        }
    }
}

/// The kinds kept here.
const CACHED_KINDS: [FileKind; 3] = [FileKind::Snapshot, FileKind::Index, FileKind::Pack];

/// Marks the directory as a cache for backup tools that honour it (restic, borg, tar).
const CACHEDIR_TAG: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by cairn.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

pub struct MetadataCache {
    dir: PathBuf,
    max_bytes: u64,
    /// An estimate of the bytes held (this process's view; others may add more), to decide
    /// when to look for files to evict.
    held_bytes: AtomicU64,
    /// Tree packs whose whole content was hashed against their name by this process.
    verified_packs: Mutex<HashSet<Id>>,
    /// One lock per stripe of pack ids, so two threads needing the same pack download it once.
    pack_fetches: [Mutex<()>; 16],
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl MetadataCache {
    /// Opens (creating it if needed) the cache of repository `repository_id` under `base`.
    pub fn open(base: &Path, repository_id: &str, max_bytes: u64) -> std::io::Result<Self> {
        if repository_id.is_empty() || !repository_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("repository id {repository_id:?} cannot name a cache directory"),
            ));
        }
        fs::create_dir_all(base)?;
        let tag = base.join("CACHEDIR.TAG");
        if !tag.exists() {
            write_atomically(&tag, CACHEDIR_TAG)?;
        }
        let dir = base.join(repository_id);
        for kind in CACHED_KINDS {
            fs::create_dir_all(dir.join(kind.dir()))?;
        }
        let held: u64 = cached_files(&dir).iter().map(|(_, size, _)| size).sum();
        Ok(MetadataCache {
            dir,
            max_bytes,
            held_bytes: AtomicU64::new(held),
            verified_packs: Mutex::new(HashSet::new()),
            pack_fetches: std::array::from_fn(|_| Mutex::new(())),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, kind: FileKind, id: &Id) -> PathBuf {
        self.dir.join(kind.path(&id.to_hex()))
    }

    /// The cached bytes of an unpacked file, unverified (the caller checks them as it checks
    /// the store's, and calls [`MetadataCache::forget`] when they fail).
    pub fn get(&self, kind: FileKind, id: &Id) -> Option<Vec<u8>> {
        let path = self.path(kind, id);
        let bytes = fs::read(&path).ok()?;
        touch(&path);
        Some(bytes)
    }

    /// Keeps verified (or just written) bytes of `kind`/`id`.
    pub fn put(&self, kind: FileKind, id: &Id, bytes: &[u8]) {
        let path = self.path(kind, id);
        if path.exists() {
            return;
        }
        if let Some(parent) = path.parent() {
            if let Err(e) = fs::create_dir_all(parent) {
                tracing::debug!("cache: cannot create {}: {e}", parent.display());
                return;
            }
        }
        match write_atomically(&path, bytes) {
            Ok(()) => {
                let held = self
                    .held_bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed)
                    + bytes.len() as u64;
                if held > self.max_bytes {
                    self.evict();
                }
            }
            Err(e) => tracing::debug!("cache: cannot write {}: {e}", path.display()),
        }
    }

    /// Drops a cached file that failed verification.
    pub fn forget(&self, kind: FileKind, id: &Id) {
        tracing::warn!(
            "cache: {kind} {id} in {} is damaged; fetching it again",
            self.dir.display()
        );
        if kind == FileKind::Pack {
            self.verified_packs
                .lock()
                .expect("verified packs")
                .remove(id);
        }
        let _ = fs::remove_file(self.path(kind, id));
    }

    /// `length` bytes at `offset` of tree pack `pack`, from the cache, or `None` when the pack
    /// is not here (or was damaged, and is now gone). The whole file is hashed against its name
    /// the first time this process reads it.
    pub fn read_pack_range(&self, pack: &Id, offset: u64, length: u64) -> Option<Vec<u8>> {
        let path = self.path(FileKind::Pack, pack);
        let mut file = File::open(&path).ok()?;
        let verified = self
            .verified_packs
            .lock()
            .expect("verified packs")
            .contains(pack);
        if !verified {
            if sha256_of(&mut file).ok()? != *pack {
                self.forget(FileKind::Pack, pack);
                return None;
            }
            self.verified_packs
                .lock()
                .expect("verified packs")
                .insert(*pack);
            touch(&path);
        }
        let mut buffer = vec![0; usize::try_from(length).ok()?];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut buffer).ok()?;
        Some(buffer)
    }

    /// Serialises fetches of one pack (and of the others in its stripe): the caller looks in
    /// the cache again once it holds the guard, so a pack is downloaded once.
    pub fn pack_fetch_guard(&self, pack: &Id) -> std::sync::MutexGuard<'_, ()> {
        let stripe = usize::from(pack.as_bytes()[0]) % self.pack_fetches.len();
        self.pack_fetches[stripe].lock().expect("pack fetch")
    }

    /// Keeps a whole tree pack whose bytes hash to its name (checked here).
    pub fn put_pack(&self, pack: &Id, bytes: &[u8]) -> bool {
        if Id::hash(bytes) != *pack {
            return false;
        }
        self.put(FileKind::Pack, pack, bytes);
        self.verified_packs
            .lock()
            .expect("verified packs")
            .insert(*pack);
        true
    }

    /// Removes cached files of `kind` that `keep` rejects: what the repository no longer
    /// lists (after a forget or prune, here or on another host).
    pub fn retain(&self, kind: FileKind, keep: impl Fn(&Id) -> bool) {
        for (path, size, _) in files_of(&self.dir.join(kind.dir())) {
            let Some(id) = id_of(&path) else { continue };
            if !keep(&id) && fs::remove_file(&path).is_ok() {
                self.held_bytes.fetch_sub(
                    size.min(self.held_bytes.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
                if kind == FileKind::Pack {
                    self.verified_packs
                        .lock()
                        .expect("verified packs")
                        .remove(&id);
                }
            }
        }
    }

    /// Removes the least recently used files until the cache holds 90% of its limit.
    fn evict(&self) {
        let mut files = cached_files(&self.dir);
        let mut held: u64 = files.iter().map(|(_, size, _)| size).sum();
        let target = self.max_bytes / 10 * 9;
        files.sort_by_key(|(_, _, used)| *used);
        for (path, size, _) in files {
            if held <= target {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                held -= size;
                if let Some(id) = id_of(&path) {
                    self.verified_packs
                        .lock()
                        .expect("verified packs")
                        .remove(&id);
                }
            }
        }
        self.held_bytes.store(held, Ordering::Relaxed);
    }
}

/// Every cached file with its size and last use.
fn cached_files(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    CACHED_KINDS
        .iter()
        .flat_map(|kind| files_of(&dir.join(kind.dir())))
        .collect()
}

/// Regular files below `dir` (one level of sub-directories for packs), without temporaries.
fn files_of(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            out.extend(files_of(&entry.path()));
        } else if id_of(&entry.path()).is_some() {
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.push((entry.path(), meta.len(), used));
        }
    }
    out
}

fn id_of(path: &Path) -> Option<Id> {
    path.file_name()?.to_str()?.parse().ok()
}

/// Marks a file as just used, for the LRU order.
fn touch(path: &Path) {
    if let Ok(file) = File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn sha256_of(file: &mut File) -> std::io::Result<Id> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(Id(hasher.finalize().into()))
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place, so that other
/// processes see the whole file or none.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_file_name(format!(
        ".{}.tmp-{}-{:x}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("cache"),
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max: u64) -> (tempfile::TempDir, MetadataCache) {
        let base = tempfile::tempdir().unwrap();
        let cache = MetadataCache::open(base.path(), "abc123", max).unwrap();
        (base, cache)
    }

    #[test]
    fn a_damaged_pack_is_never_read_and_is_removed() {
        let (_base, cache) = cache(1 << 30);
        let pack_bytes = b"tree pack bytes".repeat(100);
        let pack = Id::hash(&pack_bytes);
        assert!(cache.put_pack(&pack, &pack_bytes));
        assert_eq!(
            cache.read_pack_range(&pack, 15, 15).unwrap(),
            b"tree pack bytes"
        );
        // Damage the file and start afresh (a new process has verified nothing).
        let path = cache.path(FileKind::Pack, &pack);
        let mut damaged = pack_bytes.clone();
        damaged[700] ^= 1;
        fs::write(&path, &damaged).unwrap();
        let (base, _) = (cache.dir.parent().unwrap().to_path_buf(), ());
        let fresh = MetadataCache::open(&base, "abc123", 1 << 30).unwrap();
        assert_eq!(fresh.read_pack_range(&pack, 0, 10), None);
        assert!(!path.exists(), "the damaged file is gone");
        // Bytes that do not hash to the name are refused.
        assert!(!fresh.put_pack(&pack, &damaged));
    }

    #[test]
    fn retain_removes_what_the_repository_no_longer_lists() {
        let (_base, cache) = cache(1 << 30);
        let keep = Id::hash(b"keep");
        let gone = Id::hash(b"gone");
        cache.put(FileKind::Index, &keep, b"keep");
        cache.put(FileKind::Index, &gone, b"gone");
        cache.retain(FileKind::Index, |id| *id == keep);
        assert!(cache.get(FileKind::Index, &keep).is_some());
        assert!(cache.get(FileKind::Index, &gone).is_none());
    }

    #[test]
    fn the_least_recently_used_files_go_first_beyond_the_limit() {
        let (_base, cache) = cache(13_000);
        let ids: Vec<Id> = (0..4u8).map(|i| Id::hash(&[i])).collect();
        for (i, id) in ids.iter().enumerate() {
            cache.put(FileKind::Snapshot, id, &[i as u8; 3000]);
            // Distinct modification times, oldest first.
            let path = cache.path(FileKind::Snapshot, id);
            let file = File::options().append(true).open(&path).unwrap();
            file.set_modified(
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i as u64),
            )
            .unwrap();
        }
        // Reading the oldest makes it the most recent; the fifth put goes past the limit and
        // eviction brings the cache under 90% of it, oldest first.
        cache.get(FileKind::Snapshot, &ids[0]);
        cache.put(FileKind::Snapshot, &Id::hash(b"new"), &[9; 3000]);
        let left: Vec<bool> = ids
            .iter()
            .map(|id| cache.path(FileKind::Snapshot, id).exists())
            .collect();
        assert_eq!(left, [true, false, false, true], "{left:?}");
    }

    #[test]
    fn a_repository_id_that_is_not_a_plain_name_is_refused() {
        let base = tempfile::tempdir().unwrap();
        assert!(MetadataCache::open(base.path(), "../escape", 1).is_err());
        assert!(!base.path().join("escape").exists());
    }
}

//! A repository in a directory of the local file system, laid out as restic's local backend:
//! `config`, `keys/`, `locks/`, `snapshots/`, `index/`, `data/00` … `data/ff`.
//!
//! Durability: `put` writes a temporary file beside the target (`<name>-tmp-<random>`, a
//! form restic also skips when listing) and renames it into place, so a reader never sees a
//! partial file. It does not fsync each file: `sync` flushes the whole file system once
//! (`syncfs`) at the engine's commit points, which is what makes packs durable before the index
//! that names them without an fsync per pack.
//!
//! Leftovers: a process killed between creating a temporary file and renaming it leaves the
//! file behind. Listings skip them; [`Storage::stale_temporaries`] finds those of the forms
//! this store (and restic's local backend) writes, and nothing else, so removing what it
//! returns can never touch a repository file or a file someone else put in the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use rand::Rng;

use crate::{
    ErrorKind, FileKind, ObjectInfo, PendingFile, Result, Storage, StorageError, TemporaryFile,
};

/// Repository files are encrypted, but their names and sizes are still nobody else's business.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    /// Set by every put/remove and cleared by `sync`, so a sync with nothing to flush is free.
    dirty: Arc<AtomicBool>,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore {
            root: root.into(),
            dirty: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, kind: FileKind, name: &str) -> PathBuf {
        self.root.join(kind.path(name))
    }

    fn display(&self, kind: FileKind, name: &str) -> String {
        self.path(kind, name).display().to_string()
    }

    /// Every directory a write can leave a temporary file in, relative to the root: the root
    /// (config, sidecars), the directory of each kind, and `data/XX/`.
    fn temporary_dirs(&self) -> Result<Vec<String>> {
        let mut dirs = vec![String::new()];
        for kind in [
            FileKind::Key,
            FileKind::Lock,
            FileKind::Snapshot,
            FileKind::Index,
            FileKind::Pack,
        ] {
            dirs.push(kind.dir().to_string());
        }
        let data = self.root.join(FileKind::Pack.dir());
        for entry in read_dir_or_empty(&data)? {
            let entry =
                entry.map_err(|e| StorageError::from_io("list", data.display().to_string(), e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if let Some(name) = entry.file_name().to_str() {
                    dirs.push(format!("{}/{name}", FileKind::Pack.dir()));
                }
            }
        }
        Ok(dirs)
    }

    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let dir = path.parent().expect("object paths have a parent");
        let file_name = path
            .file_name()
            .expect("object paths have a name")
            .to_string_lossy();
        let suffix: u64 = rand::thread_rng().gen();
        let temp = dir.join(format!("{file_name}-tmp-{suffix:016x}"));
        let mut file = match open_new(&temp) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                create_dir_all(dir)?;
                open_new(&temp)?
            }
            other => other?,
        };
        let written = file.write_all(data).and_then(|()| {
            if data.len() >= EARLY_WRITEBACK_MIN {
                start_writeback(&file);
            }
            fs::rename(&temp, path)
        });
        if written.is_err() {
            // Leave no partial temporary file behind, e.g. after a full disk.
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

/// Files at least this large (packs) have their writeback started as soon as they are written.
const EARLY_WRITEBACK_MIN: usize = 1 << 20;

/// Asks the kernel to start writing the file to disk now, without waiting for it, so the
/// `syncfs` at the next commit point finds little left to do instead of the whole backup.
fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is valid for the lifetime of `file`; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

fn open_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

fn create_dir_all(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

use std::os::unix::fs::DirBuilderExt;

impl Storage for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn create(&self) -> Result<()> {
        let config = self.path(FileKind::Config, "config");
        if config.exists() {
            return Err(StorageError::new(
                ErrorKind::AlreadyExists,
                "create repository",
                self.location(),
                "a repository already exists here (config file found)",
            ));
        }
        let mut dirs = vec![self.root.clone()];
        for kind in [
            FileKind::Key,
            FileKind::Lock,
            FileKind::Snapshot,
            FileKind::Index,
        ] {
            dirs.push(self.root.join(kind.dir()));
        }
        for prefix in 0..=255u8 {
            dirs.push(self.root.join("data").join(format!("{prefix:02x}")));
        }
        for dir in dirs {
            create_dir_all(&dir).map_err(|e| {
                StorageError::from_io("create directory", dir.display().to_string(), e)
            })?;
        }
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()> {
        let path = self.path(kind, name);
        self.write_new(&path, data)
            .map_err(|e| StorageError::from_io("write", path.display().to_string(), e))?;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    fn get(&self, kind: FileKind, name: &str) -> Result<Vec<u8>> {
        fs::read(self.path(kind, name))
            .map_err(|e| StorageError::from_io("read", self.display(kind, name), e))
    }

    fn get_range(&self, kind: FileKind, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        let mut buffer = Vec::new();
        self.get_range_into(kind, name, offset, length, &mut buffer)?;
        Ok(buffer)
    }

    fn get_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        length: u64,
        buffer: &mut Vec<u8>,
    ) -> Result<()> {
        let path = self.path(kind, name);
        let object = || path.display().to_string();
        let file = File::open(&path).map_err(|e| StorageError::from_io("read", object(), e))?;
        buffer.clear();
        buffer.resize(length as usize, 0);
        file.read_exact_at(buffer, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                StorageError::new(
                    ErrorKind::Invalid,
                    "read",
                    object(),
                    format!(
                        "file ends before byte {} (wanted {length} bytes at {offset})",
                        offset + length
                    ),
                )
            } else {
                StorageError::from_io("read", object(), e)
            }
        })
    }

    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        fs::metadata(self.path(kind, name))
            .map(|m| m.len())
            .map_err(|e| StorageError::from_io("stat", self.display(kind, name), e))
    }

    fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>> {
        if kind == FileKind::Config {
            return crate::config_listing(self.size(kind, "config"));
        }
        let dir = self.root.join(kind.dir());
        let mut dirs = Vec::new();
        if kind == FileKind::Pack {
            for entry in read_dir_or_empty(&dir)? {
                let entry = entry
                    .map_err(|e| StorageError::from_io("list", dir.display().to_string(), e))?;
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    dirs.push(entry.path());
                }
            }
        } else {
            dirs.push(dir);
        }
        let mut out = Vec::new();
        for dir in dirs {
            for entry in read_dir_or_empty(&dir)? {
                let entry = entry
                    .map_err(|e| StorageError::from_io("list", dir.display().to_string(), e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if !kind.is_valid_name(&name) {
                    continue;
                }
                // Removed between readdir and stat: it is no longer part of the listing.
                let Some(metadata) = metadata_unless_gone(&entry)? else {
                    continue;
                };
                if metadata.is_file() {
                    out.push(ObjectInfo {
                        name,
                        size: metadata.len(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        fs::remove_file(self.path(kind, name))
            .map_err(|e| StorageError::from_io("remove", self.display(kind, name), e))?;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    fn write_concurrency(&self) -> usize {
        1
    }

    fn create_pending(&self, kind: FileKind) -> Result<Option<Box<dyn PendingFile>>> {
        let dir = match kind {
            FileKind::Config => self.root.clone(),
            other => self.root.join(other.dir()),
        };
        let suffix: u64 = rand::thread_rng().gen();
        // The `-tmp-` form is one restic also skips when listing; it sits in `data/` itself
        // because the final subdirectory depends on the name, known only at the end.
        let temp = dir.join(format!("pending-tmp-{suffix:016x}"));
        let file = match open_new(&temp) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                create_dir_all(&dir).and_then(|()| open_new(&temp))
            }
            other => other,
        }
        .map_err(|e| StorageError::from_io("write", temp.display().to_string(), e))?;
        Ok(Some(Box::new(LocalPending {
            file: Some(file),
            temp,
            root: self.root.clone(),
            kind,
            dirty: self.dirty.clone(),
        })))
    }

    fn stale_temporaries(&self, modified_before: SystemTime) -> Result<Vec<TemporaryFile>> {
        let mut found = Vec::new();
        for dir in self.temporary_dirs()? {
            let full = self.root.join(&dir);
            for entry in read_dir_or_empty(&full)? {
                let entry = entry
                    .map_err(|e| StorageError::from_io("list", full.display().to_string(), e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let path = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                if !is_temporary_path(&path) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                // Renamed into place or removed meanwhile: not a leftover.
                let Some(metadata) = metadata_unless_gone(&entry)? else {
                    continue;
                };
                let modified = metadata.modified().map_err(|e| {
                    StorageError::from_io("stat", entry.path().display().to_string(), e)
                })?;
                if modified < modified_before {
                    found.push(TemporaryFile {
                        path,
                        size: metadata.len(),
                        modified,
                    });
                }
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    fn remove_temporary(&self, path: &str) -> Result<()> {
        let full = self.root.join(path);
        if !is_temporary_path(path) {
            return Err(StorageError::new(
                ErrorKind::Invalid,
                "remove temporary file",
                full.display().to_string(),
                "not a temporary file of this repository; nothing was removed",
            ));
        }
        fs::remove_file(&full).map_err(|e| {
            StorageError::from_io("remove temporary file", full.display().to_string(), e)
        })?;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let dir = File::open(&self.root)
            .map_err(|e| StorageError::from_io("sync", self.location(), e))?;
        syncfs(&dir).map_err(|e| {
            self.dirty.store(true, Ordering::Release);
            StorageError::from_io("sync", self.location(), e)
        })
    }
}

/// A file being written in place under a temporary name.
struct LocalPending {
    file: Option<File>,
    temp: PathBuf,
    root: PathBuf,
    kind: FileKind,
    dirty: Arc<AtomicBool>,
}

impl PendingFile for LocalPending {
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        let file = self.file.as_mut().expect("open until committed");
        file.write_all(data)
            .map_err(|e| StorageError::from_io("write", self.temp.display().to_string(), e))
    }

    fn commit(mut self: Box<Self>, name: &str) -> Result<()> {
        let file = self.file.take().expect("open until committed");
        start_writeback(&file);
        drop(file);
        let path = self.root.join(self.kind.path(name));
        let renamed = fs::rename(&self.temp, &path).or_else(|err| match err.kind() {
            io::ErrorKind::NotFound => {
                create_dir_all(path.parent().expect("object paths have a parent"))?;
                fs::rename(&self.temp, &path)
            }
            _ => Err(err),
        });
        renamed.map_err(|e| StorageError::from_io("write", path.display().to_string(), e))?;
        // Committed: nothing for Drop to clean up.
        self.temp = PathBuf::new();
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }
}

impl Drop for LocalPending {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Whether `path` (relative to the root) is a temporary file this store or restic's local
/// backend writes: `<name>-tmp-<random>` beside the object it was to become, or
/// `pending-tmp-<random>` (a pack written in place) in a kind's directory. The name before
/// `-tmp-` must be one the directory holds, so no repository file, foreign file or path
/// outside the repository ever matches.
fn is_temporary_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let Some((stem, random)) = parts.last().and_then(|name| name.split_once("-tmp-")) else {
        return false;
    };
    if random.is_empty() || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    match parts.as_slice() {
        [_] => stem == "config" || stem == "pending" || FileKind::Sidecar.is_valid_name(stem),
        [dir, _] if *dir == FileKind::Pack.dir() => stem == "pending",
        [dir, prefix, _] if *dir == FileKind::Pack.dir() => {
            FileKind::Pack.is_valid_name(stem) && stem.starts_with(prefix)
        }
        [dir, _] => {
            [
                FileKind::Key,
                FileKind::Lock,
                FileKind::Snapshot,
                FileKind::Index,
            ]
            .iter()
            .any(|kind| kind.dir() == *dir)
                && (stem == "pending" || FileKind::Index.is_valid_name(stem))
        }
        _ => false,
    }
}

/// An entry's metadata, or `None` if it is gone since the directory was read.
fn metadata_unless_gone(entry: &fs::DirEntry) -> Result<Option<fs::Metadata>> {
    match entry.metadata() {
        Ok(metadata) => Ok(Some(metadata)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::from_io(
            "stat",
            entry.path().display().to_string(),
            e,
        )),
    }
}

fn read_dir_or_empty(dir: &Path) -> Result<Box<dyn Iterator<Item = io::Result<fs::DirEntry>>>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(Box::new(entries)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Box::new(std::iter::empty())),
        Err(e) => Err(StorageError::from_io("list", dir.display().to_string(), e)),
    }
}

fn syncfs(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is valid for the lifetime of `file`; syncfs only reads it.
    let rc = unsafe { libc::syncfs(file.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("repo"));
        crate::conformance::run_all(&store);
    }

    #[test]
    fn lays_out_files_as_restic_does_and_skips_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store.create().unwrap();
        assert!(dir.path().join("data/ff").is_dir());
        let name = "ab".repeat(32);
        store.put(FileKind::Pack, &name, b"x").unwrap();
        assert!(dir.path().join("data/ab").join(&name).is_file());
        fs::write(
            dir.path().join("data/ab").join(format!("{name}-tmp-1234")),
            b"partial",
        )
        .unwrap();
        let listed = store.list(FileKind::Pack).unwrap();
        assert_eq!(listed, vec![ObjectInfo { name, size: 1 }]);
        store.sync().unwrap();
    }

    /// Writes a file under the root with its modification time `age` in the past.
    fn leftover(root: &Path, path: &str, bytes: &[u8], age: std::time::Duration) {
        let full = root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, bytes).unwrap();
        let file = File::options().write(true).open(&full).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn finds_and_removes_only_stale_temporary_files() {
        let day = std::time::Duration::from_secs(86_400);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let store = LocalStore::new(root);
        store.create().unwrap();
        let pack = "ab".repeat(32);
        let index = "cd".repeat(32);
        let stale = [
            format!("data/ab/{pack}-tmp-0123456789abcdef"),
            "data/pending-tmp-00000000000000ff".to_string(),
            format!("index/{index}-tmp-1234"),
            "config-tmp-42".to_string(),
            "cairn-manifest-tmp-77".to_string(),
        ];
        for path in &stale {
            leftover(root, path, b"partial", 2 * day);
        }
        leftover(
            root,
            "data/pending-tmp-2",
            b"fresh",
            std::time::Duration::ZERO,
        );
        // Not leftovers of a write: a pack in the wrong directory, foreign files, a real object.
        leftover(root, &format!("data/cd/{pack}-tmp-1"), b"x", 2 * day);
        leftover(root, "notes-tmp-1", b"mine", 2 * day);
        leftover(root, "index/readme-tmp-1", b"mine", 2 * day);
        store.put(FileKind::Index, &index, b"whole").unwrap();

        let found = store.stale_temporaries(SystemTime::now() - day).unwrap();
        let mut expected: Vec<String> = stale.to_vec();
        expected.sort();
        let paths: Vec<&str> = found.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, expected);
        assert!(found.iter().all(|t| t.size == 7));
        // The half-written manifest is no sidecar.
        assert!(store.list(FileKind::Sidecar).unwrap().is_empty());
        // The cut-off decides: everything is older than a moment from now.
        assert_eq!(
            store
                .stale_temporaries(SystemTime::now() + day)
                .unwrap()
                .len(),
            stale.len() + 1
        );

        for t in &found {
            store.remove_temporary(&t.path).unwrap();
        }
        assert!(store
            .stale_temporaries(SystemTime::now() - day)
            .unwrap()
            .is_empty());
        assert!(root.join("data/pending-tmp-2").exists());
        for refused in [
            FileKind::Index.path(&index),
            "notes-tmp-1".to_string(),
            "../outside-tmp-1".to_string(),
            format!("data/cd/{pack}-tmp-1"),
        ] {
            let err = store.remove_temporary(&refused).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Invalid, "{refused}: {err}");
        }
        assert_eq!(store.get(FileKind::Index, &index).unwrap(), b"whole");
    }

    #[test]
    fn create_refuses_an_existing_repository() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store.create().unwrap();
        store.put(FileKind::Config, "config", b"c").unwrap();
        assert_eq!(store.create().unwrap_err().kind, ErrorKind::AlreadyExists);
    }
}

//! A restore planned in tiny batches (one file each) restores exactly what the source holds and
//! what a restore in one batch restores: hard links whose first path is in an earlier batch,
//! blobs shared by files in different batches, holes, include patterns, metadata (directories'
//! times survive links made in later batches), `--verify` and the progress totals. The plan
//! held at once stays a few batches however many files the snapshot has.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cairn_format::Id;
use cairn_repo::backup::{backup, BackupOptions, NoObserver, Pattern};
use cairn_repo::index::Index;
use cairn_repo::keys::KeyOptions;
use cairn_repo::progress::{Operation, Phase, Progress};
use cairn_repo::restore::{
    restore, NoRestoreObserver, RestoreObserver, RestoreOptions, RestoreSummary,
};
use cairn_repo::snapshots::load_all_snapshots;
use cairn_repo::Repository;
use cairn_storage::{FileKind, LocalStore, ObjectInfo, Result as StorageResult, Storage};

/// Writes `content` to `path` with permission bits `mode` and a fixed mtime.
fn write_file(path: &Path, content: &[u8], mode: u32, mtime_secs: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(path, mtime_secs);
}

fn set_mtime(path: &Path, secs: u64) {
    let time = SystemTime::UNIX_EPOCH + Duration::new(secs, 123_456_789);
    fs::File::open(path).unwrap().set_modified(time).unwrap();
}

/// Three directories of small files, walked in the order a, m, z: copies of one content in
/// each (one blob, used from three batches), a file with three links spread over them, a pair
/// of links next to each other and an empty file with two links, a file with a hole, a
/// symlink and a FIFO; every directory gets its own mode and mtime once everything below it
/// exists.
fn source_tree(src: &Path) {
    let shared = b"the same bytes in three directories\n".repeat(50);
    for (d, dir) in ["a", "m", "z/deep"].iter().enumerate() {
        for i in 0..20 {
            let content = format!("{dir} file {i}\n").repeat(10 + i);
            let mode = if i % 3 == 0 { 0o600 } else { 0o644 };
            let path = src.join(dir).join(format!("f{i:02}.txt"));
            write_file(
                &path,
                content.as_bytes(),
                mode,
                1_600_000_000 + (d * 100 + i) as u64,
            );
        }
    }
    for dir in ["a", "m", "z"] {
        write_file(
            &src.join(dir).join("shared.dup"),
            &shared,
            0o644,
            1_650_000_000,
        );
    }
    write_file(
        &src.join("a/linked"),
        b"one inode, three names\n",
        0o640,
        1_660_000_000,
    );
    fs::hard_link(src.join("a/linked"), src.join("m/linked-again")).unwrap();
    fs::hard_link(src.join("a/linked"), src.join("z/linked-too")).unwrap();
    // Consecutive entries: the link's batch comes right after its first path's.
    write_file(
        &src.join("m/pair-1"),
        &[5u8; 100 << 10],
        0o644,
        1_660_000_002,
    );
    fs::hard_link(src.join("m/pair-1"), src.join("m/pair-2")).unwrap();
    write_file(&src.join("a/empty-linked"), b"", 0o600, 1_660_000_001);
    fs::hard_link(src.join("a/empty-linked"), src.join("z/empty-link")).unwrap();

    // 4 MiB with data only in its first and last 64 KiB: the chunker cuts blobs of zeros.
    let sparse = src.join("m/sparse.img");
    let mut file = fs::File::create(&sparse).unwrap();
    file.write_all(&[7u8; 64 << 10]).unwrap();
    file.seek(SeekFrom::Start((4 << 20) - (64 << 10))).unwrap();
    file.write_all(&[9u8; 64 << 10]).unwrap();
    drop(file);
    set_mtime(&sparse, 1_670_000_000);

    std::os::unix::fs::symlink("../a/f00.txt", src.join("m/sym")).unwrap();
    let fifo = std::ffi::CString::new(src.join("m/fifo").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: fifo is a valid NUL-terminated path for the call.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);

    for (dir, mode, secs) in [
        ("z/deep", 0o750, 1_680_000_003),
        ("z", 0o755, 1_680_000_002),
        ("m", 0o711, 1_680_000_001),
        ("a", 0o700, 1_680_000_000),
        ("", 0o755, 1_690_000_000),
    ] {
        let path = src.join(dir);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        set_mtime(&path, secs);
    }
}

/// What a tree holds, per path relative to its root: type, permission bits, mtime, content
/// (or link target), and for files with several links the first path (in sorted order) of
/// the same inode in the tree.
fn listing(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut first_of_inode: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    let mut paths = Vec::new();
    while let Some(path) = stack.pop() {
        paths.push(path.clone());
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    paths.sort();
    for path in paths {
        let meta = fs::symlink_metadata(&path).unwrap();
        let relative = path.strip_prefix(root).unwrap().to_path_buf();
        let kind = meta.file_type();
        let what = if kind.is_symlink() {
            format!("symlink to {}", fs::read_link(&path).unwrap().display())
        } else if kind.is_file() {
            let content = Id::hash(&fs::read(&path).unwrap());
            let group = if meta.nlink() > 1 {
                let first = first_of_inode
                    .entry(meta.ino())
                    .or_insert_with(|| relative.clone());
                format!(", linked with {}", first.display())
            } else {
                String::new()
            };
            format!("file {} bytes {content}{group}", meta.len())
        } else if kind.is_dir() {
            "dir".to_string()
        } else {
            "special".to_string()
        };
        let mtime = if kind.is_symlink() {
            String::new()
        } else {
            format!(" mtime {}.{}", meta.mtime(), meta.mtime_nsec())
        };
        out.insert(
            relative,
            format!("{what} mode {:o}{mtime}", meta.mode() & 0o7777),
        );
    }
    out
}

/// Shows progress: the totals and counts the progress display would get.
struct Totals(Progress);

impl Totals {
    fn new() -> Totals {
        Totals(Progress::new(Operation::Restore))
    }

    fn planned(&self) -> Option<(u64, u64)> {
        let snapshot = self.0.snapshot();
        snapshot.files_total.zip(snapshot.bytes_total)
    }
}

impl RestoreObserver for Totals {
    fn progress(&self) -> Option<&Progress> {
        Some(&self.0)
    }
}

/// A local store whose range reads wait a little while `slow` is set, so the content workers
/// fall behind the planner: a batch finished before the batches planned earlier (a hard link
/// made before its first path exists) then shows.
struct SlowReads {
    store: LocalStore,
    slow: AtomicBool,
}

impl SlowReads {
    fn wait(&self) {
        if self.slow.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Storage for SlowReads {
    fn location(&self) -> String {
        self.store.location()
    }
    fn create(&self) -> StorageResult<()> {
        self.store.create()
    }
    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> StorageResult<()> {
        self.store.put(kind, name, data)
    }
    fn get(&self, kind: FileKind, name: &str) -> StorageResult<Vec<u8>> {
        self.store.get(kind, name)
    }
    fn get_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        length: u64,
    ) -> StorageResult<Vec<u8>> {
        self.wait();
        self.store.get_range(kind, name, offset, length)
    }
    fn get_range_into(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        length: u64,
        buffer: &mut Vec<u8>,
    ) -> StorageResult<()> {
        self.wait();
        self.store
            .get_range_into(kind, name, offset, length, buffer)
    }
    fn size(&self, kind: FileKind, name: &str) -> StorageResult<u64> {
        self.store.size(kind, name)
    }
    fn list(&self, kind: FileKind) -> StorageResult<Vec<ObjectInfo>> {
        self.store.list(kind)
    }
    fn remove(&self, kind: FileKind, name: &str) -> StorageResult<()> {
        self.store.remove(kind, name)
    }
    fn sync(&self) -> StorageResult<()> {
        self.store.sync()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    scratch: PathBuf,
    src: PathBuf,
    repo: Repository,
    store: Arc<SlowReads>,
    index: Index,
    tree: Id,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().to_path_buf();
        let src = scratch.join("src");
        source_tree(&src);
        let store = Arc::new(SlowReads {
            store: LocalStore::new(scratch.join("repo")),
            slow: AtomicBool::new(false),
        });
        let repo = Repository::init(store.clone(), b"pw", &KeyOptions::default()).unwrap();
        let summary = backup(
            &repo,
            std::slice::from_ref(&src),
            &BackupOptions::default(),
            &NoObserver,
        )
        .unwrap();
        assert!(summary.errors.is_empty(), "{:?}", summary.errors);
        let (_, snapshot) = load_all_snapshots(&repo).unwrap().pop().unwrap();
        let index = Index::load(&repo).unwrap();
        Fixture {
            _dir: dir,
            scratch,
            src,
            repo,
            store,
            index,
            tree: snapshot.tree,
        }
    }

    /// Restores into `name` with plan batches of at most `batch_plan_bytes_max` (1: one file
    /// each; 0: the default, which holds this whole tree); returns the summary and the
    /// restored copy of `src`.
    fn restore(
        &self,
        name: &str,
        batch_plan_bytes_max: usize,
        include: &[&str],
        threads: usize,
        observer: &dyn RestoreObserver,
    ) -> (RestoreSummary, PathBuf) {
        let target = self.scratch.join(name);
        let options = RestoreOptions {
            include: include
                .iter()
                .map(|p| Pattern::new(p, false).unwrap())
                .collect(),
            verify: true,
            threads,
            batch_plan_bytes_max,
            ..RestoreOptions::default()
        };
        let summary = restore(
            &self.repo,
            &self.index,
            &self.tree,
            &target,
            &options,
            observer,
        )
        .unwrap();
        assert!(summary.errors.is_empty(), "{name}: {:?}", summary.errors);
        let restored = target.join(self.src.strip_prefix("/").unwrap());
        (summary, restored)
    }
}

#[test]
fn one_file_batches_restore_the_source_exactly() {
    let fixture = Fixture::new();
    // One slow worker: the planner runs batches ahead of it.
    let totals = Totals::new();
    fixture.store.slow.store(true, Ordering::Relaxed);
    let (tiny, restored) = fixture.restore("tiny", 1, &[], 1, &totals);
    fixture.store.slow.store(false, Ordering::Relaxed);
    assert_eq!(listing(&restored), listing(&fixture.src));

    // The hole stays a hole: the blobs of zeros were not written (the two blobs holding data
    // are 512 KiB each, the chunker's minimum).
    let sparse = fs::metadata(restored.join("m/sparse.img")).unwrap();
    assert_eq!(sparse.len(), 4 << 20);
    assert!(
        sparse.blocks() * 512 <= 1 << 20,
        "{} blocks",
        sparse.blocks()
    );

    // 67 regular files (the linked ones once), 4 hard links, a symlink and a FIFO; the
    // directories of the tree and those above it (the snapshot's paths are absolute).
    assert_eq!(tiny.files_restored, 67);
    assert_eq!(tiny.other_restored, 6);
    let above = fixture.src.ancestors().count() - 2;
    assert_eq!(tiny.dirs_restored, 5 + above as u64);
    assert_eq!(tiny.files_verified, 67);
    let bytes: u64 = fs::read_dir(restored.join("a"))
        .unwrap()
        .chain(fs::read_dir(restored.join("m")).unwrap())
        .chain(fs::read_dir(restored.join("z")).unwrap())
        .chain(fs::read_dir(restored.join("z/deep")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !["linked-again", "linked-too", "pair-2"]
                .iter()
                .any(|l| p.ends_with(l))
        })
        .map(|p| fs::symlink_metadata(p).unwrap())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    assert_eq!(totals.planned(), Some((67, bytes)));
    // The model counted every file and byte written, and ends done.
    let done = totals.0.snapshot();
    assert_eq!(done.phase, Phase::Done);
    assert_eq!(
        (done.files_done, done.bytes_done),
        (67, tiny.bytes_restored)
    );
    assert_eq!(done.percent_done, 1.0);

    // The same restore in one batch (the default for a tree this small) agrees, and holds
    // the whole plan at once where the tiny batches held a few files' worth.
    let (whole, restored_whole) = fixture.restore("whole", 0, &[], 3, &NoRestoreObserver);
    assert_eq!(listing(&restored_whole), listing(&fixture.src));
    assert_eq!(whole.files_restored, tiny.files_restored);
    assert_eq!(whole.bytes_restored, tiny.bytes_restored);
    assert!(
        tiny.plan_bytes_peak * 8 < whole.plan_bytes_peak,
        "tiny batches held {} plan bytes at once, one batch {}",
        tiny.plan_bytes_peak,
        whole.plan_bytes_peak
    );
}

#[test]
fn include_patterns_select_the_same_entries_in_tiny_batches_as_in_one() {
    let fixture = Fixture::new();
    // `a/linked` is left out, so `m/linked-again` is restored as the file and `z/linked-too`
    // becomes a link to it from a later batch; `shared.dup` comes from three batches.
    let include = ["*.dup", "linked-*", "deep"];
    let totals = Totals::new();
    let (tiny, restored) = fixture.restore("tiny", 1, &include, 3, &totals);
    let (whole, restored_whole) = fixture.restore("whole", 0, &include, 3, &NoRestoreObserver);
    let ours = listing(&restored);
    assert_eq!(ours, listing(&restored_whole));
    let names: Vec<String> = ours.keys().map(|p| p.display().to_string()).collect();
    let mut expected = vec![
        "",
        "a",
        "a/shared.dup",
        "m",
        "m/linked-again",
        "m/shared.dup",
        "z",
        "z/deep",
        "z/linked-too",
        "z/shared.dup",
    ];
    let deep: Vec<String> = (0..20).map(|i| format!("z/deep/f{i:02}.txt")).collect();
    expected.extend(deep.iter().map(String::as_str));
    expected.sort();
    assert_eq!(names, expected);
    assert!(ours[Path::new("z/linked-too")].contains("linked with m/linked-again"));
    // What is restored is what the source holds at those paths (link groups aside).
    let source = listing(&fixture.src);
    for (path, entry) in &ours {
        if !path.starts_with("m/linked-again") && !path.starts_with("z/linked-too") {
            assert_eq!(entry, &source[path], "{}", path.display());
        }
    }
    assert_eq!(tiny.files_restored, 24);
    assert_eq!(tiny.files_restored, whole.files_restored);
    assert_eq!(tiny.files_verified, 24);
    assert_eq!(totals.planned().unwrap().0, 24);
}

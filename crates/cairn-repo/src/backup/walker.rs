//! The walker: lists directories, decides per entry what the backup does with it, and wires
//! the pipeline's threads together (see the module documentation of `backup`).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use cairn_format::tree::{GoTime, Node, NodeType};
use cairn_format::{BlobType, Id};
use crossbeam_channel::{bounded, Receiver, Sender};

use super::file_reader::{self, FileJob, FileResult};
use super::finisher::{self, Child, DirRecord, DirResult};
use super::fs_node::node_from_metadata;
use super::progress::Report;
use super::progress::Scan;
use super::streams::{stream_tree, synthetic_node, StreamEntry, StreamTree, STREAMS_DIR};
use super::targets::{self, TargetNode};
use super::{Abort, BackupOptions, Counters, FileStatus};
use crate::blob_writer::{BlobWriter, WriterOptions, WriterSummary};
use crate::index::Index;
use crate::{RepoError, Repository, Result};

/// File jobs queued ahead of the readers: enough to keep them busy across small files.
const FILE_JOBS_QUEUED: usize = 256;
/// Directory records queued ahead of the finisher.
const DIR_RECORDS_QUEUED: usize = 1024;

/// Runs the pipeline over `targets` and `streams` and returns the root tree id and what was
/// written. `time` (the snapshot's) dates the directories made for streams.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    repo: &Repository,
    index: &Index,
    targets: &[PathBuf],
    streams: Vec<StreamEntry>,
    time: GoTime,
    parent_tree: Option<Id>,
    options: &BackupOptions,
    report: &Report<'_>,
    counters: &Counters,
    scan: Option<&Scan>,
) -> Result<(Id, WriterSummary)> {
    let writer_options = WriterOptions {
        dry_run: options.dry_run,
        ..options.writer.clone()
    };
    let streams = stream_tree(streams)?;
    let writer = BlobWriter::new(repo, index, &writer_options);
    let abort = Abort::default();
    let tables = repo.chunker_tables();
    let compression = (options.compression, repo.supports_compression());
    let pool = file_reader::read_buffer_pool();

    let readers = file_reader::Readers {
        writer: &writer,
        tables: &tables,
        pool: &pool,
        report,
        counters,
        abort: &abort,
    };
    let root = std::thread::scope(|scope| -> Result<Id> {
        let (job_sender, job_receiver) = bounded::<FileJob>(FILE_JOBS_QUEUED);
        let (chunk_sender, chunk_receiver) = bounded(options.compress_threads.max(1) * 2);
        let (record_sender, record_receiver) = bounded::<DirRecord>(DIR_RECORDS_QUEUED);
        for _ in 0..options.read_threads.max(1) {
            let (jobs, chunks, readers) = (job_receiver.clone(), chunk_sender.clone(), &readers);
            scope.spawn(move || file_reader::reader_loop(jobs, chunks, readers));
        }
        drop((job_receiver, chunk_sender));
        for _ in 0..options.compress_threads.max(1) {
            let chunks = chunk_receiver.clone();
            let (writer, abort) = (&writer, &abort);
            scope.spawn(move || file_reader::compress_loop(chunks, writer, compression, abort));
        }
        drop(chunk_receiver);
        {
            let (writer, abort) = (&writer, &abort);
            scope.spawn(move || {
                finisher::finisher_loop(record_receiver, writer, compression, counters, abort)
            });
        }

        let mut walker = Walker {
            repo,
            index,
            options,
            report,
            counters,
            abort: &abort,
            jobs: job_sender,
            records: record_sender,
            scan,
            last_report: Instant::now(),
            root_extra: None,
            time,
        };
        if !streams.is_empty() {
            // First, so the dumps start at once and run beside the file walk.
            let name = STREAMS_DIR.as_bytes();
            let result = walker.walk_streams(streams, PathBuf::from("/").join(STREAMS_DIR));
            walker.root_extra = Some(Child::Dir {
                node: synthetic_node(name, NodeType::Dir, time),
                result,
            });
        }
        let root = walker.walk_root(targets, parent_tree);
        drop(walker);
        let root = root.recv();
        if let Some(error) = abort.take() {
            return Err(error);
        }
        match root {
            Ok(Ok(id)) => Ok(id),
            _ => Err(RepoError::Interrupted),
        }
    })?;
    // The last packs and the index; the snapshot follows.
    report.progress.set_current(None);
    report.progress.set_phase(crate::progress::Phase::Saving);
    let summary = writer.finish()?;
    Ok((root, summary))
}

struct Walker<'a> {
    repo: &'a Repository,
    index: &'a Index,
    options: &'a BackupOptions,
    report: &'a Report<'a>,
    counters: &'a Counters,
    abort: &'a Abort,
    jobs: Sender<FileJob>,
    records: Sender<DirRecord>,
    scan: Option<&'a Scan>,
    last_report: Instant,
    /// The `/cairn-dumps` directory, added to the root's entries when it is recorded.
    root_extra: Option<Child>,
    /// The snapshot's time, for the entries made for streams.
    time: GoTime,
}

/// The result channel of a directory that will never produce one (walk aborted or unreadable).
fn failed_dir() -> Receiver<DirResult> {
    let (sender, receiver) = bounded(1);
    let _ = sender.send(Err(()));
    receiver
}

impl Walker<'_> {
    fn walk_root(&mut self, targets: &[PathBuf], parent_tree: Option<Id>) -> Receiver<DirResult> {
        let tree = targets::build(targets);
        let root = Path::new("/");
        if tree.is_target {
            let device = std::fs::symlink_metadata(root)
                .map(|m| m.dev())
                .unwrap_or(0);
            self.walk_dir(root, parent_tree, device)
        } else {
            self.walk_intermediate(root, &tree, parent_tree)
        }
    }

    /// The nodes of a parent snapshot's tree by name; empty when there is no parent tree or it
    /// is damaged (then every file is read again, which is slower but correct). A tree that
    /// cannot be fetched (store unreachable) aborts the backup instead: carrying on would
    /// re-read and re-upload everything below it against a store that is not answering.
    fn parent_nodes(&self, parent: Option<Id>, path: &Path) -> HashMap<Vec<u8>, Node> {
        let Some(id) = parent else {
            return HashMap::new();
        };
        match self.repo.load_tree(self.index, &id) {
            Ok(nodes) => nodes.into_iter().map(|n| (n.name.clone(), n)).collect(),
            // Damaged, or in a pack that is gone: permanent, so reading the files is the way on.
            Err(e) if e.is_damage() || e.kind() == crate::ErrorKind::NotFound => {
                tracing::warn!(
                    "parent tree of {} unreadable, reading all files again: {e}",
                    path.display()
                );
                HashMap::new()
            }
            Err(e) => {
                self.abort.fail(e);
                HashMap::new()
            }
        }
    }

    fn report_progress(&mut self) {
        if let Some(scan) = self.scan {
            if self.last_report.elapsed() >= super::PROGRESS_INTERVAL {
                scan.report(self.report);
                self.last_report = Instant::now();
            }
        }
    }

    /// Directories on the way from `/` down to the backup paths.
    fn walk_intermediate(
        &mut self,
        path: &Path,
        tree: &TargetNode,
        parent: Option<Id>,
    ) -> Receiver<DirResult> {
        let previous = self.parent_nodes(parent, path);
        let mut children = Vec::with_capacity(tree.children.len());
        for (name, below) in &tree.children {
            if self.abort.is_set() {
                return failed_dir();
            }
            let child_path = path.join(OsStr::from_bytes(name));
            let metadata = match std::fs::symlink_metadata(&child_path) {
                Ok(m) => m,
                Err(e) => {
                    self.counters.error(self.report, &child_path, e.to_string());
                    continue;
                }
            };
            let prev = previous.get(name);
            let excluded = self
                .options
                .excludes
                .excludes_path(&child_path.to_string_lossy());
            if below.is_target && excluded {
                // An excluded backup path is left out, as restic does.
                continue;
            }
            if below.is_target {
                if let Some(child) = self.entry(&child_path, name, &metadata, prev, metadata.dev())
                {
                    children.push(child);
                }
                continue;
            }
            let node =
                match node_from_metadata(&child_path, name, &metadata, self.options.with_atime) {
                    Ok(node) => node,
                    Err(e) => {
                        self.counters.error(self.report, &child_path, e.to_string());
                        continue;
                    }
                };
            let sub_parent = prev
                .filter(|p| p.node_type == NodeType::Dir)
                .and_then(|p| p.subtree);
            let result = self.walk_intermediate(&child_path, below, sub_parent);
            children.push(Child::Dir { node, result });
        }
        self.finish_dir(path, children, parent)
    }

    /// A directory below a backup path: every entry not excluded.
    fn walk_dir(&mut self, path: &Path, parent: Option<Id>, device: u64) -> Receiver<DirResult> {
        let previous = self.parent_nodes(parent, path);
        let mut names: Vec<Vec<u8>> = match std::fs::read_dir(path) {
            Ok(entries) => entries
                .filter_map(|e| match e {
                    Ok(e) => Some(e.file_name().as_bytes().to_vec()),
                    Err(err) => {
                        self.counters.error(self.report, path, err.to_string());
                        None
                    }
                })
                .collect(),
            Err(e) => {
                // Left out entirely, as restic does: an empty tree would claim the directory
                // was empty.
                self.counters
                    .error(self.report, path, format!("cannot list directory: {e}"));
                return failed_dir();
            }
        };
        names.sort_unstable();
        let tag = self.options.excludes.tag_in(path).map(|t| t.name.clone());
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            if self.abort.is_set() {
                return failed_dir();
            }
            if tag
                .as_ref()
                .is_some_and(|t| t.as_bytes() != name.as_slice())
            {
                continue;
            }
            let child_path = path.join(OsStr::from_bytes(&name));
            if self
                .options
                .excludes
                .excludes_path(&child_path.to_string_lossy())
            {
                continue;
            }
            let metadata = match std::fs::symlink_metadata(&child_path) {
                Ok(m) => m,
                Err(e) => {
                    self.counters.error(self.report, &child_path, e.to_string());
                    continue;
                }
            };
            if self.options.excludes.one_file_system && metadata.dev() != device {
                continue;
            }
            if let Some(child) =
                self.entry(&child_path, &name, &metadata, previous.get(&name), device)
            {
                children.push(child);
            }
            self.report_progress();
        }
        self.finish_dir(path, children, parent)
    }

    /// Records a directory walked from the file system; the root also gets `/cairn-dumps`.
    fn finish_dir(
        &mut self,
        path: &Path,
        mut children: Vec<Child>,
        parent: Option<Id>,
    ) -> Receiver<DirResult> {
        if path == Path::new("/") {
            if let Some(extra) = self.root_extra.take() {
                let name = child_name(&extra).to_vec();
                match children.binary_search_by(|c| child_name(c).cmp(name.as_slice())) {
                    Ok(_) => {
                        self.abort.fail(RepoError::InvalidInput(format!(
                            "the backup sources hold /{STREAMS_DIR}, where the database dumps \
                             go; exclude it or move it"
                        )));
                        return failed_dir();
                    }
                    Err(at) => children.insert(at, extra),
                }
            }
        }
        self.send_record(children, parent)
    }

    /// The directories and files made for streams, below `path`; each stream becomes a file
    /// job the readers read like any file.
    fn walk_streams(
        &mut self,
        entries: std::collections::BTreeMap<Vec<u8>, StreamTree>,
        path: PathBuf,
    ) -> Receiver<DirResult> {
        let mut children = Vec::with_capacity(entries.len());
        for (name, entry) in entries {
            let child_path = path.join(OsStr::from_bytes(&name));
            match entry {
                StreamTree::Dir(below) => {
                    let node = synthetic_node(&name, NodeType::Dir, self.time);
                    let result = self.walk_streams(below, child_path);
                    children.push(Child::Dir { node, result });
                }
                StreamTree::Stream(stream) => {
                    let (sender, receiver) = bounded::<FileResult>(1);
                    let job = FileJob {
                        path: child_path,
                        stream: Some(stream.source),
                        size: 0,
                        status: FileStatus::New,
                        result: sender,
                    };
                    if self.jobs.send(job).is_err() {
                        return failed_dir();
                    }
                    children.push(Child::File {
                        node: synthetic_node(&name, NodeType::File, self.time),
                        result: receiver,
                    });
                }
            }
        }
        self.send_record(children, None)
    }

    /// What to do with one entry: take a file over from the parent, queue it for reading,
    /// descend into a directory, or record anything else as it is.
    fn entry(
        &mut self,
        path: &Path,
        name: &[u8],
        metadata: &std::fs::Metadata,
        prev: Option<&Node>,
        device: u64,
    ) -> Option<Child> {
        if metadata.file_type().is_socket() {
            // restic 0.14 leaves sockets out (they cannot be restored); so do we, which keeps
            // tree ids equal.
            tracing::debug!("skipping socket {}", path.display());
            return None;
        }
        let mut node = match node_from_metadata(path, name, metadata, self.options.with_atime) {
            Ok(node) => node,
            Err(e) => {
                self.counters.error(self.report, path, e.to_string());
                return None;
            }
        };
        match node.node_type {
            NodeType::File => {
                if let Some(content) = prev.and_then(|p| self.unchanged_content(p, &node)) {
                    node.content = Some(content);
                    self.counters.file(FileStatus::Unmodified);
                    self.counters
                        .bytes_processed
                        .fetch_add(node.size, Ordering::Relaxed);
                    self.report.bytes_done(node.size);
                    self.report.file_done();
                    return Some(Child::Ready(node));
                }
                let status = if prev.is_some_and(|p| p.node_type == NodeType::File) {
                    FileStatus::Changed
                } else {
                    FileStatus::New
                };
                let (sender, receiver) = bounded::<FileResult>(1);
                let job = FileJob {
                    path: path.to_path_buf(),
                    stream: None,
                    size: node.size,
                    status,
                    result: sender,
                };
                if self.jobs.send(job).is_err() {
                    return None;
                }
                Some(Child::File {
                    node,
                    result: receiver,
                })
            }
            NodeType::Dir => {
                let sub_parent = prev
                    .filter(|p| p.node_type == NodeType::Dir)
                    .and_then(|p| p.subtree);
                let result = self.walk_dir(path, sub_parent, device);
                Some(Child::Dir { node, result })
            }
            _ => Some(Child::Ready(node)),
        }
    }

    /// The parent's content of a file whose size, times and inode are unchanged, when every
    /// one of its blobs is still in the index.
    fn unchanged_content(&self, prev: &Node, node: &Node) -> Option<Vec<Id>> {
        let same = prev.node_type == NodeType::File
            && prev.size == node.size
            && prev.mtime.same_instant(&node.mtime)
            && prev.ctime.same_instant(&node.ctime)
            && prev.inode == node.inode;
        let content = prev.content.as_ref().filter(|_| same)?;
        content
            .iter()
            .all(|id| self.index.contains(BlobType::Data, id))
            .then(|| content.clone())
    }

    fn send_record(
        &mut self,
        children: Vec<Child>,
        parent_subtree: Option<Id>,
    ) -> Receiver<DirResult> {
        let (done, result) = bounded(1);
        let record = DirRecord {
            children,
            parent_subtree,
            done,
        };
        if self.records.send(record).is_err() {
            return failed_dir();
        }
        result
    }
}

fn child_name(child: &Child) -> &[u8] {
    match child {
        Child::Ready(node) | Child::File { node, .. } | Child::Dir { node, .. } => &node.name,
    }
}

//! Phase 1 of a restore: walk the snapshot, create the skeleton, and plan the content in
//! batches handed to the pipeline as they fill.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use cairn_format::tree::{Node, NodeType};
use cairn_format::{BlobType, Id};

use super::batch::BatchBuilder;
use super::metadata::{Metadata, PlannedDir};
use super::pipeline::Pipeline;
use super::walk::SelectionVisitor;
use super::{Errors, Report};
use crate::index::Index;
use crate::RepoError;

/// What the planner leaves for the end of the restore and the summary.
#[derive(Default)]
pub(crate) struct PlanOutcome {
    /// Restored directories; their metadata comes after all content.
    pub dirs: Vec<PlannedDir>,
    pub files: u64,
    /// Symlinks, special files and hard links.
    pub others: u64,
    /// A failure that ends the restore (a tree that could not be fetched).
    pub fatal: Option<RepoError>,
}

pub(crate) struct Planner<'a> {
    index: &'a Index,
    report: &'a Report<'a>,
    errors: &'a Errors,
    pipeline: &'a Pipeline<'a>,
    /// A batch is handed over once its plan estimate reaches this.
    batch_plan_bytes_max: usize,
    /// Keep each file's blob list for `--verify`.
    keep_blob_lists: bool,
    batch: BatchBuilder,
    batches: u64,
    /// Restore-wide number of the current batch's first file.
    batch_first_file: u64,
    outcome: PlanOutcome,
    /// (device, inode) of files with several links → the path restored first.
    hard_links: HashMap<(u64, u64), PathBuf>,
    /// Directories on the way to possible include matches, created only once something below
    /// them is restored, so `--include '*.txt'` does not leave a skeleton of empty directories.
    pending_dirs: Vec<PlannedDir>,
}

impl<'a> Planner<'a> {
    pub fn new(
        index: &'a Index,
        report: &'a Report<'a>,
        errors: &'a Errors,
        pipeline: &'a Pipeline<'a>,
        batch_plan_bytes_max: usize,
        keep_blob_lists: bool,
    ) -> Planner<'a> {
        Planner {
            index,
            report,
            errors,
            pipeline,
            batch_plan_bytes_max,
            keep_blob_lists,
            batch: BatchBuilder::default(),
            batches: 0,
            batch_first_file: 0,
            outcome: PlanOutcome::default(),
            hard_links: HashMap::new(),
            pending_dirs: Vec::new(),
        }
    }

    /// Hands over the last batch; returns what the end of the restore needs.
    pub fn finish(mut self) -> PlanOutcome {
        self.publish();
        self.outcome
    }

    /// Hands the current batch to the pipeline (waiting while too many are alive).
    fn publish(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch).finish(self.batches, self.batch_first_file);
        self.batches += 1;
        self.batch_first_file += batch.files.len() as u64;
        self.pipeline.publish(batch);
    }

    fn publish_if_full(&mut self) {
        if self.batch.plan_bytes() >= self.batch_plan_bytes_max {
            self.publish();
        }
    }

    /// Creates the directories waiting for a restored entry below them; false if one failed
    /// (reported).
    fn create_pending_dirs(&mut self) -> bool {
        for dir in std::mem::take(&mut self.pending_dirs) {
            if let Err(e) = create_dir(&dir.path) {
                self.errors.add(
                    self.report,
                    &dir.path,
                    format!("cannot create directory: {e}"),
                );
                return false;
            }
            self.outcome.dirs.push(dir);
        }
        true
    }

    fn create_entry(&mut self, path: &Path, node: Node) -> io::Result<()> {
        remove_existing(path)?;
        match node.node_type {
            NodeType::File => {
                if node.links > 1 {
                    if let Some(first) = self.hard_links.get(&(node.device_id, node.inode)) {
                        // Linked once the first path's batch is done, after its content.
                        self.batch.add_link(path.to_path_buf(), first.clone());
                        self.outcome.others += 1;
                        return Ok(());
                    }
                    self.hard_links
                        .insert((node.device_id, node.inode), path.to_path_buf());
                }
                let size = node.size;
                if !self.add_file(path, &node) {
                    // Nothing to write (an empty file, or content lost): create it here.
                    create_file(path, size)?;
                }
                Ok(())
            }
            NodeType::Symlink => {
                std::os::unix::fs::symlink(OsStr::from_bytes(&node.link_target), path)?;
                self.add_other(path, &node);
                Ok(())
            }
            NodeType::Fifo => {
                make_node(path, libc::S_IFIFO | 0o600, 0)?;
                self.add_other(path, &node);
                Ok(())
            }
            NodeType::Dev | NodeType::CharDev => {
                let kind = if node.node_type == NodeType::Dev {
                    libc::S_IFBLK
                } else {
                    libc::S_IFCHR
                };
                make_node(path, kind | 0o600, node.device)?;
                self.add_other(path, &node);
                Ok(())
            }
            NodeType::Socket => Ok(()),
            NodeType::Dir | NodeType::Other(_) => Err(io::Error::other(format!(
                "cannot restore an entry of type {:?}",
                node.node_type.as_str()
            ))),
        }
    }

    fn add_other(&mut self, path: &Path, node: &Node) {
        self.batch.add_other(path.to_path_buf(), Metadata::of(node));
        self.outcome.others += 1;
    }

    /// Plans a file's content; returns whether any blob will be written to it (a content
    /// worker then creates it).
    fn add_file(&mut self, path: &Path, node: &Node) -> bool {
        let mut blobs = Vec::new();
        for id in node.content.iter().flatten() {
            let Some(location) = self.index.lookup(BlobType::Data, id) else {
                self.errors.add(
                    self.report,
                    path,
                    format!("data blob {id} is not in the index; this part of the file is lost"),
                );
                // Without its length the rest of the file cannot be placed either.
                break;
            };
            blobs.push((*id, location));
        }
        self.outcome.files += 1;
        self.batch.add_file(
            path.to_path_buf(),
            node.size,
            Metadata::of(node),
            &blobs,
            self.keep_blob_lists,
        )
    }
}

impl SelectionVisitor for Planner<'_> {
    fn enter_dir(&mut self, path: &Path, node: Node, depth: usize, matched: bool) -> bool {
        let dir = PlannedDir {
            path: path.to_path_buf(),
            metadata: Metadata::of(&node),
            depth,
        };
        if !matched {
            self.pending_dirs.push(dir);
            return true;
        }
        if !self.create_pending_dirs() {
            return false;
        }
        if let Err(e) = create_dir(path) {
            self.errors
                .add(self.report, path, format!("cannot create directory: {e}"));
            return false;
        }
        self.outcome.dirs.push(dir);
        true
    }

    fn leave_dir(&mut self, path: &Path, matched: bool) {
        if !matched && self.pending_dirs.last().is_some_and(|d| d.path == path) {
            self.pending_dirs.pop();
        }
    }

    fn entry(&mut self, path: &Path, node: Node) {
        if !self.create_pending_dirs() {
            return;
        }
        if let Err(e) = self.create_entry(path, node) {
            self.errors.add(self.report, path, e.to_string());
        }
        self.publish_if_full();
    }

    fn tree_error(&mut self, dir: &Path, tree: &Id, error: RepoError) {
        // A tree that is damaged or gone is this directory's loss; one that cannot be fetched
        // at all (the store unreachable) ends the restore rather than leave out what it holds.
        if !error.is_damage() && error.kind() != crate::ErrorKind::NotFound {
            self.outcome.fatal.get_or_insert(error);
            return;
        }
        self.errors.add(
            self.report,
            dir,
            format!("cannot read tree {tree}: {error}"),
        );
    }

    fn stopped(&self) -> bool {
        self.outcome.fatal.is_some()
    }

    fn unsafe_name(&mut self, path: &Path) {
        self.errors.add(
            self.report,
            path,
            "unsafe entry name in the snapshot; skipped".into(),
        );
    }
}

/// Creates a file at its full size (holes where nothing is written) and opens it for writing;
/// several workers may open the same file, the first one creating it.
pub(crate) fn create_file(path: &Path, size: u64) -> io::Result<std::fs::File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        // Never truncate: another worker may already have written part of it.
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    file.set_len(size)?;
    Ok(file)
}

fn create_dir(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

/// Makes room for a new entry: an existing file, link or special file is replaced (as restic
/// does); an existing directory is an error, since replacing it would delete its contents.
fn remove_existing(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a directory is in the way of a non-directory entry",
        )),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn make_node(path: &Path, mode: u32, device: u64) -> io::Result<()> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: c_path is a valid NUL-terminated string for the duration of the call.
    let rc = unsafe { libc::mknod(c_path.as_ptr(), mode, device as libc::dev_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

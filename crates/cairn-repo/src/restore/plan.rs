//! Phase 1 of a restore: walk the snapshot, create the skeleton, and plan the content by pack.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32};

use cairn_format::tree::{Node, NodeType};
use cairn_format::{BlobType, Id};

use super::{Errors, RestoreObserver, RestoreOptions};
use crate::index::{BlobLocation, Index};
use crate::{Repository, Result};

pub(crate) struct PlannedFile {
    pub path: PathBuf,
    pub node: Node,
    /// The file's blobs in order with their plaintext lengths (for verification).
    pub blobs: Vec<(Id, u32)>,
}

/// One blob to fetch from a pack and every (file, offset) it is written to.
pub(crate) struct PlannedBlob {
    pub id: Id,
    pub location: BlobLocation,
    pub targets: Vec<(u32, u64)>,
}

pub(crate) struct PackPlan {
    pub pack: Id,
    /// Sorted by offset.
    pub blobs: Vec<PlannedBlob>,
}

#[derive(Default)]
pub(crate) struct Plan {
    pub files: Vec<PlannedFile>,
    /// Directories with their depth, for applying metadata deepest first.
    pub dirs: Vec<(PathBuf, Node, usize)>,
    /// Symlinks, FIFOs and devices.
    pub others: Vec<(PathBuf, Node)>,
    /// Hard links to make once content is written: (link, the path restored first).
    pub links: Vec<(PathBuf, PathBuf)>,
    pub packs: Vec<PackPlan>,
    /// Per file: blob writes still to come. Files are created by the content workers (in
    /// parallel) and get their metadata from the worker that does the last write.
    pub remaining: Vec<AtomicU32>,
    /// Per file: whether its metadata has been applied.
    pub metadata_done: Vec<AtomicBool>,
}

impl Plan {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.node.size).sum()
    }
}

struct Planner<'a> {
    repo: &'a Repository,
    index: &'a Index,
    options: &'a RestoreOptions,
    observer: &'a dyn RestoreObserver,
    errors: &'a Errors,
    plan: Plan,
    /// (device, inode) of files with several links → the path restored first.
    hard_links: HashMap<(u64, u64), PathBuf>,
    /// pack → blob → index into that pack's blob list.
    by_pack: HashMap<Id, (Vec<PlannedBlob>, HashMap<Id, usize>)>,
    /// Directories on the way to possible include matches, created only once something below
    /// them is restored, so `--include '*.txt'` does not leave a skeleton of empty directories.
    pending_dirs: Vec<(PathBuf, Node, usize)>,
}

pub(crate) fn build(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    target: &Path,
    options: &RestoreOptions,
    observer: &dyn RestoreObserver,
    errors: &Errors,
) -> Result<Plan> {
    let mut planner = Planner {
        repo,
        index,
        options,
        observer,
        errors,
        plan: Plan::default(),
        hard_links: HashMap::new(),
        by_pack: HashMap::new(),
        pending_dirs: Vec::new(),
    };
    planner.visit(tree, b"", target, 1, options.include.is_empty())?;
    let mut packs: Vec<PackPlan> = planner
        .by_pack
        .into_iter()
        .map(|(pack, (mut blobs, _))| {
            blobs.sort_by_key(|b| b.location.offset);
            PackPlan { pack, blobs }
        })
        .collect();
    packs.sort_by_key(|p| p.pack);
    let mut remaining = vec![0u32; planner.plan.files.len()];
    for blob in packs.iter().flat_map(|p| &p.blobs) {
        for &(file, _) in &blob.targets {
            remaining[file as usize] += 1;
        }
    }
    planner.plan.remaining = remaining.into_iter().map(AtomicU32::new).collect();
    planner.plan.metadata_done = (0..planner.plan.files.len())
        .map(|_| AtomicBool::new(false))
        .collect();
    planner.plan.packs = packs;
    Ok(planner.plan)
}

/// A name from the repository that would escape its directory is refused: the repository is
/// not trusted to write outside the restore target.
fn safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

impl Planner<'_> {
    fn included(&self, snapshot_path: &str) -> (bool, bool) {
        let matched = self
            .options
            .include
            .iter()
            .any(|p| p.matches(snapshot_path));
        let child_may_match = matched
            || self
                .options
                .include
                .iter()
                .any(|p| p.child_may_match(snapshot_path));
        (matched, child_may_match)
    }

    /// Visits a tree at `snapshot_path` restored to `dir`. `selected` says an ancestor matched
    /// an include pattern (or there are none), so everything below is restored.
    fn visit(
        &mut self,
        tree: &Id,
        snapshot_path: &[u8],
        dir: &Path,
        depth: usize,
        selected: bool,
    ) -> Result<()> {
        let nodes = match self.repo.load_tree(self.index, tree) {
            Ok(nodes) => nodes,
            Err(e) => {
                self.errors
                    .add(self.observer, dir, format!("cannot read tree {tree}: {e}"));
                return Ok(());
            }
        };
        for node in nodes {
            let path = dir.join(OsStr::from_bytes(&node.name));
            if !safe_name(&node.name) {
                self.errors.add(
                    self.observer,
                    &path,
                    "unsafe entry name in the snapshot; skipped".into(),
                );
                continue;
            }
            let mut child_snapshot_path = snapshot_path.to_vec();
            child_snapshot_path.push(b'/');
            child_snapshot_path.extend_from_slice(&node.name);
            let text = String::from_utf8_lossy(&child_snapshot_path).into_owned();
            if self.options.exclude.iter().any(|p| p.matches(&text)) {
                continue;
            }
            let (matched, child_may_match) = if selected {
                (true, true)
            } else {
                self.included(&text)
            };
            if node.node_type == NodeType::Dir {
                if !matched && !child_may_match {
                    continue;
                }
                let Some(subtree) = node.subtree else {
                    continue;
                };
                if matched {
                    if !self.create_pending_dirs() {
                        continue;
                    }
                    if let Err(e) = create_dir(&path) {
                        self.errors.add(
                            self.observer,
                            &path,
                            format!("cannot create directory: {e}"),
                        );
                        continue;
                    }
                    self.plan.dirs.push((path.clone(), node, depth));
                    self.visit(&subtree, &child_snapshot_path, &path, depth + 1, true)?;
                } else {
                    self.pending_dirs.push((path.clone(), node, depth));
                    self.visit(&subtree, &child_snapshot_path, &path, depth + 1, false)?;
                    if self.pending_dirs.last().is_some_and(|(p, _, _)| *p == path) {
                        self.pending_dirs.pop();
                    }
                }
                continue;
            }
            if !matched {
                continue;
            }
            if !self.create_pending_dirs() {
                continue;
            }
            if let Err(e) = self.create_entry(&path, node) {
                self.errors.add(self.observer, &path, e.to_string());
            }
        }
        Ok(())
    }

    /// Creates the directories waiting for a restored entry below them; false if one failed
    /// (reported).
    fn create_pending_dirs(&mut self) -> bool {
        for (path, node, depth) in std::mem::take(&mut self.pending_dirs) {
            if let Err(e) = create_dir(&path) {
                self.errors.add(
                    self.observer,
                    &path,
                    format!("cannot create directory: {e}"),
                );
                return false;
            }
            self.plan.dirs.push((path, node, depth));
        }
        true
    }

    fn create_entry(&mut self, path: &Path, node: Node) -> io::Result<()> {
        remove_existing(path)?;
        match node.node_type {
            NodeType::File => {
                if node.links > 1 {
                    if let Some(first) = self.hard_links.get(&(node.device_id, node.inode)) {
                        // Linked once the first path exists, after the content phase.
                        self.plan.links.push((path.to_path_buf(), first.clone()));
                        return Ok(());
                    }
                    self.hard_links
                        .insert((node.device_id, node.inode), path.to_path_buf());
                }
                let size = node.size;
                if !self.add_file(path, node) {
                    // Nothing to write (an empty file, or content lost): create it here.
                    create_file(path, size)?;
                }
                Ok(())
            }
            NodeType::Symlink => {
                std::os::unix::fs::symlink(OsStr::from_bytes(&node.link_target), path)?;
                self.plan.others.push((path.to_path_buf(), node));
                Ok(())
            }
            NodeType::Fifo => {
                make_node(path, libc::S_IFIFO | 0o600, 0)?;
                self.plan.others.push((path.to_path_buf(), node));
                Ok(())
            }
            NodeType::Dev | NodeType::CharDev => {
                let kind = if node.node_type == NodeType::Dev {
                    libc::S_IFBLK
                } else {
                    libc::S_IFCHR
                };
                make_node(path, kind | 0o600, node.device)?;
                self.plan.others.push((path.to_path_buf(), node));
                Ok(())
            }
            NodeType::Socket => Ok(()),
            NodeType::Dir | NodeType::Other(_) => Err(io::Error::other(format!(
                "cannot restore an entry of type {:?}",
                node.node_type.as_str()
            ))),
        }
    }

    /// Plans a file's content; returns whether any blob will be written to it (a content
    /// worker then creates it).
    fn add_file(&mut self, path: &Path, node: Node) -> bool {
        let file_number = self.plan.files.len() as u32;
        let mut offset = 0u64;
        let mut blobs = Vec::new();
        for id in node.content.iter().flatten() {
            let Some(location) = self.index.lookup(BlobType::Data, id) else {
                self.errors.add(
                    self.observer,
                    path,
                    format!("data blob {id} is not in the index; this part of the file is lost"),
                );
                // Without its length the rest of the file cannot be placed either.
                break;
            };
            let length = location.plaintext_len();
            let (pack_blobs, positions) = self.by_pack.entry(location.pack).or_default();
            let position = *positions.entry(*id).or_insert_with(|| {
                pack_blobs.push(PlannedBlob {
                    id: *id,
                    location,
                    targets: Vec::new(),
                });
                pack_blobs.len() - 1
            });
            pack_blobs[position].targets.push((file_number, offset));
            blobs.push((*id, length));
            offset += u64::from(length);
        }
        let has_content = !blobs.is_empty();
        self.plan.files.push(PlannedFile {
            path: path.to_path_buf(),
            node,
            blobs,
        });
        has_content
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

use std::os::unix::fs::DirBuilderExt;

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

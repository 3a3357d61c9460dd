//! Phase 3 of a restore: ownership, mode, extended attributes and times.
//!
//! Order per entry follows restic: owner first (chown clears setuid/setgid bits, so the mode
//! comes after it), then mode, then extended attributes, then times last (anything else would
//! change them). Directories go last and deepest first, for the same reason.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cairn_format::tree::{go_mode, ExtendedAttribute, GoTime, Node, NodeType};

use super::{Errors, Report};

/// What a restore sets on an entry once its content is in place: the part of a [`Node`] that
/// is kept while the entry waits (a whole node is several times larger).
pub(crate) struct Metadata {
    /// Go `fs.FileMode` bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: GoTime,
    pub mtime: GoTime,
    pub extended_attributes: Vec<ExtendedAttribute>,
    /// Symlinks have no mode of their own to set.
    pub is_symlink: bool,
}

impl Metadata {
    pub fn of(node: &Node) -> Metadata {
        Metadata {
            mode: node.mode,
            uid: node.uid,
            gid: node.gid,
            atime: node.atime,
            mtime: node.mtime,
            extended_attributes: node.extended_attributes.clone(),
            is_symlink: node.node_type == NodeType::Symlink,
        }
    }

    /// Heap bytes held beyond the struct itself, for the plan's memory estimate.
    pub fn heap_bytes(&self) -> usize {
        self.extended_attributes
            .iter()
            .map(|a| std::mem::size_of::<ExtendedAttribute>() + a.name.len() + a.value.len())
            .sum()
    }
}

/// A restored directory waiting for its metadata until all content is written.
pub(crate) struct PlannedDir {
    pub path: PathBuf,
    pub metadata: Metadata,
    pub depth: usize,
}

/// Whether ownership can be restored (only root may give files away).
pub(crate) fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Directories, deepest first, once everything else is done (setting a child's metadata must
/// not be undone by a later write below its parent, and a read-only parent comes last).
pub(crate) fn apply_to_dirs(dirs: &mut [PlannedDir], report: &Report<'_>, errors: &Errors) {
    let as_root = as_root();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.depth));
    for dir in dirs.iter() {
        apply_to_path(&dir.path, &dir.metadata, as_root, report, errors);
    }
}

pub(crate) fn apply_to_path(
    path: &Path,
    metadata: &Metadata,
    as_root: bool,
    report: &Report<'_>,
    errors: &Errors,
) {
    let c_path = match CString::new(path.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(e) => return errors.add(report, path, e.to_string()),
    };
    if as_root {
        // SAFETY: c_path is a valid C string for the call.
        if unsafe { libc::lchown(c_path.as_ptr(), metadata.uid, metadata.gid) } != 0 {
            errors.add(
                report,
                path,
                format!("cannot set owner: {}", io::Error::last_os_error()),
            );
        }
    }
    if !metadata.is_symlink {
        let mode = go_mode::to_unix_permissions(metadata.mode);
        // SAFETY: as above.
        if unsafe { libc::chmod(c_path.as_ptr(), mode) } != 0 {
            errors.add(
                report,
                path,
                format!("cannot set mode: {}", io::Error::last_os_error()),
            );
        }
    }
    for attribute in &metadata.extended_attributes {
        if let Err(e) = xattr::set(path, &attribute.name, &attribute.value) {
            errors.add(
                report,
                path,
                format!("cannot set extended attribute {}: {e}", attribute.name),
            );
        }
    }
    let times = [timespec(&metadata.atime), timespec(&metadata.mtime)];
    // SAFETY: c_path and times are valid for the call; AT_FDCWD resolves relative paths from the
    // working directory (ours are absolute anyway).
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        errors.add(
            report,
            path,
            format!("cannot set times: {}", io::Error::last_os_error()),
        );
    }
}

/// The same steps through an open descriptor, for a file a content worker just finished: no
/// path lookups.
pub(crate) fn apply_to_open_file(
    file: &std::fs::File,
    path: &Path,
    metadata: &Metadata,
    as_root: bool,
    report: &Report<'_>,
    errors: &Errors,
) {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY (all calls below): `fd` is an open descriptor owned by `file` for their duration,
    // and `times` is a valid two-element array.
    if as_root && unsafe { libc::fchown(fd, metadata.uid, metadata.gid) } != 0 {
        errors.add(
            report,
            path,
            format!("cannot set owner: {}", io::Error::last_os_error()),
        );
    }
    if unsafe { libc::fchmod(fd, go_mode::to_unix_permissions(metadata.mode)) } != 0 {
        errors.add(
            report,
            path,
            format!("cannot set mode: {}", io::Error::last_os_error()),
        );
    }
    for attribute in &metadata.extended_attributes {
        if let Err(e) = xattr::FileExt::set_xattr(file, &attribute.name, &attribute.value) {
            errors.add(
                report,
                path,
                format!("cannot set extended attribute {}: {e}", attribute.name),
            );
        }
    }
    let times = [timespec(&metadata.atime), timespec(&metadata.mtime)];
    if unsafe { libc::futimens(fd, times.as_ptr()) } != 0 {
        errors.add(
            report,
            path,
            format!("cannot set times: {}", io::Error::last_os_error()),
        );
    }
}

fn timespec(time: &GoTime) -> libc::timespec {
    libc::timespec {
        tv_sec: time.unix_secs as libc::time_t,
        tv_nsec: time.nanos as libc::c_long,
    }
}

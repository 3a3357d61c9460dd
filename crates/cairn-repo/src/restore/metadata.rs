//! Phase 3 of a restore: ownership, mode, extended attributes and times.
//!
//! Order per entry follows restic: owner first (chown clears setuid/setgid bits, so the mode
//! comes after it), then mode, then extended attributes, then times last (anything else would
//! change them). Directories go last and deepest first, for the same reason.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use cairn_format::tree::{GoTime, Node, NodeType};

use super::plan::Plan;
use super::{Errors, RestoreObserver};
use cairn_format::tree::go_mode;

/// Whether ownership can be restored (only root may give files away).
pub(crate) fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The metadata of everything not already done by the content workers: files without content
/// (or whose last write failed), special files, then directories deepest first.
pub(crate) fn apply(plan: &Plan, observer: &dyn RestoreObserver, errors: &Errors) {
    let as_root = as_root();
    for (file, done) in plan.files.iter().zip(&plan.metadata_done) {
        if !done.load(std::sync::atomic::Ordering::Acquire) {
            apply_node(&file.path, &file.node, as_root, observer, errors);
        }
    }
    for (path, node) in &plan.others {
        apply_node(path, node, as_root, observer, errors);
    }
    let mut dirs: Vec<&(std::path::PathBuf, Node, usize)> = plan.dirs.iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.2));
    for (path, node, _) in dirs {
        apply_node(path, node, as_root, observer, errors);
    }
}

fn apply_node(
    path: &Path,
    node: &Node,
    as_root: bool,
    observer: &dyn RestoreObserver,
    errors: &Errors,
) {
    let c_path = match CString::new(path.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(e) => return errors.add(observer, path, e.to_string()),
    };
    if as_root {
        // SAFETY: c_path is a valid C string for the call.
        if unsafe { libc::lchown(c_path.as_ptr(), node.uid, node.gid) } != 0 {
            errors.add(
                observer,
                path,
                format!("cannot set owner: {}", io::Error::last_os_error()),
            );
        }
    }
    if node.node_type != NodeType::Symlink {
        let mode = go_mode::to_unix_permissions(node.mode);
        // SAFETY: as above.
        if unsafe { libc::chmod(c_path.as_ptr(), mode) } != 0 {
            errors.add(
                observer,
                path,
                format!("cannot set mode: {}", io::Error::last_os_error()),
            );
        }
    }
    for attribute in &node.extended_attributes {
        if let Err(e) = xattr::set(path, &attribute.name, &attribute.value) {
            errors.add(
                observer,
                path,
                format!("cannot set extended attribute {}: {e}", attribute.name),
            );
        }
    }
    let times = [timespec(&node.atime), timespec(&node.mtime)];
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
            observer,
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
    node: &Node,
    as_root: bool,
    observer: &dyn RestoreObserver,
    errors: &Errors,
) {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY (all calls below): `fd` is an open descriptor owned by `file` for their duration,
    // and `times` is a valid two-element array.
    if as_root && unsafe { libc::fchown(fd, node.uid, node.gid) } != 0 {
        errors.add(
            observer,
            path,
            format!("cannot set owner: {}", io::Error::last_os_error()),
        );
    }
    if unsafe { libc::fchmod(fd, go_mode::to_unix_permissions(node.mode)) } != 0 {
        errors.add(
            observer,
            path,
            format!("cannot set mode: {}", io::Error::last_os_error()),
        );
    }
    for attribute in &node.extended_attributes {
        if let Err(e) = xattr::FileExt::set_xattr(file, &attribute.name, &attribute.value) {
            errors.add(
                observer,
                path,
                format!("cannot set extended attribute {}: {e}", attribute.name),
            );
        }
    }
    let times = [timespec(&node.atime), timespec(&node.mtime)];
    if unsafe { libc::futimens(fd, times.as_ptr()) } != 0 {
        errors.add(
            observer,
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

//! Comparing two file trees: content, type, mode, owner, times, link targets, extended
//! attributes and hard-link structure. Returns every difference, so a failure shows them all.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, Copy)]
pub struct CompareOptions {
    /// Compare directory mtimes (restore sets them last; restic does too).
    pub dir_times: bool,
    /// Require files that are sparse in the source to use fewer blocks than their size.
    pub sparse: bool,
}

/// Differences between `expected` and `actual`, as readable lines (empty when equal). Paths
/// in `ignore` (relative) are skipped.
pub fn compare_trees(
    expected: &Path,
    actual: &Path,
    options: CompareOptions,
    ignore: &[PathBuf],
) -> Vec<String> {
    let mut differences = Vec::new();
    let mut links: HashMap<(u64, u64), (u64, u64)> = HashMap::new();
    compare_at(
        expected,
        actual,
        Path::new(""),
        options,
        ignore,
        &mut links,
        &mut differences,
    );
    differences
}

fn sorted_names(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn user_xattrs(path: &Path) -> Vec<(OsString, Vec<u8>)> {
    let mut out: Vec<(OsString, Vec<u8>)> = xattr::list(path)
        .map(|names| {
            names
                .filter(|n| n.to_string_lossy().starts_with("user."))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|n| {
            let value = xattr::get(path, &n).ok().flatten().unwrap_or_default();
            (n, value)
        })
        .collect();
    out.sort();
    out
}

fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(mut fa), Ok(mut fb)) = (fs::File::open(a), fs::File::open(b)) else {
        return false;
    };
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(file: &mut fs::File, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    filled
}

fn compare_at(
    expected_root: &Path,
    actual_root: &Path,
    relative: &Path,
    options: CompareOptions,
    ignore: &[PathBuf],
    links: &mut HashMap<(u64, u64), (u64, u64)>,
    out: &mut Vec<String>,
) {
    let expected = expected_root.join(relative);
    let actual = actual_root.join(relative);
    let shown = relative.display();
    let e = match fs::symlink_metadata(&expected) {
        Ok(m) => m,
        Err(err) => return out.push(format!("{shown}: cannot stat expected: {err}")),
    };
    let a = match fs::symlink_metadata(&actual) {
        Ok(m) => m,
        Err(err) => return out.push(format!("{shown}: missing in the restored tree ({err})")),
    };
    if e.mode() & libc::S_IFMT != a.mode() & libc::S_IFMT {
        return out.push(format!(
            "{shown}: type {:o} restored as {:o}",
            e.mode() & libc::S_IFMT,
            a.mode() & libc::S_IFMT
        ));
    }
    let is_symlink = e.file_type().is_symlink();
    let is_dir = e.is_dir();
    if !is_symlink && e.mode() & 0o7777 != a.mode() & 0o7777 {
        out.push(format!(
            "{shown}: mode {:o} restored as {:o}",
            e.mode() & 0o7777,
            a.mode() & 0o7777
        ));
    }
    if (e.uid(), e.gid()) != (a.uid(), a.gid()) {
        out.push(format!(
            "{shown}: owner {}:{} restored as {}:{}",
            e.uid(),
            e.gid(),
            a.uid(),
            a.gid()
        ));
    }
    if (!is_dir || options.dir_times) && (e.mtime(), e.mtime_nsec()) != (a.mtime(), a.mtime_nsec())
    {
        out.push(format!(
            "{shown}: mtime {}.{:09} restored as {}.{:09}",
            e.mtime(),
            e.mtime_nsec(),
            a.mtime(),
            a.mtime_nsec()
        ));
    }
    if !is_symlink && user_xattrs(&expected) != user_xattrs(&actual) {
        out.push(format!(
            "{shown}: extended attributes differ: {:?} vs {:?}",
            user_xattrs(&expected),
            user_xattrs(&actual)
        ));
    }
    if is_symlink {
        let (te, ta) = (fs::read_link(&expected).ok(), fs::read_link(&actual).ok());
        if te != ta {
            out.push(format!("{shown}: link target {te:?} restored as {ta:?}"));
        }
    } else if e.is_file() {
        if e.len() != a.len() {
            out.push(format!("{shown}: size {} restored as {}", e.len(), a.len()));
        } else if !same_content(&expected, &actual) {
            out.push(format!("{shown}: content differs"));
        }
        if options.sparse && e.blocks() * 512 < e.len() / 2 && a.blocks() * 512 >= a.len() / 2 {
            out.push(format!(
                "{shown}: sparse file restored dense ({} blocks for {} bytes)",
                a.blocks(),
                a.len()
            ));
        }
        if e.nlink() > 1 {
            let key = (e.dev(), e.ino());
            let restored = (a.dev(), a.ino());
            match links.get(&key) {
                Some(first) if *first != restored => {
                    out.push(format!("{shown}: hard link restored as a separate file"))
                }
                Some(_) => {}
                None => {
                    links.insert(key, restored);
                }
            }
        }
    } else if (e.file_type().is_block_device() || e.file_type().is_char_device())
        && e.rdev() != a.rdev()
    {
        out.push(format!(
            "{shown}: device {} restored as {}",
            e.rdev(),
            a.rdev()
        ));
    }
    if is_dir {
        let (names_e, names_a) = (sorted_names(&expected), sorted_names(&actual));
        for name in &names_a {
            if !names_e.contains(name) {
                out.push(format!(
                    "{}: extra entry in the restored tree",
                    relative.join(name).display()
                ));
            }
        }
        for name in names_e {
            let child = relative.join(&name);
            if ignore.contains(&child) {
                continue;
            }
            compare_at(
                expected_root,
                actual_root,
                &child,
                options,
                ignore,
                links,
                out,
            );
        }
    }
}

use std::os::unix::fs::FileTypeExt;

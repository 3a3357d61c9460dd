//! Damaging repository files the way disks and people do: one flipped byte, a cut-off tail, a
//! copy to damage so the original stays intact for the next case.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

/// Inverts every bit of the byte at `offset` of `path`. Repository files are written 0600 and
/// may be read-only; the permissions are restored afterwards.
pub fn flip_byte(path: &Path, offset: u64) {
    let permissions = fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions();
    let mut writable = permissions.clone();
    #[allow(clippy::permissions_set_readonly_false)]
    writable.set_readonly(false);
    fs::set_permissions(path, writable).unwrap();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, offset)
        .unwrap_or_else(|e| panic!("read byte {offset} of {}: {e}", path.display()));
    byte[0] ^= 0xff;
    file.write_all_at(&byte, offset).unwrap();
    drop(file);
    fs::set_permissions(path, permissions).unwrap();
}

/// Flips the byte in the middle of `path`; returns its offset.
pub fn flip_middle_byte(path: &Path) -> u64 {
    let len = fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .len();
    assert!(len > 0, "{} is empty", path.display());
    let offset = len / 2;
    flip_byte(path, offset);
    offset
}

/// Removes the last `bytes` bytes of `path`.
pub fn truncate_tail(path: &Path, bytes: u64) {
    let len = fs::metadata(path).unwrap().len();
    assert!(len > bytes, "{} has only {len} bytes", path.display());
    let permissions = fs::metadata(path).unwrap().permissions();
    let mut writable = permissions.clone();
    #[allow(clippy::permissions_set_readonly_false)]
    writable.set_readonly(false);
    fs::set_permissions(path, writable).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len - bytes)
        .unwrap();
    fs::set_permissions(path, permissions).unwrap();
}

/// `cp -a SRC DST`: a copy with modes and times, so each fault case damages its own repository.
pub fn copy_dir(src: &Path, dst: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "cp -a {} {}",
        src.display(),
        dst.display()
    );
}

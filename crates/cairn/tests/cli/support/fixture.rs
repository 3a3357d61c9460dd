//! The tree the oracle tests back up: real files plus every kind of entry and name that has
//! tripped backup tools up.

use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::rng::Rng;

/// Names that exercise Go's quoting and JSON escaping (and one invalid UTF-8 name).
pub fn tricky_names() -> Vec<Vec<u8>> {
    vec![
        b"with space".to_vec(),
        "ünïcödé ✓ 日本".as_bytes().to_vec(),
        b"<>&\"\\".to_vec(),
        b"new\nline".to_vec(),
        b"tab\there".to_vec(),
        b"bad\xff\xfeutf8".to_vec(),
        "line\u{2028}sep".as_bytes().to_vec(),
        "nbsp\u{a0}zwsp\u{200b}".as_bytes().to_vec(),
        b"-leading-dash".to_vec(),
        b".hidden".to_vec(),
    ]
}

/// What the fixture holds, sized for the suite's time budget.
pub struct Fixture {
    pub root: PathBuf,
    /// Entries whose restoration by restic 0.14 differs by design (non-UTF-8 symlink targets:
    /// restic 0.14 has no `linktarget_raw`), relative to `root`.
    pub restic_014_lossy: Vec<PathBuf>,
}

fn set_mtime(path: &Path, secs: i64, nanos: i64) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        },
    ];
    // SAFETY: valid C string and timespec array for the call.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat {}", path.display());
}

fn chown(path: &Path, uid: u32, gid: u32) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C string for the call.
    let rc = unsafe { libc::lchown(c.as_ptr(), uid, gid) };
    assert_eq!(
        rc,
        0,
        "lchown {} (the oracle tests run as root)",
        path.display()
    );
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C string for the call.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o640) },
        0,
        "mkfifo {}",
        path.display()
    );
}

fn mknod_char(path: &Path, device: libc::dev_t) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C string for the call.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o640, device) };
    assert_eq!(
        rc,
        0,
        "mknod {} (the oracle tests run as root)",
        path.display()
    );
}

fn write(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, data).unwrap();
}

/// Builds the full oracle tree under `root`: a copy of /usr/share/doc, 40 MB of random data,
/// a 10 MB log, 3,000 small files, and every special case.
pub fn build_full(root: &Path, seed: u64) -> Fixture {
    fs::create_dir_all(root).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg("/usr/share/doc")
        .arg(root.join("doc"))
        .status()
        .unwrap();
    assert!(status.success(), "copy /usr/share/doc");
    let mut rng = Rng::new(seed);
    write(&root.join("big/random-40m.bin"), &rng.bytes(40 << 20));
    write(&root.join("big/app.log"), &rng.log_lines(10 << 20));
    for i in 0..3000u64 {
        let size = 1 + rng.below(16 << 10) as usize;
        let data = if i % 3 == 0 {
            rng.bytes(size)
        } else {
            rng.log_lines(size)
        };
        write(
            &root.join(format!("small/d{:02}/f{i:04}.dat", i % 30)),
            &data,
        );
    }
    build_special(root, seed ^ 0x5eed)
}

/// Builds only the special cases (fast; for tests that need no bulk).
pub fn build_special(root: &Path, seed: u64) -> Fixture {
    let mut rng = Rng::new(seed);
    fs::create_dir_all(root).unwrap();
    fs::create_dir_all(root.join("nested/a/b/c")).unwrap();
    write(&root.join("nested/a/b/c/deep.txt"), b"deep\n");
    fs::create_dir_all(root.join("nested/empty")).unwrap();
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    write(&root.join("empty-file"), b"");
    write(&root.join("multi-chunk.bin"), &rng.bytes(3 << 20));

    let names = root.join("names");
    fs::create_dir_all(&names).unwrap();
    for (i, name) in tricky_names().iter().enumerate() {
        let path = names.join(OsStr::from_bytes(name));
        fs::write(&path, format!("file {i}\n")).unwrap();
    }
    fs::create_dir_all(names.join(OsStr::from_bytes("dir ünïcödé <&>".as_bytes()))).unwrap();

    let links = root.join("links");
    fs::create_dir_all(&links).unwrap();
    symlink("../empty-file", links.join("relative")).unwrap();
    symlink("/etc/hostname", links.join("absolute")).unwrap();
    symlink("does/not/exist", links.join("dangling")).unwrap();
    symlink(
        OsStr::from_bytes(b"target-\xff-bad"),
        links.join("non-utf8-target"),
    )
    .unwrap();

    let hard = root.join("hardlinks");
    fs::create_dir_all(hard.join("sub")).unwrap();
    write(&hard.join("original"), b"linked content\n");
    fs::hard_link(hard.join("original"), hard.join("second")).unwrap();
    fs::hard_link(hard.join("original"), hard.join("sub/third")).unwrap();

    mkfifo(&root.join("fifo"));
    mknod_char(&root.join("char-device"), libc::makedev(1, 3));

    let xattrs = root.join("xattrs.txt");
    write(&xattrs, b"has attributes\n");
    xattr::set(&xattrs, "user.cairn.comment", b"backed up").unwrap();
    xattr::set(&xattrs, "user.cairn.empty", b"").unwrap();
    xattr::set(&xattrs, "user.cairn.binary", &[0, 1, 2, 255]).unwrap();

    // 64 MiB file with three 4 KiB islands of data: the rest must come back as holes.
    let sparse = root.join("sparse.img");
    let file = fs::File::create(&sparse).unwrap();
    file.set_len(64 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    for offset in [0u64, 10 << 20, 50 << 20] {
        file.write_all_at(&rng.bytes(4096), offset).unwrap();
    }
    drop(file);

    let modes = root.join("modes");
    fs::create_dir_all(&modes).unwrap();
    for (name, mode) in [
        ("m600", 0o600),
        ("m755", 0o755),
        ("m4755", 0o4755),
        ("m2750", 0o2750),
        ("m1777-dir", 0o1777),
    ] {
        let path = modes.join(name);
        if name.ends_with("-dir") {
            fs::create_dir(&path).unwrap();
        } else {
            write(&path, name.as_bytes());
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    let owned = root.join("owned-by-12345");
    write(&owned, b"someone else's\n");
    chown(&owned, 12345, 23456);

    // Fixed times, including nanoseconds and one before 1970.
    set_mtime(
        &root.join("nested/a/b/c/deep.txt"),
        981_173_106,
        123_456_789,
    );
    set_mtime(&root.join("empty-file"), -86_400 * 365, 0);
    set_mtime(&links.join("relative"), 1_000_000_000, 500);
    Fixture {
        root: root.to_path_buf(),
        restic_014_lossy: vec![PathBuf::from("links/non-utf8-target")],
    }
}

//! The tree codec against the real `restic` (Debian's 0.14, the format oracle).
//!
//! Builds a directory whose entries cover the Go quoting and escaping rules, file types, modes,
//! extended attributes and times in a zone with daylight saving time and a local mean time
//! with seconds, backs it up with `restic`, then for every tree on the path and below it checks that
//! decoding and re-encoding gives restic's bytes and that their SHA-256 is the tree id. It also
//! compares decoded values with the file system (raw names, link targets, attributes, modes,
//! local times from [`GoTime::from_unix_local`]), so decoding cannot pass by being lossy in a
//! way that re-encoding hides.
//!
//! restic missing is a failure, not a skip: the project's test command installs it.
//!
//! Set `CAIRN_WRITE_TREE_FIXTURES=DIR` to also write the trees under the backed-up directory to
//! DIR as `<id>.json` (how `tests/data/tree/` was made).

use std::collections::BTreeSet;
use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use cairn_format::tree::{
    decode_tree, encode_tree, go_lossy_string, go_mode, GoTime, Node, NodeType,
};
use cairn_format::Id;

const PASSWORD: &str = "cairn-oracle";
/// A zone with daylight saving time whose local mean time, used until 1912 (-00:36:45), has
/// seconds, within the range ext4 stores (from 1901-12-13).
const ZONE: &str = "Europe/Lisbon";

/// File names covering Go's quoting (`strconv.Quote`) and JSON escaping rules.
const TRICKY_NAMES: &[&[u8]] = &[
    b"with space",
    "café 日本語".as_bytes(),
    b"a<b>c&d\"e\\f",
    b"new\nline",
    b"tab\there",
    b"bad\xff",
    b"bad\xc3",
    b"\xc3\xa9 then \xe2\x82 cut",
    "ls\u{2028}ps\u{2029}".as_bytes(),
    "nb\u{a0}sp".as_bytes(),
    "zw\u{200b}sp".as_bytes(),
    "🦀 crab".as_bytes(),
    b"del\x7f",
    b"\x01ctl\x1besc\x07bel",
    "nel\u{85} soft\u{ad} bom\u{feff}".as_bytes(),
    "pua\u{e000}".as_bytes(),
    // Assigned in Unicode 14 (escaped by Go 1.19) and in Unicode 13 (printable).
    "melting \u{1fae0}".as_bytes(),
    "blueberries \u{1fad0}".as_bytes(),
    "real \u{fffd}".as_bytes(),
    b"literal \\u0041 \\x41",
    "e\u{301} combining".as_bytes(),
    "ideographic\u{3000}space".as_bytes(),
];

#[test]
fn restic_trees_decode_and_re_encode_to_the_same_bytes_and_id() {
    // Before anything reads the local zone: restic and chrono's `Local` must agree on it.
    std::env::set_var("TZ", ZONE);
    let work = tempdir_with_user_xattrs();
    let root = work.path().join("root");
    let non_utf8_target = build_directory(&root);

    let repository = work.path().join("repo");
    let restic = Restic { repository };
    restic.run(&["init", "--repository-version", "2"]);
    restic.run(&[OsStr::new("backup"), root.as_os_str()]);
    let snapshots: serde_json::Value =
        serde_json::from_slice(&restic.run(&["snapshots", "--json"])).expect("snapshots JSON");
    let mut tree_id: Id = snapshots[0]["tree"]
        .as_str()
        .expect("snapshot tree id")
        .parse()
        .expect("hex tree id");

    // Down the absolute path: every tree on it must round-trip.
    for component in root.strip_prefix("/").expect("absolute path").components() {
        let nodes = checked_tree(&restic, tree_id);
        let name = component.as_os_str().as_bytes();
        let node = nodes
            .iter()
            .find(|node| node.name == name)
            .unwrap_or_else(|| panic!("no node {:?} in tree {tree_id}", component));
        tree_id = node.subtree.expect("directory node has a subtree");
    }

    let fixtures = std::env::var_os("CAIRN_WRITE_TREE_FIXTURES").map(PathBuf::from);
    let mut checked = 0;
    check_directory(
        &restic,
        tree_id,
        &root,
        &non_utf8_target,
        fixtures.as_deref(),
        &mut checked,
    );
    assert!(checked >= 7, "walked only {checked} trees");
}

/// Fetches a tree, asserts its id is the SHA-256 of its bytes and that decode then encode gives
/// the same bytes back.
fn checked_tree(restic: &Restic, id: Id) -> Vec<Node> {
    let bytes = restic.tree(id);
    assert_eq!(Id::hash(&bytes), id, "tree id is the SHA-256 of the blob");
    let nodes = decode_tree(&bytes).unwrap_or_else(|error| panic!("decode {id}: {error}"));
    let again = encode_tree(&nodes);
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&bytes),
        "re-encoded tree {id} differs from restic's"
    );
    assert_eq!(again, bytes, "re-encoded tree {id} differs from restic's");
    assert_eq!(Id::hash(&again), id);
    nodes
}

fn check_directory(
    restic: &Restic,
    id: Id,
    directory: &Path,
    non_utf8_target: &Path,
    fixtures: Option<&Path>,
    checked: &mut usize,
) {
    if directory == non_utf8_target.parent().expect("parent") {
        check_non_utf8_link_target(restic, id, non_utf8_target, fixtures);
        *checked += 1;
        return;
    }
    let nodes = checked_tree(restic, id);
    *checked += 1;
    if let Some(fixtures) = fixtures {
        fs::write(fixtures.join(format!("{id}.json")), restic.tree(id)).expect("write fixture");
    }

    // restic 0.14's archiver leaves sockets out of the snapshot.
    let on_disk: BTreeSet<Vec<u8>> = fs::read_dir(directory)
        .expect("read_dir")
        .map(|entry| entry.expect("entry"))
        .filter(|entry| !entry.file_type().expect("file type").is_socket())
        .map(|entry| entry.file_name().as_bytes().to_vec())
        .collect();
    let in_tree: BTreeSet<Vec<u8>> = nodes.iter().map(|node| node.name.clone()).collect();
    assert_eq!(in_tree, on_disk, "decoded names are the raw file names");

    for node in &nodes {
        let path = directory.join(OsStr::from_bytes(&node.name));
        check_node_against_file_system(node, &path);
        if node.node_type == NodeType::Dir {
            let subtree = node.subtree.expect("directory has a subtree");
            check_directory(restic, subtree, &path, non_utf8_target, fixtures, checked);
        }
    }
}

fn check_node_against_file_system(node: &Node, path: &Path) {
    let metadata = fs::symlink_metadata(path).expect("lstat");
    let shown = String::from_utf8_lossy(&node.name);
    assert_eq!(
        node.mode,
        go_mode::from_unix(metadata.mode()),
        "mode of {shown}"
    );
    // restic 0.14 prints times in the local zone (TZ) with the offset of that instant.
    let mtime = GoTime::from_unix_local(metadata.mtime(), metadata.mtime_nsec() as u32);
    assert_eq!(
        node.mtime.to_rfc3339_nano(),
        mtime.to_rfc3339_nano(),
        "mtime of {shown}"
    );
    let ctime = GoTime::from_unix_local(metadata.ctime(), metadata.ctime_nsec() as u32);
    assert_eq!(
        node.ctime.to_rfc3339_nano(),
        ctime.to_rfc3339_nano(),
        "ctime of {shown}"
    );
    assert_eq!(
        node.atime, node.mtime,
        "restic's archiver sets atime = mtime"
    );
    match node.node_type {
        NodeType::File => {
            assert_eq!(node.size, metadata.len(), "size of {shown}");
            let content = node.content.as_ref().expect("a file has a content list");
            assert_eq!(
                content.is_empty(),
                metadata.len() == 0,
                "content of {shown}"
            );
        }
        NodeType::Symlink => {
            let target = fs::read_link(path).expect("readlink");
            assert_eq!(node.link_target, target.as_os_str().as_bytes());
            assert_eq!(node.content, None);
        }
        _ => assert_eq!(node.content, None, "content of {shown}"),
    }
    if node.name == b"xattrs" {
        let attributes: Vec<(&str, &[u8])> = node
            .extended_attributes
            .iter()
            .map(|attribute| (attribute.name.as_str(), attribute.value.as_slice()))
            .collect();
        assert!(
            attributes.contains(&("user.cairn", b"value\x00\xff<&>".as_slice())),
            "{attributes:?}"
        );
        assert!(attributes.contains(&("user.empty", b"".as_slice())));
    }
}

/// restic 0.14 writes a non-UTF-8 link target as a JSON string with one `\ufffd` per invalid
/// byte and no `linktarget_raw`; cairn writes the same plus `linktarget_raw` (restic ≥ 0.16).
fn check_non_utf8_link_target(restic: &Restic, id: Id, link: &Path, fixtures: Option<&Path>) {
    let bytes = restic.tree(id);
    assert_eq!(Id::hash(&bytes), id);
    if let Some(fixtures) = fixtures {
        let lossy = fixtures.join("lossy");
        fs::create_dir_all(&lossy).expect("mkdir lossy");
        fs::write(lossy.join(format!("{id}.json")), &bytes).expect("write fixture");
    }
    let mut nodes = decode_tree(&bytes).expect("decode");
    assert_eq!(nodes.len(), 1);
    let raw_target = fs::read_link(link).expect("readlink");
    let raw_target = raw_target.as_os_str().as_bytes();
    assert_eq!(
        nodes[0].link_target,
        go_lossy_string(raw_target).into_bytes(),
        "restic 0.14 lost the invalid bytes, one U+FFFD each"
    );

    nodes[0].link_target = raw_target.to_vec();
    let ours = encode_tree(&nodes);
    let restic_text = String::from_utf8(bytes).expect("restic's JSON is UTF-8");
    let field = r#""linktarget":"t\ufffdx\ufffd\ufffd""#;
    assert!(restic_text.contains(field), "{restic_text}");
    let raw_field = format!(
        r#","linktarget_raw":"{}""#,
        base64::engine::general_purpose::STANDARD.encode(raw_target)
    );
    let expected = restic_text.replacen(field, &format!("{field}{raw_field}"), 1);
    assert_eq!(String::from_utf8(ours.clone()).unwrap(), expected);
    assert_eq!(decode_tree(&ours).unwrap()[0].link_target, raw_target);
}

struct Restic {
    repository: PathBuf,
}

impl Restic {
    fn run<S: AsRef<OsStr>>(&self, arguments: &[S]) -> Vec<u8> {
        let output = Command::new("restic")
            .arg("--no-cache")
            .arg("--quiet")
            .arg("--repo")
            .arg(&self.repository)
            .args(arguments)
            .env("RESTIC_PASSWORD", PASSWORD)
            .env("TZ", ZONE)
            .output()
            .expect("cannot run `restic`: install it (Debian: apt-get install -y restic)");
        assert!(
            output.status.success(),
            "restic {:?} failed: {}",
            arguments
                .iter()
                .map(|argument| AsRef::<OsStr>::as_ref(argument))
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn tree(&self, id: Id) -> Vec<u8> {
        self.run(&["cat", "blob", &id.to_hex()])
    }
}

/// A temporary directory on a file system that takes `user.*` extended attributes: `/tmp` when
/// it does (tmpfs only on newer kernels), else `/var/tmp`.
fn tempdir_with_user_xattrs() -> tempfile::TempDir {
    let in_tmp = tempfile::tempdir().expect("tempdir");
    if set_xattr(in_tmp.path(), "user.probe", b"1").is_ok() {
        return in_tmp;
    }
    let in_var_tmp = tempfile::tempdir_in("/var/tmp").expect("tempdir in /var/tmp");
    set_xattr(in_var_tmp.path(), "user.probe", b"1")
        .expect("neither /tmp nor /var/tmp takes user extended attributes");
    in_var_tmp
}

/// Creates the test tree under `root`; returns the path of the symlink whose target is not
/// UTF-8, which lives alone in its own directory.
fn build_directory(root: &Path) -> PathBuf {
    fs::create_dir(root).expect("mkdir root");
    for (index, name) in TRICKY_NAMES.iter().enumerate() {
        fs::write(
            root.join(OsStr::from_bytes(name)),
            format!("file {index}\n"),
        )
        .expect("write");
    }
    write_with_mode(&root.join("private"), b"secret\n", 0o600);
    write_with_mode(&root.join("script"), b"#!/bin/sh\n", 0o755);
    write_with_mode(&root.join("setuid"), b"\x7fELF", 0o4755);
    fs::write(root.join("empty"), b"").expect("empty file");
    fs::write(root.join("large"), pseudo_random_bytes(3 << 20)).expect("large file");
    fs::write(root.join("hardlink-a"), b"twice\n").expect("write");
    fs::hard_link(root.join("hardlink-a"), root.join("hardlink-b")).expect("hard link");
    symlink("target with space <&>", root.join("link")).expect("symlink");
    // Link targets are plain JSON strings (no strconv.Quote): Go 1.19's control escapes show.
    symlink(
        "ctl\u{8}\u{c}\n\t\r\u{1}\u{1f}\u{7f} \u{2028}\u{2029} \"q\" \\ <&> \u{a0}\u{1fae0}",
        root.join("link-controls"),
    )
    .expect("symlink");
    make_fifo(&root.join("fifo"));
    drop(std::os::unix::net::UnixListener::bind(root.join("socket")).expect("socket"));
    fs::write(root.join("xattrs"), b"attributes\n").expect("write");
    set_xattr(&root.join("xattrs"), "user.cairn", b"value\x00\xff<&>").expect("setxattr");
    set_xattr(&root.join("xattrs"), "user.empty", b"").expect("setxattr");
    if is_root() {
        fs::write(root.join("nobody-owns"), b"x").expect("write");
        std::os::unix::fs::lchown(root.join("nobody-owns"), Some(12_345), Some(54_321))
            .expect("chown as root");
    }

    let sub = root.join("sub");
    fs::create_dir_all(sub.join("deeper")).expect("mkdir sub/deeper");
    fs::write(sub.join("nested <file>"), b"nested\n").expect("write");
    fs::write(sub.join("deeper").join("leaf"), b"leaf\n").expect("write");
    fs::create_dir(root.join("empty-dir")).expect("mkdir");
    fs::create_dir(root.join("sticky")).expect("mkdir");
    fs::set_permissions(root.join("sticky"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    fs::create_dir(root.join("setgid")).expect("mkdir");
    fs::set_permissions(root.join("setgid"), fs::Permissions::from_mode(0o2750)).expect("chmod");

    // Times: winter and summer time, a whole second, a fraction with trailing zeros, before the
    // epoch, before 1912 (local mean time with seconds), and past the zone's transition table.
    let times: [(&str, i64, u32); 7] = [
        ("winter", 1_610_000_000, 123_456_789),
        ("summer", 1_625_000_000, 120_000_000),
        ("whole-second", 1_600_000_000, 0),
        ("half-second", 1_600_000_000, 500_000_000),
        ("before-epoch", -300_000_000, 1),
        ("local-mean-time-1905", -2_038_132_800, 987_654_321),
        ("year-2100", 4_102_444_800 + 180 * 86_400, 42),
    ];
    for (name, secs, nanos) in times {
        let path = sub.join(name);
        fs::write(&path, name).expect("write");
        set_mtime(&path, secs, nanos);
    }
    set_mtime(&root.join("link"), 1_500_000_000, 5);

    let odd = root.join("non-utf8-link");
    fs::create_dir(&odd).expect("mkdir");
    let link = odd.join("bad-target");
    symlink(OsStr::from_bytes(b"t\xffx\xe2\x82"), &link).expect("symlink");
    link
}

fn write_with_mode(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A fixed xorshift stream: incompressible enough to give several chunks, the same every run.
fn pseudo_random_bytes(length: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("path without NUL")
}

fn make_fifo(path: &Path) {
    let path = c_path(path);
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let result = unsafe { libc::mkfifo(path.as_ptr(), 0o644) };
    assert_eq!(result, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let path = c_path(path);
    let name = CString::new(name).expect("name without NUL");
    // SAFETY: both strings are NUL-terminated and `value` is valid for `value.len()` bytes.
    let result = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn set_mtime(path: &Path, secs: i64, nanos: u32) {
    let path = c_path(path);
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: i64::from(nanos),
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: i64::from(nanos),
        },
    ];
    // SAFETY: `path` is NUL-terminated and `times` holds the two entries utimensat reads.
    let result = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(result, 0, "utimensat: {}", std::io::Error::last_os_error());
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

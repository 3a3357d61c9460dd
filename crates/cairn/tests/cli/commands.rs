//! The commands and their options, as a user runs them: the real binary on real files, with
//! restic 0.14 as the reference wherever both tools do the same thing.
//!
//! One module per group of commands; the helpers they share are below.

mod admin;
mod backup;
mod browse;
mod progress;
mod restore;

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::rng::Rng;
use crate::support::{run_ok, snapshots_json, stderr, stdout, Scratch};

pub const MIB: usize = 1 << 20;

/// Writes a file, creating its directory.
pub fn write(path: &Path, data: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, data).unwrap();
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets a path's mtime and atime (without following a symlink).
pub fn set_mtime(path: &Path, secs: i64) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let time = libc::timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = [time, time];
    // SAFETY: a valid C string and a two-element timespec array for the call.
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

/// A small tree with the entries `ls`, `dump` and `restore` must handle: nested directories,
/// a multi-chunk file, an empty file, an executable, a symlink. Every mtime is a whole second
/// so a tar round trip (which keeps seconds only) can be compared exactly.
pub fn small_tree(root: &Path, seed: u64) {
    let mut rng = Rng::new(seed);
    write(&root.join("docs/readme.txt"), "read me\n");
    write(&root.join("docs/notes.md"), "# notes\n");
    write(&root.join("docs/sub/deep.txt"), "deep\n");
    write(&root.join("data/big.bin"), rng.bytes(3 * MIB));
    write(&root.join("data/empty"), "");
    write(&root.join("logs/app.log"), rng.log_lines(20_000));
    write(&root.join("logs/old/app.1.log"), rng.log_lines(5_000));
    write(&root.join("script.sh"), "#!/bin/sh\necho hi\n");
    chmod(&root.join("script.sh"), 0o755);
    chmod(&root.join("docs/notes.md"), 0o600);
    std::os::unix::fs::symlink("docs/readme.txt", root.join("link")).unwrap();
    let mut secs = 1_600_000_000;
    for path in walk(root) {
        secs += 1;
        set_mtime(&path, secs);
    }
}

/// Every path below `root` (not `root` itself), depth first, names in byte order: the order of
/// a snapshot's trees.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    fn visit(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut names: Vec<OsString> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(name);
            out.push(path.clone());
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                visit(&path, out);
            }
        }
    }
    let mut out = Vec::new();
    visit(root, &mut out);
    out
}

/// What `ls` prints for a snapshot of the absolute path `root`: the directories leading to it,
/// `root`, then everything below.
pub fn expected_listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut prefix = PathBuf::from("/");
    for part in root.components().skip(1) {
        prefix.push(part);
        out.push(prefix.display().to_string());
    }
    out.extend(walk(root).iter().map(|p| p.display().to_string()));
    out
}

/// Every line of standard output parsed as JSON; fails naming the first line that is not.
pub fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"))
        })
        .collect()
}

/// The summary of a `backup --json` run: its last line, checked to be one.
pub fn summary_of(output: &Output) -> Value {
    let lines = json_lines(output);
    let last = lines.last().expect("backup --json printed nothing").clone();
    assert_eq!(last["message_type"], "summary", "last line: {last}");
    last
}

/// `backup --json ARGS` and its summary.
pub fn backup(scratch: &Scratch, repo: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Value {
    let mut command = scratch.cairn(repo);
    command.arg("backup").arg("--json");
    for arg in args {
        command.arg(arg);
    }
    summary_of(&run_ok(&mut command))
}

/// The snapshot id in a backup summary.
pub fn snapshot_id(summary: &Value) -> String {
    summary["snapshot_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no snapshot id in {summary}"))
        .to_string()
}

/// The ids of the repository's snapshots, as cairn lists them.
pub fn snapshot_ids(scratch: &Scratch, repo: &Path) -> Vec<String> {
    snapshots_json(&mut scratch.cairn(repo))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every file below `dir`, relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| !p.is_dir())
        .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    out.sort();
    out
}

/// `prefix…` followed by `command`'s program and arguments, with its environment changes.
pub fn wrap(prefix: &[&str], command: &Command) -> Command {
    let mut wrapped = Command::new(prefix[0]);
    wrapped
        .args(&prefix[1..])
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// Runs `command` as the child of a shell that prints its own I/O counters afterwards. The
/// kernel adds a reaped child's counters to its parent's, so the shell's `rchar` is the bytes
/// the command read (plus the shell's few). Returns the command's output and that count.
pub fn run_counting_reads(command: &Command) -> (Output, u64) {
    let script = r#""$@"; status=$?; grep '^rchar:' /proc/$$/io >&2; exit $status"#;
    let output = wrap(&["sh", "-c", script, "sh"], command).output().unwrap();
    let text = stderr(&output);
    let rchar = text
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("rchar:"))
        .unwrap_or_else(|| panic!("no rchar line in: {text}"))
        .trim()
        .parse()
        .unwrap();
    (output, rchar)
}

/// Runs `command` with `input` on its standard input.
pub fn run_with_stdin(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    output
}

/// `restic -r REPO --password-file FILE` for a password other than the scratch one.
pub fn restic_with_password(repo: &Path, password_file: &Path) -> Command {
    let mut command = crate::support::restic();
    command
        .arg("-r")
        .arg(repo)
        .arg("--password-file")
        .arg(password_file);
    command
}

/// `cairn -r REPO --password-file FILE` for a password other than the scratch one.
pub fn cairn_with_password(repo: &Path, password_file: &Path) -> Command {
    let mut command = crate::support::cairn();
    command
        .arg("-r")
        .arg(repo)
        .arg("--password-file")
        .arg(password_file);
    command
}

/// Number of entries in a repository directory (`snapshots`, `locks`, `keys`, `index`).
pub fn count_in(repo: &Path, dir: &str) -> usize {
    fs::read_dir(repo.join(dir)).map_or(0, |d| d.count())
}

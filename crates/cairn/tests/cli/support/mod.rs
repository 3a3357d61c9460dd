//! Shared test machinery: running cairn and restic, building fixture trees, comparing trees.

pub mod browser;
pub mod compare;
pub mod damage;
pub mod fixture;
pub mod handmade;
pub mod inspect;
pub mod rng;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use cairn_repo::keys::KeyOptions;
use cairn_storage::LocalStore;

pub use compare::compare_trees;

/// Cheap scrypt parameters for test repositories, so each cairn and restic invocation opens
/// the repository in milliseconds instead of half a second. `cairn init` with calibrated
/// parameters has its own test.
pub const TEST_KDF: cairn_crypto::KdfParams = cairn_crypto::KdfParams {
    n: 1024,
    r: 8,
    p: 1,
};

/// A scratch directory with a password file; the home of one test's repositories and trees.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub password_file: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        // /var/tmp: on disk (ext4 here), with user xattrs; /tmp may be a tmpfs without them.
        let dir = tempfile::Builder::new()
            .prefix("cairn-test-")
            .tempdir_in("/var/tmp")
            .expect("scratch dir");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, "correct horse battery staple\n").expect("password file");
        Scratch { dir, password_file }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Creates a cairn repository with cheap KDF parameters and returns its path.
    pub fn init_repo(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        let storage = Arc::new(LocalStore::new(&path));
        let options = KeyOptions {
            kdf: Some(TEST_KDF),
            ..KeyOptions::default()
        };
        cairn_repo::Repository::init(storage, b"correct horse battery staple", &options)
            .expect("init test repository");
        path
    }

    /// `cairn -r REPO --password-file F ARGS...`, with the metadata cache (used by remote
    /// repositories) inside the scratch directory.
    pub fn cairn(&self, repo: &Path) -> Command {
        let mut command = cairn();
        command
            .env("CAIRN_CACHE_DIR", self.path("cache"))
            .arg("-r")
            .arg(repo)
            .arg("--password-file")
            .arg(&self.password_file);
        command
    }

    /// `restic -r REPO --password-file F ARGS...`
    pub fn restic(&self, repo: &Path) -> Command {
        let mut command = restic();
        command
            .arg("-r")
            .arg(repo)
            .arg("--password-file")
            .arg(&self.password_file);
        command
    }
}

/// The cairn binary under test, with a clean environment.
pub fn cairn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CAIRN_") {
            command.env_remove(&key);
        }
    }
    command.env("CAIRN_LOG", "warn");
    // Keeps caches of test repositories out of the home directory.
    command.env("XDG_CACHE_HOME", "/var/tmp/cairn-test-xdg-cache");
    command
}

/// The restic binary (Debian's 0.14); the test fails if it is missing, it never skips.
pub fn restic() -> Command {
    let found = Command::new("restic").arg("version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "restic is not installed; the test command installs it (apt-get install -y restic)"
    );
    let mut command = Command::new("restic");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RESTIC_") {
            command.env_remove(&key);
        }
    }
    command.arg("--no-cache").arg("--quiet");
    command
}

/// Runs a command and returns its output, panicking with stdout and stderr if it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("spawn");
    assert!(
        output.status.success(),
        "{:?} failed ({}):\nstdout: {}\nstderr: {}",
        command,
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs a command expected to fail; returns its output.
pub fn run_fail(command: &mut Command) -> Output {
    let output = command.output().expect("spawn");
    assert!(
        !output.status.success(),
        "{:?} should have failed:\nstdout: {}\nstderr: {}",
        command,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The JSON snapshot list of a repository, as either tool prints it.
pub fn snapshots_json(command: &mut Command) -> Vec<serde_json::Value> {
    let output = run_ok(command.arg("snapshots").arg("--json"));
    serde_json::from_slice(&output.stdout).expect("snapshots --json")
}

/// The restore location of an absolute backup path under a restore target.
pub fn restored(target: &Path, source: &Path) -> PathBuf {
    target.join(source.strip_prefix("/").expect("absolute source"))
}

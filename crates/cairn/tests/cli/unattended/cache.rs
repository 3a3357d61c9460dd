//! The metadata cache of remote repositories: what it saves (counted on the wire), that it is
//! never trusted, that it follows the repository, and that it stays out of the way when not
//! wanted.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use cairn_storage::s3_test_proxy::{Action, S3TestProxy};
use cairn_storage::s3_test_server::{self as server, unique_prefix, S3TestServer};
use cairn_storage::{FileKind, Storage};

use crate::s3::{cairn_at, init_s3_repo, small_tree};
use crate::support::{run_ok, snapshots_json, stdout, Scratch};

/// GETs of objects per repository directory, as the proxy saw them.
#[derive(Clone, Default)]
struct Gets(Arc<Mutex<HashMap<&'static str, usize>>>);

impl Gets {
    fn take(&self) -> HashMap<&'static str, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Setup {
    scratch: Scratch,
    prefix: String,
    direct: String,
    through: String,
    gets: Gets,
    _proxy: S3TestProxy,
    source: PathBuf,
}

fn setup() -> Setup {
    let scratch = Scratch::new();
    let server = S3TestServer::shared();
    let prefix = unique_prefix("cache");
    let direct = init_s3_repo(server, &prefix);
    let gets = Gets::default();
    let proxy = {
        let gets = gets.clone();
        S3TestProxy::with_rule(server.port(), move |request| {
            if request.method == "GET" && !request.is_listing() {
                for dir in ["snapshots", "index", "data"] {
                    if request.touches(dir) {
                        *gets.0.lock().unwrap().entry(dir).or_default() += 1;
                    }
                }
            }
            Action::Forward
        })
    };
    let through = proxy.url(server::BUCKET, &prefix);
    let source = scratch.path("src");
    small_tree(&source, 11);
    Setup {
        scratch,
        prefix,
        direct,
        through,
        gets,
        _proxy: proxy,
        source,
    }
}

impl Setup {
    /// cairn through the counting proxy with the cache in `cache`.
    fn cairn(&self, cache: &Path) -> Command {
        let mut command = cairn_at(&self.scratch, &self.through);
        command.arg("--cache-dir").arg(cache);
        command
    }

    fn cache_files(&self, cache: &Path, dir: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![cache.join(self.repository_id()).join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    stack.push(entry.path());
                } else if !entry.file_name().to_string_lossy().starts_with('.') {
                    out.push(entry.path());
                }
            }
        }
        out.sort();
        out
    }

    fn repository_id(&self) -> String {
        let output = run_ok(cairn_at(&self.scratch, &self.direct).args(["cat", "config"]));
        let config: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        config["id"].as_str().unwrap().to_string()
    }
}

fn count(gets: &HashMap<&'static str, usize>, dir: &str) -> usize {
    gets.get(dir).copied().unwrap_or(0)
}

#[test]
fn a_second_run_reads_snapshots_index_and_trees_from_the_cache() {
    let setup = setup();
    let cache = setup.scratch.path("cache");
    run_ok(
        setup
            .cairn(&cache)
            .args(["-q", "backup"])
            .arg(&setup.source),
    );
    std::fs::write(setup.source.join("bulk/day2.txt"), b"day two\n").unwrap();
    run_ok(
        setup
            .cairn(&cache)
            .args(["-q", "backup"])
            .arg(&setup.source),
    );
    let backups = setup.gets.take();
    assert_eq!(
        count(&backups, "index"),
        0,
        "written index files are cached: {backups:?}"
    );
    assert_eq!(
        count(&backups, "data"),
        0,
        "the parent's trees come from the cache: {backups:?}"
    );

    // What this host wrote is cached as it is written: nothing is fetched again.
    assert_eq!(snapshots_json(&mut setup.cairn(&cache)).len(), 2);
    let listing = stdout(&run_ok(setup.cairn(&cache).args(["ls", "latest"])));
    assert!(listing.contains("day2.txt"), "{listing}");
    let warm = setup.gets.take();
    assert_eq!(warm, HashMap::new(), "a warm cache fetches no object");

    // A new cache fills on first use and serves the second.
    let fresh = setup.scratch.path("fresh-cache");
    run_ok(setup.cairn(&fresh).args(["ls", "latest"]));
    let cold = setup.gets.take();
    assert_eq!(count(&cold, "snapshots"), 2, "{cold:?}");
    assert!(
        count(&cold, "index") >= 1 && count(&cold, "data") >= 1,
        "{cold:?}"
    );
    run_ok(setup.cairn(&fresh).args(["ls", "latest"]));
    assert_eq!(
        setup.gets.take(),
        HashMap::new(),
        "second run from the cache"
    );

    // `check` reads the store itself, never the cache.
    run_ok(setup.cairn(&fresh).args(["-q", "check"]));
    let checked = setup.gets.take();
    assert!(
        count(&checked, "index") >= 1 && count(&checked, "snapshots") == 2,
        "{checked:?}"
    );
}

#[test]
fn damaged_cache_files_are_fetched_again_never_trusted() {
    let setup = setup();
    let cache = setup.scratch.path("cache");
    run_ok(
        setup
            .cairn(&cache)
            .args(["-q", "backup"])
            .arg(&setup.source),
    );
    let expected = stdout(&run_ok(setup.cairn(&cache).args(["ls", "latest"])));
    setup.gets.take();
    // Flip a byte in every cached snapshot, index file and tree pack.
    let mut damaged = 0;
    for dir in ["snapshots", "index", "data"] {
        for path in setup.cache_files(&cache, dir) {
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged >= 3, "snapshot, index and tree pack were cached");
    let output = run_ok(setup.cairn(&cache).args(["ls", "latest"]));
    assert_eq!(
        stdout(&output),
        expected,
        "same answer as before the damage"
    );
    let refetched = setup.gets.take();
    for dir in ["snapshots", "index", "data"] {
        assert!(
            count(&refetched, dir) >= 1,
            "{dir} fetched again: {refetched:?}"
        );
    }
    // The cache holds good copies again: the next run fetches nothing.
    run_ok(setup.cairn(&cache).args(["ls", "latest"]));
    assert_eq!(setup.gets.take(), HashMap::new());
}

#[test]
fn the_cache_follows_forget_and_prune_done_elsewhere_and_stays_away_when_not_wanted() {
    let setup = setup();
    let cache = setup.scratch.path("cache");
    run_ok(
        setup
            .cairn(&cache)
            .args(["-q", "backup"])
            .arg(&setup.source),
    );
    std::fs::remove_dir_all(setup.source.join("bulk")).unwrap();
    run_ok(
        setup
            .cairn(&cache)
            .args(["-q", "backup"])
            .arg(&setup.source),
    );
    assert_eq!(setup.cache_files(&cache, "snapshots").len(), 2);

    // Another host (no cache) forgets the first snapshot and prunes what only it used.
    run_ok(cairn_at(&setup.scratch, &setup.direct).args([
        "-q",
        "--no-cache",
        "forget",
        "--keep-last",
        "1",
        "--prune",
    ]));
    run_ok(setup.cairn(&cache).args(["ls", "latest"]));
    let store = S3TestServer::shared().store(&setup.prefix);
    for (dir, kind) in [
        ("snapshots", FileKind::Snapshot),
        ("index", FileKind::Index),
        ("data", FileKind::Pack),
    ] {
        let listed: BTreeSet<String> = store
            .list(kind)
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect();
        let cached: BTreeSet<String> = setup
            .cache_files(&cache, dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(!cached.is_empty(), "{dir} cached");
        assert!(
            cached.is_subset(&listed),
            "{dir}: the cache keeps {:?}, which the repository no longer lists",
            cached.difference(&listed).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        setup.cache_files(&cache, "snapshots").len(),
        1,
        "forgotten snapshot dropped"
    );

    // --no-cache and local repositories leave no cache behind.
    let unused = setup.scratch.path("unused-cache");
    run_ok(setup.cairn(&unused).args(["--no-cache", "snapshots"]));
    assert!(!unused.exists(), "--no-cache wrote a cache");
    let local = setup.scratch.init_repo("local");
    run_ok(
        setup
            .scratch
            .cairn(&local)
            .arg("--cache-dir")
            .arg(&unused)
            .args(["-q", "backup"])
            .arg(&setup.source),
    );
    assert!(!unused.exists(), "a local repository is not cached");
}

#[test]
fn two_processes_share_one_cache() {
    let setup = setup();
    let cache = setup.scratch.path("cache");
    run_ok(
        cairn_at(&setup.scratch, &setup.direct)
            .args(["-q", "--no-cache", "backup"])
            .arg(&setup.source),
    );
    let expected = stdout(&run_ok(setup.cairn(&cache).args([
        "--no-cache",
        "ls",
        "latest",
    ])));
    for round in 0..3 {
        let shared = setup.scratch.path(&format!("shared-{round}"));
        let children: Vec<_> = (0..4)
            .map(|_| {
                setup
                    .cairn(&shared)
                    .args(["ls", "latest"])
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "round {round}");
            assert_eq!(stdout(&output), expected, "round {round}");
        }
        // What they left is whole: a later run trusts it and fetches nothing.
        setup.gets.take();
        assert_eq!(
            stdout(&run_ok(setup.cairn(&shared).args(["ls", "latest"]))),
            expected
        );
        assert_eq!(setup.gets.take(), HashMap::new(), "round {round}");
    }
}

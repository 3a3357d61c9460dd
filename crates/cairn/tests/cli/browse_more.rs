//! `find`, `diff` and `stats` against restic 0.14 on the same repositories: one written by
//! cairn and one written by restic, each holding three snapshots of a tree that changes in
//! every way diff distinguishes (added, removed, modified, metadata-only, type changed, a
//! changed subdirectory, an identical subdirectory), plus the special-case fixture (tricky
//! names, hard links, devices, xattrs, a sparse file).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::commands::{chmod, json_lines, set_mtime, write};
use crate::support::rng::Rng;
use crate::support::{fixture, run_fail, run_ok, snapshots_json, stderr, stdout, Scratch};

/// restic without `--quiet` (which silences `diff`'s change lines); fails when restic is
/// missing, as every oracle test does.
fn restic_loud(scratch: &Scratch, repo: &Path) -> Command {
    drop(crate::support::restic());
    let mut command = Command::new("restic");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RESTIC_") {
            command.env_remove(&key);
        }
    }
    command
        .arg("--no-cache")
        .arg("-r")
        .arg(repo)
        .arg("--password-file")
        .arg(&scratch.password_file);
    command
}

/// Day 1: the tree the first snapshot holds. Every file content is distinct from every other
/// (and from the fixture's), so both tools' blob statistics mean the same thing.
fn day1(root: &Path) {
    fixture::build_special(&root.join("special"), 7);
    let mut rng = Rng::new(11);
    write(&root.join("docs/a.txt"), "alpha\n");
    write(&root.join("docs/b.txt"), "beta\n");
    write(&root.join("docs/sub/deep.txt"), "deep down\n");
    write(&root.join("same/x/s.txt"), "unchanging\n");
    write(&root.join("same/big.bin"), rng.bytes(2 << 20));
    write(&root.join("c/keep.txt"), "kept\n");
    write(&root.join("c/rm.txt"), "to be removed\n");
    write(&root.join("c/mod.txt"), "first version\n");
    write(&root.join("c/meta.txt"), "metadata changes\n");
    write(&root.join("c/typechg"), "a file, then a directory\n");
    write(&root.join("c/Upper.TXT"), "upper case name\n");
    symlink("keep.txt", root.join("c/lnk")).unwrap();
    write(&root.join("gone/one.txt"), "gone one\n");
    write(&root.join("gone/deeper/two.txt"), "gone two\n");
    set_mtime(&root.join("docs/sub/deep.txt"), 1_500_000_000);
}

/// Day 2: every kind of change, `same/` untouched.
fn day2(root: &Path) {
    let mut rng = Rng::new(12);
    fs::remove_file(root.join("c/rm.txt")).unwrap();
    write(&root.join("c/mod.txt"), "second version, longer\n");
    chmod(&root.join("c/meta.txt"), 0o600);
    fs::remove_file(root.join("c/typechg")).unwrap();
    write(
        &root.join("c/typechg/inside.txt"),
        "now inside a directory\n",
    );
    fs::remove_file(root.join("c/lnk")).unwrap();
    symlink("mod.txt", root.join("c/lnk")).unwrap();
    write(&root.join("c/new.txt"), "brand new\n");
    write(&root.join("newdir/sub/n.bin"), rng.bytes(1 << 20));
    fs::remove_dir_all(root.join("gone")).unwrap();
    set_mtime(&root.join("docs/sub/deep.txt"), 1_600_000_000);
}

/// Day 3: a modified file in `docs`, a new hard link, a directory replaced by a file.
fn day3(root: &Path) {
    write(&root.join("docs/a.txt"), "alpha, revised\n");
    fs::hard_link(root.join("c/keep.txt"), root.join("c/keep-link.txt")).unwrap();
    fs::remove_dir_all(root.join("newdir")).unwrap();
    write(&root.join("newdir"), "a file where a directory was\n");
}

/// Two repositories with the same three snapshots' worth of changes: one written by cairn,
/// one by restic. Returns (cairn repo, restic repo, source root).
struct Repos {
    scratch: Scratch,
    by_cairn: PathBuf,
    by_restic: PathBuf,
    src: PathBuf,
}

impl Repos {
    fn build() -> Repos {
        let scratch = Scratch::new();
        let by_cairn = scratch.init_repo("by-cairn");
        let by_restic = scratch.path("by-restic");
        run_ok(scratch.restic(&by_restic).arg("init"));
        let src = scratch.path("src");
        for day in [day1, day2, day3] {
            day(&src);
            run_ok(scratch.cairn(&by_cairn).arg("backup").arg(&src));
            run_ok(scratch.restic(&by_restic).arg("backup").arg(&src));
            // Distinct snapshot times, so "newest first" and "latest" are well defined.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        Repos {
            scratch,
            by_cairn,
            by_restic,
            src,
        }
    }

    fn both(&self) -> [&Path; 2] {
        [&self.by_cairn, &self.by_restic]
    }

    /// Snapshot ids, oldest first.
    fn snapshot_ids(&self, repo: &Path) -> Vec<String> {
        let mut list = snapshots_json(&mut self.scratch.restic(repo));
        list.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
        list.iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn src_text(&self) -> String {
        self.src.display().to_string()
    }
}

/// `find --json` output as snapshot id → its matches (whole objects), in the order printed.
fn find_by_snapshot(output: &std::process::Output) -> BTreeMap<String, Vec<Value>> {
    let list: Vec<Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("find --json is not JSON ({e}): {}", stdout(output)));
    let mut out = BTreeMap::new();
    for entry in list {
        let matches = entry["matches"].as_array().unwrap().clone();
        assert_eq!(entry["hits"], matches.len(), "hits of {entry}");
        let id = entry["snapshot"].as_str().unwrap().to_string();
        assert!(out.insert(id, matches).is_none(), "snapshot listed twice");
    }
    out
}

#[test]
fn find_reports_the_same_entries_as_restic_in_every_snapshot() {
    let repos = Repos::build();
    let src = repos.src_text();
    let anchored = format!("{src}/c/*");
    let pattern_sets: Vec<Vec<&str>> = vec![
        vec!["*.txt"],
        vec!["c"],
        vec!["sub/*"],
        vec![&anchored],
        vec!["-i", "*.txt"],
        vec!["s.txt", "*.bin"],
        vec!["**/deeper/*"],
        vec!["names"],
        vec!["no-such-entry"],
    ];
    for repo in repos.both() {
        let ids = repos.snapshot_ids(repo);
        for patterns in &pattern_sets {
            let ours = find_by_snapshot(&run_ok(
                repos
                    .scratch
                    .cairn(repo)
                    .arg("find")
                    .arg("--json")
                    .args(patterns),
            ));
            let theirs = find_by_snapshot(&run_ok(
                repos
                    .scratch
                    .restic(repo)
                    .arg("find")
                    .arg("--json")
                    .args(patterns),
            ));
            assert_eq!(
                ours.keys().collect::<Vec<_>>(),
                theirs.keys().collect::<Vec<_>>(),
                "snapshots with matches for {patterns:?} in {}",
                repo.display()
            );
            for (id, matches) in &theirs {
                assert_eq!(&ours[id], matches, "matches of {patterns:?} in {id}");
            }
            // A file in the never-changing directory is reported in every snapshot, although
            // its tree is searched once.
            if patterns == &vec!["s.txt", "*.bin"] {
                assert_eq!(ours.len(), 3, "{ours:?}");
                for id in &ids {
                    assert!(
                        ours[id]
                            .iter()
                            .any(|m| m["path"] == format!("{src}/same/x/s.txt")),
                        "s.txt in {id}"
                    );
                }
            }
            if patterns == &vec!["no-such-entry"] {
                assert!(ours.is_empty());
            }
        }
        // One snapshot only, by prefix.
        let first = &ids[0][..8];
        let ours = find_by_snapshot(&run_ok(repos.scratch.cairn(repo).args([
            "find",
            "--json",
            "--snapshot",
            first,
            "rm.txt",
        ])));
        assert_eq!(ours.keys().collect::<Vec<_>>(), vec![&ids[0]]);
        assert_eq!(ours[&ids[0]][0]["path"], format!("{src}/c/rm.txt"));
        assert_eq!(ours[&ids[0]][0]["type"], "file");
        assert_eq!(ours[&ids[0]][0]["size"], 14);
    }
}

#[test]
fn find_text_output_is_grouped_by_snapshot_newest_first() {
    let repos = Repos::build();
    let repo = &repos.by_cairn;
    let ids = repos.snapshot_ids(repo);
    let src = repos.src_text();
    let output = run_ok(repos.scratch.cairn(repo).args(["find", "mod.txt"]));
    let text = stdout(&output);
    let blocks: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{text}");
    for (block, id) in blocks.iter().zip(ids.iter().rev()) {
        let mut lines = block.lines();
        let header = lines.next().unwrap();
        assert!(
            header.starts_with(&format!(
                "Found matching entries in snapshot {} from ",
                &id[..8]
            )),
            "{header}"
        );
        assert_eq!(lines.collect::<Vec<_>>(), vec![format!("{src}/c/mod.txt")]);
    }
    // --long shows mode, owner, size and time; a symlink its target.
    let long = stdout(&run_ok(repos.scratch.cairn(repo).args([
        "find",
        "--long",
        "--snapshot",
        "latest",
        "lnk",
    ])));
    let line = long.lines().nth(1).unwrap();
    assert!(line.starts_with("Lrwxrwxrwx "), "{line}");
    assert!(line.ends_with(&format!("{src}/c/lnk -> mod.txt")), "{line}");
    // --quiet prints the paths alone; a bad pattern is refused, naming it.
    let quiet = stdout(&run_ok(
        repos.scratch.cairn(repo).args(["-q", "find", "new.txt"]),
    ));
    assert_eq!(quiet, format!("{src}/c/new.txt\n{src}/c/new.txt\n"));
    let bad = run_fail(repos.scratch.cairn(repo).args(["find", "a[b"]));
    assert!(
        stderr(&bad).contains("invalid pattern \"a[b\""),
        "{}",
        stderr(&bad)
    );
}

/// `diff --json` of either tool: the change lines in order, and the statistics.
fn diff_json(command: &mut Command) -> (Vec<(String, String)>, Value) {
    let lines = json_lines(&run_ok(command));
    let (last, changes) = lines.split_last().expect("diff printed nothing");
    assert_eq!(last["message_type"], "statistics", "{last}");
    let changes = changes
        .iter()
        .map(|c| {
            assert_eq!(c["message_type"], "change", "{c}");
            (
                c["modifier"].as_str().unwrap().to_string(),
                c["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (changes, last.clone())
}

#[test]
fn diff_lists_the_same_changes_and_statistics_as_restic() {
    let repos = Repos::build();
    for repo in repos.both() {
        let ids = repos.snapshot_ids(repo);
        let pairs = [
            (&ids[0], &ids[1]),
            (&ids[1], &ids[2]),
            (&ids[0], &ids[2]),
            (&ids[2], &ids[0]),
            (&ids[1], &ids[1]),
        ];
        for (a, b) in pairs {
            for metadata in [false, true] {
                let flags: &[&str] = if metadata { &["--metadata"] } else { &[] };
                let ours = diff_json(
                    repos
                        .scratch
                        .cairn(repo)
                        .args(["diff", "--json"])
                        .args(flags)
                        .args([a, b]),
                );
                let theirs = diff_json(
                    restic_loud(&repos.scratch, repo)
                        .args(["diff", "--json"])
                        .args(flags)
                        .args([a, b]),
                );
                assert_eq!(ours.0, theirs.0, "changes {a} → {b} (metadata {metadata})");
                // No content here is shared with an unchanged directory, so skipping those
                // does not change the blob figures either (see cairn_repo::diff).
                assert_eq!(
                    ours.1, theirs.1,
                    "statistics {a} → {b} (metadata {metadata})"
                );
            }
        }
    }

    // What the changes are, spelled out once for the cairn repository.
    let repo = &repos.by_cairn;
    let ids = repos.snapshot_ids(repo);
    let src = repos.src_text();
    let (changes, stats) = diff_json(repos.scratch.cairn(repo).args([
        "diff",
        "--json",
        "--metadata",
        &ids[0],
        &ids[1],
    ]));
    let has = |modifier: &str, path: &str| {
        changes
            .iter()
            .any(|(m, p)| m == modifier && *p == format!("{src}{path}"))
    };
    for (modifier, path) in [
        ("-", "/c/rm.txt"),
        ("M", "/c/mod.txt"),
        ("U", "/c/meta.txt"),
        ("TU", "/c/typechg/"),
        ("U", "/c/lnk"),
        ("+", "/c/new.txt"),
        ("+", "/newdir/"),
        ("+", "/newdir/sub/"),
        ("+", "/newdir/sub/n.bin"),
        ("-", "/gone/"),
        ("-", "/gone/deeper/"),
        ("-", "/gone/deeper/two.txt"),
        ("U", "/docs/sub/deep.txt"),
        ("U", "/c/"),
    ] {
        assert!(
            has(modifier, path),
            "{modifier} {path} missing from {changes:?}"
        );
    }
    assert!(
        !changes.iter().any(|(_, p)| p.contains("/same/")),
        "the identical directory shows up: {changes:?}"
    );
    assert_eq!(stats["changed_files"], 1);
    assert_eq!(stats["added"]["files"], 2);
    assert_eq!(stats["added"]["dirs"], 2);
    assert_eq!(stats["removed"]["files"], 3);
    assert_eq!(stats["removed"]["dirs"], 2);
}

#[test]
fn diff_text_output_has_restic_lines_and_statistics() {
    let repos = Repos::build();
    let repo = &repos.by_cairn;
    let ids = repos.snapshot_ids(repo);
    let src = repos.src_text();
    let ours = stdout(&run_ok(
        repos.scratch.cairn(repo).args(["diff", &ids[0], &ids[1]]),
    ));
    let theirs = stdout(&run_ok(
        restic_loud(&repos.scratch, repo).args(["diff", &ids[0], &ids[1]]),
    ));
    assert!(ours.starts_with(&format!(
        "comparing snapshot {} to {}:\n\n",
        &ids[0][..8],
        &ids[1][..8]
    )));
    let change_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.len() > 5 && l[..5].trim_end().chars().all(|c| "+-MTU".contains(c)))
            .filter(|l| l[5..].starts_with('/'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(change_lines(&ours), change_lines(&theirs));
    assert!(ours.contains(&format!("M    {src}/c/mod.txt\n")), "{ours}");
    assert!(ours.contains(&format!("T    {src}/c/typechg/\n")), "{ours}");
    // The statistics block, word for word (sizes are printed the same way).
    let block = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| !l.starts_with("Files:"))
            .map(|l| l.trim_end().to_string())
            .collect()
    };
    assert_eq!(block(&ours), block(&theirs));
    assert_eq!(block(&ours).len(), 7, "{ours}");
}

#[test]
fn stats_agree_with_restic_in_every_mode_on_both_repositories() {
    let repos = Repos::build();
    for repo in repos.both() {
        let ids = repos.snapshot_ids(repo);
        let selections: Vec<Vec<&str>> = vec![
            vec![],
            vec!["latest"],
            vec![&ids[0][..8], &ids[2]],
            vec!["--host", "no-such-host"],
        ];
        for mode in [
            "restore-size",
            "files-by-contents",
            "raw-data",
            "blobs-per-file",
        ] {
            for selection in &selections {
                let args = |command: &mut Command| {
                    command
                        .args(["stats", "--json", "--mode", mode])
                        .args(selection)
                        .output()
                        .unwrap()
                };
                let ours = args(&mut repos.scratch.cairn(repo));
                let theirs = args(&mut repos.scratch.restic(repo));
                assert!(ours.status.success(), "{}", stderr(&ours));
                assert!(theirs.status.success(), "{}", stderr(&theirs));
                let ours: Value = serde_json::from_slice(&ours.stdout).unwrap();
                let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
                assert_eq!(
                    ours,
                    theirs,
                    "stats --mode {mode} {selection:?} on {}",
                    repo.display()
                );
                if selection.is_empty() {
                    assert_eq!(ours["snapshots_count"], 3);
                    assert!(ours["total_size"].as_u64().unwrap() > 0, "{ours}");
                }
            }
        }
    }
    // Text output and a bad mode.
    let text = stdout(&run_ok(
        repos
            .scratch
            .cairn(&repos.by_cairn)
            .args(["stats", "--mode", "raw-data"]),
    ));
    assert!(
        text.starts_with("Stats in raw-data mode:\nSnapshots processed:   3\n"),
        "{text}"
    );
    assert!(text.contains("   Total Blob Count:   "), "{text}");
    let bad = run_fail(
        repos
            .scratch
            .cairn(&repos.by_cairn)
            .args(["stats", "--mode", "bogus"]),
    );
    assert!(
        stderr(&bad).contains("unknown counting mode \"bogus\""),
        "{}",
        stderr(&bad)
    );
}

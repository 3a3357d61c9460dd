//! `cairn repair index` and `cairn repair snapshots` on damaged repositories, with restic as
//! the judge: after each repair both tools' `check --read-data` pass, what survived restores
//! exactly, and what was lost is exactly what used the lost pack.
//!
//! Every random choice comes from a seed printed on stderr (set `CAIRN_TEST_SEED` to replay
//! one).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_format::tree::NodeType;
use cairn_format::{BlobType, Id};
use cairn_repo::index::Index;

use crate::support::compare::CompareOptions;
use crate::support::damage::{copy_dir, flip_middle_byte, truncate_tail};
use crate::support::inspect::{self, lock_entries, object_names, pack_path};
use crate::support::rng::Rng;
use crate::support::{compare_trees, restored, snapshots_json, stderr, stdout, Scratch};

const MIB: usize = 1 << 20;

/// The seed of this test's random choices: `CAIRN_TEST_SEED` (decimal or 0x hex), else the
/// clock. Printed so that a failure can be replayed.
fn seed(test: &str) -> u64 {
    let seed = match std::env::var("CAIRN_TEST_SEED") {
        Ok(text) => match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).expect("CAIRN_TEST_SEED"),
            None => text.parse().expect("CAIRN_TEST_SEED"),
        },
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    eprintln!("{test}: seed {seed:#x} (replay with CAIRN_TEST_SEED={seed:#x})");
    seed
}

fn write_file(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// Runs `command`, expecting success without a panic; returns its output.
fn ok(context: &str, command: &mut Command) -> Output {
    let output = command.output().expect("spawn");
    assert!(
        output.status.success() && !stderr(&output).contains("panicked"),
        "{context}: {command:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    output
}

/// Runs `command`, expecting exit code 1 without a panic; returns its output.
fn fails(context: &str, command: &mut Command) -> Output {
    let output = command.output().expect("spawn");
    assert!(
        output.status.code() == Some(1) && !stderr(&output).contains("panicked"),
        "{context}: {command:?} should fail with exit code 1 ({}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    output
}

/// `cairn check` and `restic check`, both with `--read-data` when asked.
fn check_both(context: &str, scratch: &Scratch, repo: &Path, read_data: bool) {
    let mut cairn = scratch.cairn(repo);
    cairn.args(["-q", "check"]);
    let mut restic = scratch.restic(repo);
    restic.arg("check");
    if read_data {
        cairn.arg("--read-data");
        restic.arg("--read-data");
    }
    ok(context, &mut cairn);
    ok(context, &mut restic);
}

fn differences(expected: &Path, actual: &Path, ignore: &[PathBuf]) -> Vec<String> {
    compare_trees(
        expected,
        actual,
        CompareOptions {
            dir_times: true,
            sparse: false,
        },
        ignore,
    )
}

/// Restores `snapshot` with cairn (or restic) into a fresh directory; returns where `source`
/// came back.
fn restore(
    context: &str,
    scratch: &Scratch,
    repo: &Path,
    snapshot: &str,
    source: &Path,
    restic: bool,
) -> PathBuf {
    let tool = if restic { "restic" } else { "cairn" };
    let target = scratch.path(&format!("restore-{tool}-{}", &snapshot[..8]));
    let _ = fs::remove_dir_all(&target);
    let mut command = if restic {
        scratch.restic(repo)
    } else {
        scratch.cairn(repo)
    };
    ok(
        context,
        command
            .args(["-q", "restore", snapshot, "--target"])
            .arg(&target),
    );
    restored(&target, source)
}

fn assert_restores_exactly(
    context: &str,
    scratch: &Scratch,
    repo: &Path,
    snapshot: &str,
    source: &Path,
) {
    let restored = restore(context, scratch, repo, snapshot, source, false);
    let differences = differences(source, &restored, &[]);
    assert!(
        differences.is_empty(),
        "{context}: snapshot {snapshot} of {} does not restore exactly:\n{}",
        source.display(),
        differences.join("\n")
    );
}

/// One backed-up directory and its snapshot.
#[derive(Clone)]
struct Backup {
    source: PathBuf,
    snapshot: String,
}

/// A repository with three snapshots, each written by its own backup (so with its own index
/// file and data packs of 4 MiB): `a`, `b` (disjoint from `a`), and `c` (a copy of `a` with
/// changes, sharing most of its data).
struct Setup {
    repo: PathBuf,
    backups: Vec<Backup>,
}

fn backup(scratch: &Scratch, repo: &Path, source: &Path) -> String {
    let before = object_names(repo, "snapshots");
    ok(
        "setup",
        scratch
            .cairn(repo)
            .args(["-q", "backup", "--pack-size", "4"])
            .arg(source),
    );
    let after = object_names(repo, "snapshots");
    let new: Vec<&String> = after.difference(&before).collect();
    assert_eq!(new.len(), 1, "one new snapshot: {new:?}");
    new[0].clone()
}

fn build_source(root: &Path, rng: &mut Rng, big: usize) {
    for i in 0..big {
        write_file(&root.join(format!("big-{i:02}.bin")), &rng.bytes(3 * MIB));
    }
    for i in 0..30 {
        let len = 1 + rng.below(12 << 10) as usize;
        write_file(
            &root.join(format!("small/s{:02}/f{i:03}.log", i % 6)),
            &rng.log_lines(len),
        );
    }
}

fn setup(scratch: &Scratch) -> Setup {
    let repo = scratch.init_repo("repo");
    // The data is fixed; the seeds pick what is damaged.
    let mut rng = Rng::new(0x4e9a_1200);
    let (a, b, c) = (scratch.path("a"), scratch.path("b"), scratch.path("c"));
    build_source(&a, &mut rng, 4);
    build_source(&b, &mut rng, 3);
    copy_dir(&a, &c);
    write_file(&c.join("big-01.bin"), &rng.bytes(3 * MIB));
    for i in [2, 9, 17] {
        write_file(
            &c.join(format!("small/s{:02}/f{i:03}.log", i % 6)),
            &rng.log_lines(5000),
        );
    }
    write_file(&c.join("new/added.bin"), &rng.bytes(2 * MIB));
    let backups = [a, b, c]
        .into_iter()
        .map(|source| Backup {
            snapshot: backup(scratch, &repo, &source),
            source,
        })
        .collect();
    check_both("setup", scratch, &repo, false);
    Setup { repo, backups }
}

impl Setup {
    /// A copy of the repository for one case.
    fn copy(&self, scratch: &Scratch, name: &str) -> PathBuf {
        let copy = scratch.path(name);
        copy_dir(&self.repo, &copy);
        copy
    }
}

/// The repair of a damaged index: `check` fails before; `repair index` rebuilds it from the
/// pack headers, deleting every old index file; both checks pass with `--read-data`; every
/// snapshot restores exactly; a second run has nothing to do. Returns the repair's output.
fn assert_index_repair(context: &str, scratch: &Scratch, repo: &Path, setup: &Setup) -> Output {
    fails(context, scratch.cairn(repo).arg("check"));
    let old_index_files = object_names(repo, "index");
    let output = ok(context, scratch.cairn(repo).args(["repair", "index"]));
    let text = stdout(&output);
    assert!(
        text.contains("added pack") && text.contains("wrote 1 index files"),
        "{context}: repair index does not report what it added and wrote:\n{text}"
    );
    let now = object_names(repo, "index");
    assert!(
        now.is_disjoint(&old_index_files),
        "{context}: old index files left: {:?}",
        now.intersection(&old_index_files).collect::<Vec<_>>()
    );
    check_both(context, scratch, repo, true);
    for backup in &setup.backups {
        assert_restores_exactly(context, scratch, repo, &backup.snapshot, &backup.source);
    }
    let again = ok(context, scratch.cairn(repo).args(["repair", "index"]));
    assert!(
        stdout(&again).contains("nothing was changed"),
        "{context}: a second repair changed something:\n{}",
        stdout(&again)
    );
    assert_eq!(object_names(repo, "index"), now, "{context}");
    output
}

#[test]
fn repair_index_rebuilds_a_deleted_index_file_from_the_pack_headers() {
    let seed = seed("deleted index file");
    let scratch = Scratch::new();
    let setup = setup(&scratch);
    let repo = setup.copy(&scratch, "deleted-index");
    let files: Vec<String> = object_names(&repo, "index").into_iter().collect();
    assert_eq!(files.len(), 3, "one index file per backup: {files:?}");
    let victim = &files[Rng::new(seed).below(files.len() as u64) as usize];
    let context = format!("seed {seed:#x}: index {victim} deleted");
    fs::remove_file(repo.join("index").join(victim)).unwrap();
    assert_index_repair(&context, &scratch, &repo, &setup);
}

#[test]
fn repair_index_replaces_a_damaged_index_file() {
    let seed = seed("damaged index file");
    let scratch = Scratch::new();
    let setup = setup(&scratch);
    let repo = setup.copy(&scratch, "damaged-index");
    let files: Vec<String> = object_names(&repo, "index").into_iter().collect();
    let victim = &files[Rng::new(seed).below(files.len() as u64) as usize];
    let context = format!("seed {seed:#x}: index {victim} with a flipped byte");
    flip_middle_byte(&repo.join("index").join(victim));
    let output = assert_index_repair(&context, &scratch, &repo, &setup);
    assert!(
        stderr(&output).contains(&format!("index {victim} cannot be read")),
        "{context}: repair index does not name the damaged index file:\n{}",
        stderr(&output)
    );
}

/// How a data pack is lost.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Loss {
    Deleted,
    /// Its last 100 bytes cut off: the header can no longer be read.
    Truncated,
}

/// One file's content blobs, in order: (plaintext length, whether it is in the lost pack).
type ChunkPlan = Vec<(u64, bool)>;

/// The files of `snapshot` (paths from the snapshot root) whose content uses `pack`, each with
/// its chunk plan.
fn chunk_plans(repo: &Path, snapshot: &str, pack: &Id) -> BTreeMap<String, ChunkPlan> {
    let handle = inspect::open(repo);
    let index = Index::load_strict(&handle).unwrap();
    let snapshot = cairn_repo::snapshots::load_snapshot(&handle, &snapshot.parse().unwrap())
        .expect("load snapshot");
    let mut plans = BTreeMap::new();
    cairn_repo::tree_io::walk_tree(&handle, &index, &snapshot.tree, &mut |path, node| {
        if node.node_type == NodeType::File {
            let plan: ChunkPlan = node
                .content
                .iter()
                .flatten()
                .map(|blob| {
                    let location = index.lookup(BlobType::Data, blob).expect("indexed");
                    (u64::from(location.plaintext_len()), location.pack == *pack)
                })
                .collect();
            if plan.iter().any(|(_, lost)| *lost) {
                plans.insert(String::from_utf8_lossy(path).into_owned(), plan);
            }
        }
        Ok(true)
    })
    .expect("walk snapshot");
    plans
}

/// The plan says the file lost at least one chunk (so the repair empties it).
fn lost_something(original: &[u8], plan: &ChunkPlan) -> bool {
    let covered: u64 = plan.iter().map(|(len, _)| *len).sum();
    assert_eq!(
        covered,
        original.len() as u64,
        "the plan covers the whole file"
    );
    plan.iter().any(|(_, lost)| *lost)
}

/// Loses one data pack (picked by `seed`), repairs index and snapshots, and checks the result
/// against what used the pack.
fn lose_a_pack_and_repair(loss: Loss) {
    let seed = seed(&format!("{loss:?} data pack"));
    let scratch = Scratch::new();
    let setup = setup(&scratch);
    let repo = setup.copy(&scratch, "lost-pack");
    let handle = inspect::open(&repo);
    let mut data_packs: Vec<Id> = object_names(&repo, "index")
        .iter()
        .flat_map(|index| inspect::packs_of_index(&handle, &index.parse().unwrap(), BlobType::Data))
        .collect();
    data_packs.sort();
    assert!(data_packs.len() >= 6, "{data_packs:?}");
    let pack = data_packs[Rng::new(seed).below(data_packs.len() as u64) as usize];
    let context = format!("seed {seed:#x}: data pack {pack} {loss:?}");

    // Before the damage: which files of which snapshot use the pack, and how.
    let plans: Vec<BTreeMap<String, ChunkPlan>> = setup
        .backups
        .iter()
        .map(|b| chunk_plans(&repo, &b.snapshot, &pack))
        .collect();
    for (backup, plan) in setup.backups.iter().zip(&plans) {
        let users = inspect::files_using_pack(&handle, &backup.snapshot.parse().unwrap(), &pack);
        assert_eq!(
            plan.keys().cloned().collect::<BTreeSet<_>>(),
            users,
            "{context}"
        );
    }
    assert!(
        plans.iter().any(|p| !p.is_empty()),
        "{context}: no snapshot uses the pack"
    );
    let partly_lost = plans
        .iter()
        .flat_map(|p| p.values())
        .filter(|plan| plan.iter().any(|(_, lost)| !lost))
        .count();
    eprintln!(
        "{context}: files using it, per snapshot: {:?}; {partly_lost} of them keep some chunks",
        plans.iter().map(|p| p.len()).collect::<Vec<_>>()
    );

    let path = pack_path(&repo, &pack.to_hex());
    match loss {
        Loss::Deleted => fs::remove_file(&path).unwrap(),
        Loss::Truncated => truncate_tail(&path, 100),
    }
    fails(&context, scratch.cairn(&repo).arg("check"));

    // repair index: the pack leaves the index, named.
    let output = ok(&context, scratch.cairn(&repo).args(["repair", "index"]));
    match loss {
        Loss::Deleted => assert!(
            stdout(&output).contains(&format!("removed pack {pack}")),
            "{context}: repair index does not name the missing pack:\n{}",
            stdout(&output)
        ),
        Loss::Truncated => {
            assert!(
                stderr(&output).contains(&format!("pack {pack} is damaged"))
                    && stderr(&output).contains("left out of the index"),
                "{context}: repair index does not name the damaged pack:\n{}",
                stderr(&output)
            );
            assert!(path.exists(), "{context}: the damaged pack was deleted");
        }
    }
    assert!(
        stderr(&output).contains("cairn repair snapshots"),
        "{context}: repair index does not point to `repair snapshots`:\n{}",
        stderr(&output)
    );
    let index = Index::load_strict(&inspect::open(&repo)).unwrap();
    assert!(!index.contains_pack(&pack), "{context}: still indexed");

    // A dry run names exactly the damaged snapshots and files, and changes nothing.
    let snapshots_before = object_names(&repo, "snapshots");
    let index_before = object_names(&repo, "index");
    let output = ok(
        &context,
        scratch
            .cairn(&repo)
            .args(["repair", "snapshots", "--dry-run"]),
    );
    let text = stdout(&output);
    for (backup, plan) in setup.backups.iter().zip(&plans) {
        let named = text.contains(&format!("snapshot {}", &backup.snapshot[..8]));
        assert_eq!(named, !plan.is_empty(), "{context}: dry run:\n{text}");
        for file in plan.keys() {
            assert!(
                text.contains(&format!("file {file:?}: removed missing content")),
                "{context}: dry run does not name {file}:\n{text}"
            );
        }
    }
    assert!(text.contains("would modify"), "{context}:\n{text}");
    assert_eq!(object_names(&repo, "snapshots"), snapshots_before);
    assert_eq!(object_names(&repo, "index"), index_before);

    let output = ok(
        &context,
        scratch
            .cairn(&repo)
            .args(["--json", "repair", "snapshots", "--forget"]),
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let repaired: HashMap<String, &serde_json::Value> = summary["repaired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["snapshot"].as_str().unwrap().to_string(), r))
        .collect();

    check_both(&context, &scratch, &repo, true);
    let listed = snapshots_json(&mut scratch.cairn(&repo));
    let restic_listed = snapshots_json(&mut scratch.restic(&repo));
    assert_eq!(listed.len(), setup.backups.len(), "{context}: {listed:?}");
    for (backup, plan) in setup.backups.iter().zip(&plans) {
        let context = format!("{context}, snapshot {}", &backup.snapshot[..8]);
        if plan.is_empty() {
            assert!(!repaired.contains_key(&backup.snapshot), "{context}");
            assert!(listed.iter().any(|s| s["id"] == backup.snapshot.as_str()));
            assert_restores_exactly(&context, &scratch, &repo, &backup.snapshot, &backup.source);
            continue;
        }
        // Exactly the files that used the pack lost data; each is now an empty file.
        let repair = repaired
            .get(&backup.snapshot)
            .unwrap_or_else(|| panic!("{context}: not repaired: {summary}"));
        let damaged: BTreeSet<String> = repair["damage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["kind"], "file_content_removed", "{context}: {d}");
                d["path"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(
            damaged,
            plan.keys().cloned().collect::<BTreeSet<_>>(),
            "{context}"
        );
        assert_eq!(repair["forgotten"], true, "{context}");
        let new_id = repair["new_snapshot"].as_str().unwrap().to_string();
        assert!(
            !listed.iter().any(|s| s["id"] == backup.snapshot.as_str()),
            "{context}: the damaged snapshot is still listed"
        );
        for list in [&listed, &restic_listed] {
            let new = list
                .iter()
                .find(|s| s["id"] == new_id.as_str())
                .unwrap_or_else(|| panic!("{context}: {new_id} not listed: {list:?}"));
            assert_eq!(new["original"], backup.snapshot.as_str(), "{context}");
            assert!(
                new["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "repaired")),
                "{context}: {new}"
            );
        }

        let relative: Vec<PathBuf> = plan
            .keys()
            .map(|p| {
                Path::new(p)
                    .strip_prefix(&backup.source)
                    .unwrap()
                    .to_path_buf()
            })
            .collect();
        for restic in [false, true] {
            let tool = if restic { "restic" } else { "cairn" };
            let restored = restore(&context, &scratch, &repo, &new_id, &backup.source, restic);
            let differences = differences(&backup.source, &restored, &relative);
            assert!(
                differences.is_empty(),
                "{context}: {tool} restores the repaired snapshot with differences beyond the damaged files:\n{}",
                differences.join("\n")
            );
            for (file, relative) in plan.keys().zip(&relative) {
                let original = fs::read(backup.source.join(relative)).unwrap();
                assert!(lost_something(&original, &plan[file]), "{context}: {file}");
                let got = fs::read(restored.join(relative)).unwrap();
                assert!(
                    got.is_empty(),
                    "{context}: {tool} restores the damaged {file} with {} bytes; it must be empty",
                    got.len()
                );
            }
        }
    }

    // Nothing is left to repair.
    let output = ok(&context, scratch.cairn(&repo).args(["repair", "snapshots"]));
    assert!(
        stdout(&output).contains("no snapshots were modified"),
        "{context}:\n{}",
        stdout(&output)
    );
}

#[test]
fn a_deleted_data_pack_is_dropped_from_the_index_and_the_snapshots_that_used_it_are_repaired() {
    lose_a_pack_and_repair(Loss::Deleted);
}

#[test]
fn a_truncated_data_pack_is_named_left_out_of_the_index_and_its_snapshots_repaired() {
    lose_a_pack_and_repair(Loss::Truncated);
}

/// When a round's SIGKILL strikes.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after the start.
    Delay(Duration),
    /// As soon as the first new index file appears.
    FirstNewIndex,
    /// As soon as the first old index file is gone.
    FirstOldIndexGone,
}

#[test]
fn sigkill_during_repair_index_leaves_a_repository_both_tools_accept() {
    const RANDOM_ROUNDS: usize = 12;
    const EVENT_ROUNDS: usize = 3;
    let seed = seed("sigkill during repair index");
    let mut rng = Rng::new(seed);
    let scratch = Scratch::new();
    let setup = setup(&scratch);
    let repo = setup.repo.clone();
    // Many index files and packs: more work to interrupt.
    let mut backups = setup.backups.clone();
    let mut data = Rng::new(0x4e9a_1201);
    for i in 0..12 {
        let source = scratch.path(&format!("extra-{i:02}"));
        write_file(&source.join("data.bin"), &data.bytes(256 << 10));
        write_file(&source.join("notes.log"), &data.log_lines(4096));
        backups.push(Backup {
            snapshot: backup(&scratch, &repo, &source),
            source,
        });
    }
    let packs = object_names(&repo, "data");
    assert!(object_names(&repo, "index").len() >= 15);

    let spawn = |log: &Path| {
        scratch
            .cairn(&repo)
            .args(["-q", "repair", "index", "--read-all-packs"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log).unwrap())
            .spawn()
            .expect("spawn cairn repair index")
    };
    let started = Instant::now();
    let status = spawn(&scratch.path("measure.log")).wait().unwrap();
    let full_run = started.elapsed();
    assert!(
        status.success(),
        "measuring run: {}",
        fs::read_to_string(scratch.path("measure.log")).unwrap_or_default()
    );

    let (mut killed, mut killed_with_overlap, mut completed) = (0, 0, 0);
    // Random instants, then the moments the phases change, which random instants rarely hit.
    for round in 0..RANDOM_ROUNDS + 2 * EVENT_ROUNDS {
        let kill_at = match round.checked_sub(RANDOM_ROUNDS) {
            None => KillAt::Delay(Duration::from_micros(
                rng.below(full_run.mul_f64(1.1).as_micros() as u64 + 1),
            )),
            Some(event) if event % 2 == 0 => KillAt::FirstNewIndex,
            Some(_) => KillAt::FirstOldIndexGone,
        };
        let context =
            format!("seed {seed:#x}, round {round}: SIGKILL {kill_at:?} (full run {full_run:?})");
        let before = object_names(&repo, "index");
        let log = scratch.path(&format!("round-{round:02}.log"));
        let mut child = spawn(&log);
        match kill_at {
            KillAt::Delay(delay) => std::thread::sleep(delay),
            KillAt::FirstNewIndex => {
                while object_names(&repo, "index").is_subset(&before)
                    && child.try_wait().unwrap().is_none()
                {}
            }
            KillAt::FirstOldIndexGone => {
                while before.is_subset(&object_names(&repo, "index"))
                    && child.try_wait().unwrap().is_none()
                {}
            }
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        let after = object_names(&repo, "index");
        if status.signal() == Some(libc::SIGKILL) {
            killed += 1;
            if !after.is_subset(&before) && !after.is_disjoint(&before) {
                killed_with_overlap += 1;
            }
        } else {
            completed += 1;
            assert!(
                status.success(),
                "{context}: the run finished before the kill but failed ({status}): {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        ok(&context, scratch.cairn(&repo).args(["-q", "unlock"]));
        let locks: Vec<String> = lock_entries(&repo)
            .into_iter()
            .filter(|n| !n.contains("-tmp-"))
            .collect();
        assert!(locks.is_empty(), "{context}: locks left: {locks:?}");
        assert_eq!(
            object_names(&repo, "data"),
            packs,
            "{context}: packs changed"
        );
        check_both(&context, &scratch, &repo, round % 4 == 3);
    }

    // The next run completes and leaves exactly the index files it wrote.
    let context = format!("seed {seed:#x}, after the killed rounds");
    let output = ok(
        &context,
        scratch
            .cairn(&repo)
            .args(["--json", "repair", "index", "--read-all-packs"]),
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let written: BTreeSet<String> = summary["index_files_written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    assert_eq!(object_names(&repo, "index"), written, "{context}");
    assert!(summary["damaged_packs"].as_array().unwrap().is_empty());
    check_both(&context, &scratch, &repo, true);
    for backup in &backups {
        assert_restores_exactly(&context, &scratch, &repo, &backup.snapshot, &backup.source);
    }
    eprintln!(
        "sigkill during repair index: seed {seed:#x}, full run {full_run:?}, {killed} killed \
         ({killed_with_overlap} with old and new index files side by side), {completed} completed"
    );
    assert!(
        killed >= 3,
        "seed {seed:#x}: only {killed} kills hit a running repair (full run {full_run:?})"
    );
    assert!(
        killed_with_overlap >= 1,
        "seed {seed:#x}: no kill struck between writing the new index and deleting the old one"
    );
}

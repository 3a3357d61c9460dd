//! `copy` between repositories written by either tool, and `tag`, with restic 0.14 as the
//! judge: what cairn copies, restic checks and lists; what restic copied, cairn recognises.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;

use crate::support::compare::CompareOptions;
use crate::support::inspect::object_names;
use crate::support::rng::Rng;
use crate::support::{
    compare_trees, fixture, restored, run_fail, run_ok, snapshots_json, stderr, stdout, Scratch,
};

fn write(path: &Path, data: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// Bulk beside the special cases: multi-chunk random data, a compressible log, small files.
fn add_bulk(root: &Path, seed: u64, random_mib: usize) {
    let mut rng = Rng::new(seed);
    write(&root.join("bulk/random.bin"), rng.bytes(random_mib << 20));
    write(&root.join("bulk/app.log"), rng.log_lines(3 << 20));
    for i in 0..150 {
        let size = 1 + rng.below(8 << 10) as usize;
        write(
            &root.join(format!("bulk/small/d{}/f{i:03}", i % 7)),
            rng.bytes(size),
        );
    }
}

/// A change between two snapshots: one new file, one rewritten, one removed.
fn mutate(root: &Path, seed: u64) {
    let mut rng = Rng::new(seed);
    write(&root.join("bulk/new.bin"), rng.bytes(1 << 20));
    write(&root.join("bulk/small/d0/f000"), b"rewritten\n");
    fs::remove_file(root.join("bulk/small/d1/f001")).unwrap();
}

fn restic_init(scratch: &Scratch, name: &str) -> PathBuf {
    let path = scratch.path(name);
    run_ok(
        scratch
            .restic(&path)
            .args(["init", "--repository-version", "2"]),
    );
    path
}

/// `cairn -r DEST copy --from-repo SOURCE --from-password-file (the scratch password)`.
fn cairn_copy(scratch: &Scratch, dest: &Path, source: &Path) -> Command {
    let mut command = scratch.cairn(dest);
    command
        .arg("copy")
        .arg("--from-repo")
        .arg(source)
        .arg("--from-password-file")
        .arg(&scratch.password_file);
    command
}

/// The JSON summary `copy --json` prints.
fn copy_json(command: &mut Command) -> Value {
    let output = run_ok(command.arg("--json"));
    let text = stdout(&output);
    // Status lines come first; the summary is the last line.
    let summary: Value = serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("copy --json printed {text:?}: {e}"));
    assert_eq!(summary["message_type"], "summary", "{summary}");
    summary
}

fn count(summary: &Value, field: &str) -> usize {
    summary[field].as_array().unwrap().len()
}

/// Every object of a repository by directory (config, keys, snapshots, index, data, locks).
fn objects(repo: &Path) -> BTreeMap<&'static str, Vec<String>> {
    ["keys", "snapshots", "index", "data", "locks"]
        .into_iter()
        .map(|dir| (dir, object_names(repo, dir).into_iter().collect()))
        .collect()
}

/// Total bytes of a repository's pack files.
fn data_bytes(repo: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![repo.join("data")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

fn id_of(snapshot: &Value) -> String {
    snapshot["id"].as_str().unwrap().to_string()
}

/// Restores a snapshot with `command` (cairn or restic on the repository) into a new directory.
fn restore(mut command: Command, id: &str, target: &Path) -> PathBuf {
    run_ok(command.args(["restore", id, "--target"]).arg(target));
    target.to_path_buf()
}

fn assert_same_tree(expected: &Path, actual: &Path, ignore: &[PathBuf]) {
    let differences = compare_trees(
        expected,
        actual,
        CompareOptions {
            dir_times: true,
            sparse: false,
        },
        ignore,
    );
    assert!(
        differences.is_empty(),
        "{} differs from {}:\n{}",
        actual.display(),
        expected.display(),
        differences.join("\n")
    );
}

/// A source repository with two snapshots of `root` (a change between them), written by
/// cairn or by restic, and each snapshot restored by cairn as the reference.
struct Source {
    repo: PathBuf,
    root: PathBuf,
    snapshots: Vec<Value>,
    restored: Vec<PathBuf>,
    lossy: Vec<PathBuf>,
}

fn make_source(scratch: &Scratch, by_restic: bool) -> Source {
    let root = scratch.path("data");
    let fixture = fixture::build_special(&root, 11);
    add_bulk(&root, 12, 6);
    let repo = if by_restic {
        restic_init(scratch, "source")
    } else {
        scratch.init_repo("source")
    };
    let tool = |repo: &Path| {
        if by_restic {
            scratch.restic(repo)
        } else {
            scratch.cairn(repo)
        }
    };
    run_ok(
        tool(&repo)
            .args(["backup", "--host", "alpha", "--tag", "first"])
            .arg(&root),
    );
    mutate(&root, 13);
    run_ok(
        tool(&repo)
            .args(["backup", "--host", "alpha", "--tag", "second", "--tag", "b"])
            .arg(&root),
    );
    let snapshots = snapshots_json(&mut scratch.cairn(&repo));
    assert_eq!(snapshots.len(), 2);
    let restored = snapshots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let target = scratch.path(&format!("source-restored-{i}"));
            restore(scratch.cairn(&repo), &id_of(s), &target);
            restored(&target, &root)
        })
        .collect();
    Source {
        repo,
        root,
        snapshots,
        restored,
        lossy: fixture.restic_014_lossy,
    }
}

/// Copies every snapshot of `source` into `dest` with cairn and checks the result: both tools
/// accept the destination, each copy has the source's tree and fields with `original` naming
/// the source snapshot, restores to the same tree, and a second copy writes nothing.
fn copy_and_verify(scratch: &Scratch, source: &Source, dest: &Path, dest_by_restic: bool) {
    let before = snapshots_json(&mut scratch.cairn(dest)).len();
    let summary = copy_json(&mut cairn_copy(scratch, dest, &source.repo));
    assert_eq!(count(&summary, "copied"), 2, "{summary}");
    assert_eq!(count(&summary, "skipped"), 0, "{summary}");
    assert!(summary["data_blobs"].as_u64().unwrap() > 0, "{summary}");
    assert!(object_names(dest, "locks").is_empty());

    run_ok(scratch.cairn(dest).args(["check", "--read-data"]));
    run_ok(scratch.restic(dest).args(["check", "--read-data"]));

    let copies = snapshots_json(&mut scratch.restic(dest));
    assert_eq!(copies.len(), before + 2);
    for (i, original) in source.snapshots.iter().enumerate() {
        let id = id_of(original);
        let copy = copies
            .iter()
            .find(|c| c["original"] == original["id"])
            .unwrap_or_else(|| panic!("no copy of {id} in {copies:?}"));
        assert!(
            summary["copied"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["source"] == original["id"] && c["new"] == copy["id"]),
            "{summary}"
        );
        // Same content, so the same blobs and the same tree ids, whatever the polynomials.
        for field in ["tree", "time", "hostname", "username", "paths", "tags"] {
            assert_eq!(copy[field], original[field], "{field} of the copy of {id}");
        }
        assert!(copy.get("parent").is_none_or(Value::is_null), "{copy}");
        let target = scratch.path(&format!("copy-restored-{}", id_of(copy)));
        restore(scratch.cairn(dest), &id_of(copy), &target);
        assert_same_tree(&source.restored[i], &restored(&target, &source.root), &[]);
    }
    if dest_by_restic {
        // restic restores the latest copy like cairn restores its source (restic 0.14 cannot
        // restore a non-UTF-8 link target exactly).
        let latest = copies
            .iter()
            .find(|c| c["original"] == source.snapshots[1]["id"])
            .unwrap();
        let target = scratch.path("copy-restored-by-restic");
        restore(scratch.restic(dest), &id_of(latest), &target);
        assert_same_tree(
            &source.restored[1],
            &restored(&target, &source.root),
            &source.lossy,
        );
    }

    // Copying again finds both copies and writes nothing at all.
    let files = objects(dest);
    let again = copy_json(&mut cairn_copy(scratch, dest, &source.repo));
    assert_eq!(count(&again, "copied"), 0, "{again}");
    assert_eq!(count(&again, "skipped"), 2, "{again}");
    assert_eq!(again["data_blobs"], 0);
    assert_eq!(objects(dest), files, "a second copy changed the repository");
}

/// A destination restic wrote into: its own snapshot of other data.
fn restic_dest(scratch: &Scratch, name: &str) -> PathBuf {
    let repo = restic_init(scratch, name);
    let other = scratch.path(&format!("{name}-other"));
    write(&other.join("note.txt"), "restic was here\n");
    write(&other.join("blob.bin"), Rng::new(99).bytes(700 << 10));
    run_ok(scratch.restic(&repo).arg("backup").arg(&other));
    repo
}

#[test]
fn copy_from_a_cairn_repository_into_cairn_and_restic_repositories() {
    let scratch = Scratch::new();
    let source = make_source(&scratch, false);
    let cairn_dest = scratch.init_repo("cairn-dest");
    copy_and_verify(&scratch, &source, &cairn_dest, false);
    let restic_dest = restic_dest(&scratch, "restic-dest");
    copy_and_verify(&scratch, &source, &restic_dest, true);
}

#[test]
fn copy_from_a_restic_repository_into_cairn_and_restic_repositories() {
    let scratch = Scratch::new();
    let source = make_source(&scratch, true);
    let cairn_dest = scratch.init_repo("cairn-dest");
    copy_and_verify(&scratch, &source, &cairn_dest, false);
    let restic_dest = restic_dest(&scratch, "restic-dest");
    copy_and_verify(&scratch, &source, &restic_dest, true);
}

#[test]
fn copy_into_a_repository_that_has_most_data_transfers_only_the_missing_blobs() {
    let scratch = Scratch::new();
    let root = scratch.path("data");
    add_bulk(&root, 21, 24);
    let source = scratch.init_repo("source");
    let dest = scratch.init_repo("dest");
    run_ok(scratch.cairn(&source).arg("backup").arg(&root));
    let first = copy_json(&mut cairn_copy(&scratch, &dest, &source));
    assert_eq!(count(&first, "copied"), 1);
    let (source_before, dest_before) = (data_bytes(&source), data_bytes(&dest));

    // The source gains a snapshot that differs by about 1 MiB.
    mutate(&root, 22);
    run_ok(scratch.cairn(&source).arg("backup").arg(&root));
    let source_added = data_bytes(&source) - source_before;
    let second = copy_json(&mut cairn_copy(&scratch, &dest, &source));
    assert_eq!(count(&second, "copied"), 1, "{second}");
    assert_eq!(count(&second, "skipped"), 1, "{second}");
    let dest_added = data_bytes(&dest) - dest_before;
    eprintln!(
        "partial copy: source data {} bytes (+{source_added} for the new snapshot); destination +{dest_added} bytes; summary {second}",
        data_bytes(&source)
    );
    assert_eq!(
        second["stored_bytes"].as_u64().unwrap(),
        dest_added,
        "the summary counts what was written"
    );
    assert!(
        dest_added * 10 < data_bytes(&source),
        "the destination grew by {dest_added} bytes, the source holds {}",
        data_bytes(&source)
    );
    // About what the source itself needed for the change (same compression, new trees).
    assert!(
        dest_added <= source_added + (64 << 10),
        "destination +{dest_added}, source +{source_added}"
    );
    assert!(second["data_blobs"].as_u64().unwrap() <= 4, "{second}");
    run_ok(scratch.restic(&dest).args(["check", "--read-data"]));
    let latest = snapshots_json(&mut scratch.cairn(&dest)).pop().unwrap();
    let (a, b) = (scratch.path("a"), scratch.path("b"));
    restore(scratch.cairn(&dest), &id_of(&latest), &a);
    restore(scratch.cairn(&source), "latest", &b);
    assert_same_tree(&restored(&b, &root), &restored(&a, &root), &[]);
}

#[test]
fn copies_made_by_restic_and_by_cairn_are_recognised_by_the_other() {
    let scratch = Scratch::new();
    let root = scratch.path("data");
    add_bulk(&root, 31, 2);
    let source = scratch.init_repo("source");
    run_ok(
        scratch
            .cairn(&source)
            .args(["backup", "--tag", "t"])
            .arg(&root),
    );
    mutate(&root, 32);
    run_ok(scratch.cairn(&source).arg("backup").arg(&root));

    // restic copies into a cairn repository; cairn's copy then finds both copies.
    let dest = scratch.init_repo("dest");
    run_ok(
        scratch
            .restic(&dest)
            .args(["copy", "--from-repo"])
            .arg(&source)
            .arg("--from-password-file")
            .arg(&scratch.password_file),
    );
    assert_eq!(snapshots_json(&mut scratch.cairn(&dest)).len(), 2);
    let files = objects(&dest);
    let summary = copy_json(&mut cairn_copy(&scratch, &dest, &source));
    assert_eq!(count(&summary, "copied"), 0, "{summary}");
    assert_eq!(count(&summary, "skipped"), 2, "{summary}");
    assert_eq!(objects(&dest), files);

    // cairn copies into a restic repository; restic's copy then finds both copies.
    let restic_dest = restic_init(&scratch, "restic-dest");
    let summary = copy_json(&mut cairn_copy(&scratch, &restic_dest, &source));
    assert_eq!(count(&summary, "copied"), 2, "{summary}");
    let files = objects(&restic_dest);
    run_ok(
        scratch
            .restic(&restic_dest)
            .args(["copy", "--from-repo"])
            .arg(&source)
            .arg("--from-password-file")
            .arg(&scratch.password_file),
    );
    assert_eq!(objects(&restic_dest), files, "restic copied again");

    // A copy of a copy names the first original, so copying on from there is skipped too.
    let third = scratch.init_repo("third");
    copy_json(&mut cairn_copy(&scratch, &third, &restic_dest));
    let again = copy_json(&mut cairn_copy(&scratch, &third, &source));
    assert_eq!(count(&again, "skipped"), 2, "{again}");
}

/// The error output is one `cairn:` line holding every fragment, with exit code 1.
fn assert_one_line(output: &Output, fragments: &[&str]) {
    let text = stderr(output);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{text}");
    assert!(lines[0].starts_with("cairn: "), "{}", lines[0]);
    for fragment in fragments {
        assert!(
            lines[0].contains(fragment),
            "{:?} lacks {fragment:?}",
            lines[0]
        );
    }
    assert_eq!(output.status.code(), Some(1), "{}", lines[0]);
}

#[test]
fn copy_errors_are_one_line_and_change_nothing() {
    let scratch = Scratch::new();
    // The source has its own password, so mixing up the two passwords cannot pass.
    let source_password = scratch.path("source-password");
    fs::write(&source_password, "the source's own password\n").unwrap();
    let source = scratch.path("source");
    let options = cairn_repo::keys::KeyOptions {
        kdf: Some(crate::support::TEST_KDF),
        ..Default::default()
    };
    cairn_repo::Repository::init(
        Arc::new(cairn_storage::LocalStore::new(&source)),
        b"the source's own password",
        &options,
    )
    .unwrap();
    let root = scratch.path("data");
    add_bulk(&root, 41, 1);
    run_ok(
        crate::support::cairn()
            .arg("-r")
            .arg(&source)
            .arg("--password-file")
            .arg(&source_password)
            .arg("backup")
            .arg(&root),
    );
    let dest = scratch.init_repo("dest");
    let unchanged = objects(&dest);
    let copy = || {
        let mut command = scratch.cairn(&dest);
        command.arg("copy").arg("--from-repo").arg(&source);
        command
    };

    // The destination's password is not the source's.
    let output = run_fail(
        copy()
            .arg("--from-password-file")
            .arg(&scratch.password_file),
    );
    assert_one_line(
        &output,
        &[
            "wrong password for source repository",
            &source.display().to_string(),
            "--from-password-file",
        ],
    );
    // No password for the source at all (no terminal to ask on).
    let output = run_fail(&mut copy());
    assert_one_line(&output, &["source repository", "CAIRN_FROM_PASSWORD"]);
    // A source that is not a repository.
    let output = run_fail(
        scratch
            .cairn(&dest)
            .arg("copy")
            .arg("--from-repo")
            .arg(&root)
            .arg("--from-password-file")
            .arg(&source_password),
    );
    assert_one_line(&output, &["not a repository", &root.display().to_string()]);
    // An unknown snapshot among known ones: nothing is copied.
    let output = run_fail(
        copy()
            .arg("--from-password-file")
            .arg(&source_password)
            .args(["latest", "deadbeef"]),
    );
    assert_one_line(&output, &["deadbeef"]);
    assert_eq!(objects(&dest), unchanged);
    assert!(object_names(&source, "locks").is_empty());

    // The password from the environment works, and a named snapshot is copied.
    let summary = copy_json(
        copy()
            .env("CAIRN_FROM_PASSWORD", "the source's own password")
            .arg("latest"),
    );
    assert_eq!(count(&summary, "copied"), 1, "{summary}");
}

/// Tags of every snapshot by id, as restic lists them.
fn restic_tags(scratch: &Scratch, repo: &Path) -> BTreeMap<String, Vec<String>> {
    snapshots_json(&mut scratch.restic(repo))
        .iter()
        .map(|s| {
            let mut tags: Vec<String> = s["tags"]
                .as_array()
                .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            tags.sort();
            (id_of(s), tags)
        })
        .collect()
}

fn tags(list: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

#[test]
fn tag_adds_removes_and_sets_tags_by_writing_new_snapshots() {
    let scratch = Scratch::new();
    let root = scratch.path("data");
    add_bulk(&root, 51, 1);
    let repo = scratch.init_repo("repo");
    run_ok(
        scratch
            .cairn(&repo)
            .args(["backup", "--tag", "keep"])
            .arg(&root),
    );
    run_ok(
        scratch
            .cairn(&repo)
            .args(["backup", "--tag", "other"])
            .arg(&root),
    );
    let list = snapshots_json(&mut scratch.cairn(&repo));
    let (first, second) = (id_of(&list[0]), id_of(&list[1]));
    let tag = |args: &[&str]| {
        let output = run_ok(scratch.cairn(&repo).arg("tag").arg("--json").args(args));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };

    // --add on one snapshot: a new snapshot with the tags, `original` set, the old file gone.
    let summary = tag(&["--add", "a,b", &first[..8]]);
    let new_first = summary["changed"][0]["new"].as_str().unwrap().to_string();
    assert_ne!(new_first, first);
    let by_restic = restic_tags(&scratch, &repo);
    assert_eq!(
        by_restic,
        BTreeMap::from([
            (new_first.clone(), tags(&["keep", "a", "b"])),
            (second.clone(), tags(&["other"])),
        ])
    );
    assert!(!object_names(&repo, "snapshots").contains(&first));
    let snapshots = snapshots_json(&mut scratch.cairn(&repo));
    let copy = snapshots.iter().find(|s| id_of(s) == new_first).unwrap();
    assert_eq!(copy["original"], first.as_str());
    assert_eq!(copy["tree"], list[0]["tree"]);
    assert_eq!(copy["time"], list[0]["time"]);

    // --remove over all snapshots: only the one holding the tag changes, and it keeps the
    // first `original`.
    let summary = tag(&["--remove", "a"]);
    assert_eq!(summary["changed"].as_array().unwrap().len(), 1, "{summary}");
    assert_eq!(summary["unchanged"], serde_json::json!([second]));
    let newer_first = summary["changed"][0]["new"].as_str().unwrap().to_string();
    let snapshots = snapshots_json(&mut scratch.restic(&repo));
    let copy = snapshots.iter().find(|s| id_of(s) == newer_first).unwrap();
    assert_eq!(copy["original"], first.as_str());
    assert_eq!(
        restic_tags(&scratch, &repo),
        BTreeMap::from([
            (newer_first.clone(), tags(&["keep", "b"])),
            (second.clone(), tags(&["other"])),
        ])
    );

    // --set with a filter replaces all tags of the matching snapshots only.
    let summary = tag(&["--set", "x", "--set", "y", "--tag", "other"]);
    let new_second = summary["changed"][0]["new"].as_str().unwrap().to_string();
    assert_eq!(
        restic_tags(&scratch, &repo),
        BTreeMap::from([
            (newer_first.clone(), tags(&["keep", "b"])),
            (new_second.clone(), tags(&["x", "y"])),
        ])
    );
    assert_eq!(object_names(&repo, "snapshots").len(), 2);

    // A run that changes nothing writes nothing.
    let files = objects(&repo);
    let summary = tag(&["--add", "x,y", &new_second]);
    assert_eq!(summary["changed"], serde_json::json!([]));
    let summary = tag(&["--set", "y,x", &new_second]);
    assert_eq!(summary["changed"], serde_json::json!([]));
    assert_eq!(objects(&repo), files);

    // --set with --add or --remove is refused before anything happens.
    for args in [
        &["--set", "a", "--add", "b"][..],
        &["--set", "a", "--remove", "x"],
    ] {
        let output = run_fail(scratch.cairn(&repo).arg("tag").args(args));
        assert_one_line(&output, &["--set", "--add", "--remove"]);
    }
    // An unknown snapshot among known ones: nothing changes.
    let output =
        run_fail(
            scratch
                .cairn(&repo)
                .args(["tag", "--add", "z", &new_second, "0123abcd"]),
        );
    assert_one_line(&output, &["0123abcd"]);
    assert_eq!(objects(&repo), files);

    // `--set ""` removes every tag; both tools accept the result.
    tag(&["--set", "", &newer_first]);
    assert!(restic_tags(&scratch, &repo).values().any(Vec::is_empty));
    run_ok(scratch.restic(&repo).arg("check"));
    run_ok(scratch.cairn(&repo).arg("check"));
}

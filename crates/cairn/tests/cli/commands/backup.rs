//! `cairn backup`: excludes, tags, host, time, dry run, parent detection, unreadable files,
//! standard input, a command's output, and JSON progress.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{
    backup, chmod, count_in, files_under, json_lines, run_counting_reads, run_with_stdin,
    set_mtime, snapshot_id, snapshot_ids, summary_of, wrap, write, MIB,
};
use crate::support::rng::Rng;
use crate::support::{run_fail, run_ok, snapshots_json, stderr, stdout, Scratch};

/// The paths below `root` in an `ls` listing, relative to `root` ("" is `root` itself).
fn listed_below(command: &mut Command, root: &Path) -> BTreeSet<String> {
    let output = run_ok(command);
    let prefix = root.display().to_string();
    stdout(&output)
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|rest| rest.trim_start_matches('/').to_string())
        .collect()
}

#[test]
fn excludes_leave_out_what_restic_leaves_out() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    for file in [
        "keep/a.txt",
        "keep/sub/b.log",
        "keep/HEAD",
        "keep/# a comment",
        "keep/c.tmp",
        "top.tmp",
        "skipme/x",
        "skipme/sub/y",
        "proj/.git/HEAD",
        "proj/.git/objects/o1",
        "proj/objects/o0",
        "proj/deep/er/objects/o2",
        "proj/src/main.rs",
        "proj/src/objects.rs",
        "Photos/A.JPG",
        "Photos/b.jpg",
        "Photos/c.png",
        "web/app.js",
        "web/node_modules/x.js",
        "tagged/data",
        "tagged/inner/deep",
        "cache/blob",
        "fakecache/blob",
    ] {
        write(&src.join(file), file);
    }
    write(&src.join("tagged/.nobackup"), "");
    write(
        &src.join("cache/CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n",
    );
    // The right name with the wrong signature does not mark a cache.
    write(&src.join("fakecache/CACHEDIR.TAG"), "Signature: nope\n");
    let exclude_file = scratch.path("excludes");
    write(
        &exclude_file,
        "# a comment\n\n   $CAIRN_TEST_SRC/skipme   \n*.tmp\n",
    );
    let absolute_glob = format!("{}/proj/**/objects", src.display());
    let args: Vec<&str> = vec![
        "--exclude",
        &absolute_glob,
        "--exclude",
        ".git/HEAD",
        "--exclude",
        "node_modules",
        "--iexclude",
        "*.Jpg",
        "--exclude-file",
        exclude_file.to_str().unwrap(),
        "--exclude-if-present",
        ".nobackup",
        "--exclude-caches",
    ];
    run_ok(
        scratch
            .cairn(&repo)
            .env("CAIRN_TEST_SRC", &src)
            .args(["backup", "--tag", "by-cairn"])
            .args(&args)
            .arg(&src),
    );
    run_ok(
        scratch
            .restic(&repo)
            .env("CAIRN_TEST_SRC", &src)
            .args(["backup", "--tag", "by-restic"])
            .args(&args)
            .arg(&src),
    );
    let expected: BTreeSet<String> = [
        "",
        "Photos",
        "Photos/c.png",
        "cache",
        "cache/CACHEDIR.TAG",
        "fakecache",
        "fakecache/CACHEDIR.TAG",
        "fakecache/blob",
        "keep",
        "keep/# a comment",
        "keep/HEAD",
        "keep/a.txt",
        "keep/sub",
        "keep/sub/b.log",
        "proj",
        "proj/.git",
        "proj/deep",
        "proj/deep/er",
        "proj/src",
        "proj/src/main.rs",
        "proj/src/objects.rs",
        "tagged",
        "tagged/.nobackup",
        "web",
        "web/app.js",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let by_cairn = listed_below(
        scratch
            .cairn(&repo)
            .args(["-q", "ls", "latest", "--tag", "by-cairn"]),
        &src,
    );
    let by_restic = listed_below(
        scratch
            .restic(&repo)
            .args(["ls", "latest", "--tag", "by-restic"]),
        &src,
    );
    assert_eq!(by_restic, expected, "restic's listing (the reference)");
    assert_eq!(by_cairn, expected, "cairn's listing");
    // A pattern that is not valid stops the backup before it writes anything.
    let before = count_in(&repo, "snapshots");
    run_fail(
        scratch
            .cairn(&repo)
            .args(["backup", "--exclude", "a[", "--tag", "x"])
            .arg(&src),
    );
    assert_eq!(count_in(&repo, "snapshots"), before);
}

#[test]
fn tags_host_and_time_are_recorded_as_given() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("f"), "f");
    let summary = summary_of(&run_ok(
        scratch
            .cairn(&repo)
            .env("TZ", "Asia/Tokyo")
            .args([
                "backup",
                "--json",
                "--tag",
                "a,b",
                "--tag",
                "c",
                "--host",
                "h1",
                "--time",
                "2020-01-02 03:04:05",
            ])
            .arg(&src),
    ));
    let id = snapshot_id(&summary);
    let plain = snapshot_id(&backup(&scratch, &repo, &[&src]));
    // restic reads what cairn wrote.
    let listed = snapshots_json(&mut scratch.restic(&repo));
    let find = |id: &str| {
        listed
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("restic does not list {id}"))
            .clone()
    };
    let tagged = find(&id);
    let tags: BTreeSet<&str> = tagged["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, BTreeSet::from(["a", "b", "c"]));
    assert_eq!(tagged["hostname"], "h1");
    // "YYYY-MM-DD HH:MM:SS" is local time (here Tokyo), recorded with its offset.
    assert_eq!(tagged["time"], "2020-01-02T03:04:05+09:00");
    let default = find(&plain);
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(default["hostname"], hostname.trim(), "default host");
    assert!(default["tags"].is_null(), "no tags: {default}");
    // A time that does not parse writes nothing and says what it expects.
    let before = count_in(&repo, "snapshots");
    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["backup", "--time", "2020-13-02 03:04:05"])
            .arg(&src),
    );
    assert!(
        stderr(&output).contains("YYYY-MM-DD HH:MM:SS"),
        "{output:?}"
    );
    assert_eq!(count_in(&repo, "snapshots"), before);
}

/// Every file below `dir`, with its content, to tell "nothing changed" exactly.
fn repository_state(repo: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    files_under(repo)
        .into_iter()
        .map(|p| {
            let bytes = fs::read(repo.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn dry_run_writes_nothing_to_the_repository() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("old"), "old");
    backup(&scratch, &repo, &[&src]);
    write(&src.join("new.bin"), Rng::new(3).bytes(MIB));
    let before = repository_state(&repo);

    let summary = backup(&scratch, &repo, &[&"--dry-run", &src]);
    assert_eq!(summary["dry_run"], true);
    assert!(summary["snapshot_id"].is_null(), "{summary}");
    assert_eq!(summary["files_new"], 1, "it still tells what it would do");
    assert!(summary["data_blobs"].as_u64().unwrap() >= 1, "{summary}");
    let text = run_ok(scratch.cairn(&repo).args(["backup", "-n"]).arg(&src));
    assert!(stdout(&text).contains("dry run"), "{}", stdout(&text));
    let output = run_with_stdin(
        scratch
            .cairn(&repo)
            .args(["backup", "--dry-run", "--stdin", "--json"]),
        b"streamed",
    );
    assert!(output.status.success(), "{output:?}");
    assert!(summary_of(&output)["snapshot_id"].is_null());
    run_ok(scratch.cairn(&repo).args([
        "backup",
        "--dry-run",
        "--stdin-from-command",
        "--",
        "printf",
        "from a command",
    ]));

    assert!(
        repository_state(&repo) == before,
        "a dry run changed the repository: {:?} vs {:?}",
        files_under(&repo),
        before.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert_eq!(snapshot_ids(&scratch, &repo).len(), 1);
}

#[test]
fn a_second_backup_takes_unchanged_files_from_its_parent_without_reading_them() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    let big = Rng::new(11).bytes(8 * MIB);
    write(&src.join("big.bin"), &big);
    write(&src.join("a.txt"), "a");
    write(&src.join("b/c.txt"), "c");
    write(&src.join("b/d.txt"), "d");

    let first = backup(&scratch, &repo, &[&src]);
    assert_eq!(first["files_new"], 4, "{first}");
    assert!(first["parent"].is_null(), "{first}");
    let s1 = snapshot_id(&first);

    let mut second = scratch.cairn(&repo);
    second.args(["backup", "--json"]).arg(&src);
    let (output, read) = run_counting_reads(&second);
    assert!(output.status.success(), "{output:?}");
    let second = summary_of(&output);
    assert_eq!(
        (
            &second["files_new"],
            &second["files_changed"],
            &second["files_unmodified"]
        ),
        (&Value::from(0), &Value::from(0), &Value::from(4)),
        "{second}"
    );
    assert_eq!(second["parent"], s1.as_str());
    assert_eq!(second["data_blobs"], 0, "{second}");
    assert!(
        read < (2 * MIB) as u64,
        "the unchanged backup read {read} bytes; the 8 MiB file must not be read"
    );
    let s2 = snapshot_id(&second);
    let listed = snapshots_json(&mut scratch.cairn(&repo));
    let s2_json = listed.iter().find(|s| s["id"] == s2.as_str()).unwrap();
    assert_eq!(
        s2_json["parent"],
        s1.as_str(),
        "the snapshot names its parent"
    );
    // The content taken over from the parent is the file's content.
    let dumped = run_ok(
        scratch
            .cairn(&repo)
            .args(["dump", &s2])
            .arg(src.join("big.bin")),
    );
    assert!(dumped.stdout == big, "dump of the reused file differs");

    // A touched file (new mtime, same content) is read again and counts as changed.
    set_mtime(&src.join("a.txt"), 1_500_000_000);
    let third = backup(&scratch, &repo, &[&src]);
    assert_eq!(third["files_changed"], 1, "{third}");
    assert_eq!(third["files_unmodified"], 3, "{third}");
    assert_eq!(third["parent"], s2.as_str());

    // --parent picks the comparison: against s2, both a.txt and the now edited c.txt changed.
    write(&src.join("b/c.txt"), "c, edited");
    let fourth = backup(&scratch, &repo, &[&"--parent", &s2, &src]);
    assert_eq!(fourth["parent"], s2.as_str(), "{fourth}");
    assert_eq!(fourth["files_changed"], 2, "{fourth}");
    assert_eq!(fourth["files_unmodified"], 2, "{fourth}");

    // --force reads everything again and records no parent.
    let mut forced = scratch.cairn(&repo);
    forced.args(["backup", "--json", "--force"]).arg(&src);
    let (output, read) = run_counting_reads(&forced);
    assert!(output.status.success(), "{output:?}");
    let forced = summary_of(&output);
    assert_eq!(forced["files_unmodified"], 0, "{forced}");
    assert_eq!(forced["files_new"], 4, "{forced}");
    assert!(forced["parent"].is_null(), "{forced}");
    assert!(
        read > (8 * MIB) as u64,
        "--force read only {read} bytes; it must read the 8 MiB file"
    );
}

/// restic accepts any unique prefix for `--parent` (it resolves it like every snapshot id).
#[test]
fn parent_accepts_a_short_snapshot_id_as_restic_does() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("f"), "f");
    let first = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let output = scratch
        .cairn(&repo)
        .args(["backup", "--json", "--parent", &first[..8]])
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "--parent {} was refused: {}",
        &first[..8],
        stderr(&output)
    );
    assert_eq!(summary_of(&output)["parent"], first.as_str());
}

/// A repository that the user nobody (65534) can use: the tests run as root, who reads
/// anything, so unreadable files need cairn run as someone else.
fn repository_for_nobody(scratch: &Scratch) -> std::path::PathBuf {
    chmod(scratch.dir.path(), 0o755);
    chmod(&scratch.password_file, 0o644);
    let repo = scratch.init_repo("repo");
    let status = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&repo)
        .status()
        .unwrap();
    assert!(status.success(), "chown the repository to nobody");
    repo
}

/// `command` run as the user nobody.
fn as_nobody(command: &Command) -> Command {
    wrap(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        command,
    )
}

#[test]
fn an_unreadable_file_is_reported_left_out_and_exits_3() {
    let scratch = Scratch::new();
    let repo = repository_for_nobody(&scratch);
    let src = scratch.path("src");
    write(&src.join("open.txt"), "anyone may read this");
    write(&src.join("sub/also.txt"), "and this");
    write(&src.join("locked.txt"), "root only");
    chmod(&src.join("locked.txt"), 0o000);

    let mut json = scratch.cairn(&repo);
    json.args(["backup", "--json"]).arg(&src);
    let output = as_nobody(&json).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let locked = src.join("locked.txt").display().to_string();
    let lines = json_lines(&output);
    assert!(
        lines
            .iter()
            .any(|l| l["message_type"] == "error" && l["item"] == locked.as_str()),
        "no error line for {locked}: {}",
        stdout(&output)
    );
    let summary = summary_of(&output);
    let errors = summary["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{summary}");
    assert_eq!(errors[0]["path"], locked.as_str());
    let id = snapshot_id(&summary);
    let listing = stdout(&run_ok(scratch.cairn(&repo).args(["-q", "ls", &id])));
    let has = |p: &Path| listing.lines().any(|l| l == p.display().to_string());
    assert!(has(&src.join("open.txt")) && has(&src.join("sub/also.txt")));
    assert!(!has(&src.join("locked.txt")), "{listing}");

    // The same in text mode: the error names the file, the exit code is still 3.
    let mut text = scratch.cairn(&repo);
    text.arg("backup").arg(&src);
    let output = as_nobody(&text).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(stderr(&output).contains(&locked), "{}", stderr(&output));
    assert_eq!(snapshot_ids(&scratch, &repo).len(), 2);
}

/// restic leaves a directory it cannot list out of the snapshot (and reports it); recording
/// it as an empty directory would restore an empty directory as if that were the truth.
#[test]
fn an_unreadable_directory_is_left_out_as_restic_leaves_it_out() {
    let scratch = Scratch::new();
    let repo = repository_for_nobody(&scratch);
    let src = scratch.path("src");
    write(&src.join("open/a.txt"), "a");
    write(&src.join("closed/b.txt"), "b");
    chmod(&src.join("closed"), 0o000);

    let mut ours = scratch.cairn(&repo);
    ours.args(["backup", "--json", "--tag", "by-cairn"])
        .arg(&src);
    let output = as_nobody(&ours).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let mut theirs = scratch.restic(&repo);
    theirs.args(["backup", "--tag", "by-restic"]).arg(&src);
    let output = as_nobody(&theirs).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "restic: {output:?}");

    let listing = |command: &mut Command| -> Vec<String> {
        stdout(&run_ok(command))
            .lines()
            .map(str::to_string)
            .collect()
    };
    let reference = listing(
        scratch
            .restic(&repo)
            .args(["ls", "latest", "--tag", "by-restic"]),
    );
    let closed = src.join("closed").display().to_string();
    assert!(!reference.contains(&closed), "{reference:?}");
    let ours = listing(
        scratch
            .cairn(&repo)
            .args(["-q", "ls", "latest", "--tag", "by-cairn"]),
    );
    assert_eq!(
        ours, reference,
        "cairn recorded {closed} as an empty directory"
    );
}

#[test]
fn stdin_becomes_one_file_that_restores_byte_exact() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let data = Rng::new(5).bytes(2 * MIB + 12_345);
    let output = run_with_stdin(
        scratch
            .cairn(&repo)
            .args(["backup", "--json", "--stdin", "--stdin-filename", "db.sql"]),
        &data,
    );
    assert!(output.status.success(), "{output:?}");
    let summary = summary_of(&output);
    assert_eq!(summary["files_new"], 1);
    assert_eq!(summary["total_bytes_processed"], data.len());
    let id = snapshot_id(&summary);
    let listed = snapshots_json(&mut scratch.cairn(&repo));
    assert_eq!(listed[0]["paths"], serde_json::json!(["/db.sql"]));

    let dumped = run_ok(scratch.cairn(&repo).args(["dump", &id, "/db.sql"]));
    assert!(dumped.stdout == data, "cairn dump differs");
    let dumped = run_ok(scratch.restic(&repo).args(["dump", &id, "/db.sql"]));
    assert!(dumped.stdout == data, "restic dump differs");
    let target = scratch.path("target");
    run_ok(
        scratch
            .cairn(&repo)
            .args(["restore", "latest", "--target"])
            .arg(&target),
    );
    assert!(fs::read(target.join("db.sql")).unwrap() == data);
}

#[test]
fn a_command_output_is_backed_up_only_when_the_command_succeeds() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let ok = run_ok(scratch.cairn(&repo).args([
        "backup",
        "--json",
        "--stdin-from-command",
        "--stdin-filename",
        "dump.sql",
        "--",
        "sh",
        "-c",
        "printf data; exit 0",
    ]));
    let id = snapshot_id(&summary_of(&ok));
    let dumped = run_ok(scratch.cairn(&repo).args(["dump", &id, "/dump.sql"]));
    assert_eq!(dumped.stdout, b"data");

    let output = run_fail(scratch.cairn(&repo).args([
        "backup",
        "--stdin-from-command",
        "--stdin-filename",
        "dump.sql",
        "--",
        "sh",
        "-c",
        "printf partial; exit 3",
    ]));
    let message = stderr(&output);
    assert!(
        message.contains("failed") && message.contains("no snapshot"),
        "{message}"
    );
    assert_eq!(snapshot_ids(&scratch, &repo), vec![id], "no new snapshot");
    assert_eq!(count_in(&repo, "locks"), 0);
    // Whatever the failed run stored is unreferenced, not damage.
    run_ok(scratch.cairn(&repo).arg("check"));
}

#[test]
fn json_output_is_json_lines_with_status_while_running_and_a_summary_last() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    // A stream that takes about three seconds, so status lines come while it runs.
    let output = run_ok(scratch.cairn(&repo).args([
        "backup",
        "--json",
        "--stdin-from-command",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do head -c 700000 /dev/urandom; sleep 0.5; done",
    ]));
    let lines = json_lines(&output);
    let status: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message_type"] == "status")
        .collect();
    assert!(status.len() >= 2, "status lines: {status:?}");
    assert!(
        status
            .iter()
            .any(|s| s["seconds_elapsed"].as_u64().unwrap() >= 1
                && s["bytes_done"].as_u64().unwrap() < 4_200_000),
        "no status line during the run: {status:?}"
    );
    assert_eq!(summary_of(&output)["total_bytes_processed"], 4_200_000);

    // A tree backup: every line is JSON, with status lines before the summary.
    let src = scratch.path("src");
    super::small_tree(&src, 1);
    let output = run_ok(scratch.cairn(&repo).args(["backup", "--json"]).arg(&src));
    let lines = json_lines(&output);
    assert!(lines.iter().any(|l| l["message_type"] == "status"));
    let summary = summary_of(&output);
    for field in [
        "files_new",
        "files_changed",
        "files_unmodified",
        "dirs_new",
        "dirs_changed",
        "dirs_unmodified",
        "data_blobs",
        "tree_blobs",
        "data_added",
        "total_files_processed",
        "total_bytes_processed",
        "total_duration",
        "snapshot_id",
    ] {
        assert!(
            summary.get(field).is_some(),
            "summary lacks {field}: {summary}"
        );
    }
    assert_eq!(summary["files_new"], 8, "{summary}");
}

//! Reading a repository: `snapshots`, `ls`, `dump` and `cat`, against restic's output for the
//! same repository.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

use super::{backup, expected_listing, json_lines, small_tree, snapshot_id, walk, write, MIB};
use crate::support::{run_fail, run_ok, snapshots_json, stderr, stdout, Scratch};

fn lines(output: &std::process::Output) -> Vec<String> {
    stdout(output).lines().map(str::to_string).collect()
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed in {list:?}"))
}

fn parse_time(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap()
}

#[test]
fn snapshots_json_has_restic_fields_and_both_tools_list_the_same_snapshots() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("f"), "one");
    let s1 = snapshot_id(&backup(&scratch, &repo, &[&"--tag", &"x,y", &src]));
    write(&src.join("f"), "two");
    let s2 = snapshot_id(&backup(&scratch, &repo, &[&"--tag", &"z", &src]));
    write(&src.join("f"), "three");
    run_ok(
        scratch
            .restic(&repo)
            .args(["backup", "--tag", "r"])
            .arg(&src),
    );
    let by_cairn = snapshots_json(&mut scratch.cairn(&repo));
    let by_restic = snapshots_json(&mut scratch.restic(&repo));
    let ids = |list: &[Value]| -> BTreeSet<String> {
        list.iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&by_cairn), ids(&by_restic));
    assert_eq!(by_cairn.len(), 3);
    for theirs in &by_restic {
        let id = theirs["id"].as_str().unwrap();
        let ours = find(&by_cairn, id);
        for field in [
            "id", "short_id", "tree", "paths", "hostname", "username", "uid", "gid", "tags",
            "parent",
        ] {
            assert_eq!(ours.get(field), theirs.get(field), "{field} of {id}");
        }
        assert_eq!(parse_time(&ours["time"]), parse_time(&theirs["time"]));
        assert_eq!(ours["short_id"], &id[..8]);
    }
    let first = find(&by_cairn, &s1);
    assert_eq!(first["tags"], serde_json::json!(["x", "y"]));
    assert!(first.get("parent").is_none(), "{first}");
    assert_eq!(find(&by_cairn, &s2)["parent"], s1.as_str());
    assert_eq!(
        first["paths"],
        serde_json::json!([src.display().to_string()])
    );
    // Listed oldest first, as restic lists them.
    let order: Vec<&str> = by_cairn.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(&order[..2], &[s1.as_str(), s2.as_str()]);
    // The text listing shows each short id once, and the count.
    let text = stdout(&run_ok(scratch.cairn(&repo).arg("snapshots")));
    for id in ids(&by_cairn) {
        assert_eq!(text.matches(&id[..8]).count(), 1, "{text}");
    }
    assert!(text.contains("3 snapshots"), "{text}");
}

#[test]
fn snapshot_filters_select_by_host_tag_and_path_as_restic_does() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let (dir_a, dir_b) = (scratch.path("a"), scratch.path("b"));
    write(&dir_a.join("f"), "a");
    write(&dir_b.join("f"), "b");
    let a = snapshot_id(&backup(
        &scratch,
        &repo,
        &[&"--host", &"h1", &"--tag", &"t1,t2", &dir_a],
    ));
    let b = snapshot_id(&backup(
        &scratch,
        &repo,
        &[&"--host", &"h2", &"--tag", &"t1", &dir_a],
    ));
    let c = snapshot_id(&backup(
        &scratch,
        &repo,
        &[&"--host", &"h1", &"--tag", &"t3", &dir_b],
    ));
    let path_a = dir_a.display().to_string();
    let path_b = dir_b.display().to_string();
    let cases: Vec<(Vec<&str>, Vec<&String>)> = vec![
        (vec!["--host", "h1"], vec![&a, &c]),
        (vec!["--host", "h1", "--host", "h2"], vec![&a, &b, &c]),
        (vec!["--host", "nope"], vec![]),
        (vec!["--tag", "t1"], vec![&a, &b]),
        (vec!["--tag", "t1,t2"], vec![&a]),
        (vec!["--tag", "t2", "--tag", "t3"], vec![&a, &c]),
        (vec!["--path", &path_a], vec![&a, &b]),
        (vec!["--path", &path_b, "--host", "h1"], vec![&c]),
        (vec!["--tag", "t1", "--host", "h2"], vec![&b]),
    ];
    for (filter, expected) in cases {
        let expected: BTreeSet<String> = expected.into_iter().cloned().collect();
        let listed = |command: &mut Command| -> BTreeSet<String> {
            let output = run_ok(command.args(["snapshots", "--json"]).args(&filter));
            serde_json::from_slice::<Vec<Value>>(&output.stdout)
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            listed(&mut scratch.restic(&repo)),
            expected,
            "restic {filter:?}"
        );
        assert_eq!(
            listed(&mut scratch.cairn(&repo)),
            expected,
            "cairn {filter:?}"
        );
    }
}

/// Go prints times with the fraction's trailing zeros removed (RFC 3339 "nano"); a restic
/// user comparing or parsing `--json` output must see the same text from both tools.
#[test]
fn snapshot_times_in_json_are_printed_as_restic_prints_them() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("f"), "f");
    let real = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let tree = find(&snapshots_json(&mut scratch.cairn(&repo)), &real)["tree"]
        .as_str()
        .unwrap()
        .to_string();
    // A snapshot whose time has a fraction with trailing zeros, stored as restic would.
    let storage = Arc::new(cairn_storage::LocalStore::new(&repo));
    let opened = cairn_repo::Repository::open(storage, b"correct horse battery staple").unwrap();
    let json = format!(
        r#"{{"time":"2021-05-06T07:08:09.12Z","tree":"{tree}","paths":["{}"],"hostname":"crafted","username":"u"}}"#,
        src.display()
    );
    let id = opened
        .save_unpacked(cairn_storage::FileKind::Snapshot, json.as_bytes())
        .unwrap()
        .to_hex();
    let theirs = find(&snapshots_json(&mut scratch.restic(&repo)), &id)["time"].clone();
    assert_eq!(theirs, "2021-05-06T07:08:09.12Z");
    let ours = find(&snapshots_json(&mut scratch.cairn(&repo)), &id)["time"].clone();
    assert_eq!(ours, theirs, "snapshots --json");
    let ls = json_lines(&run_ok(scratch.cairn(&repo).args(["ls", "--json", &id])));
    assert_eq!(ls[0]["time"], theirs, "ls --json");
}

/// restic shows snapshot times in the local time zone of whoever lists them; a repository
/// written from hosts in several zones otherwise shows times that do not compare.
#[test]
fn snapshot_times_in_text_show_in_the_local_time_zone_as_restic_shows_them() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("f"), "f");
    run_ok(
        scratch
            .cairn(&repo)
            .env("TZ", "Asia/Tokyo")
            .args(["backup", "--time", "2020-01-02 03:04:05"])
            .arg(&src),
    );
    let theirs = stdout(&run_ok(
        scratch.restic(&repo).env("TZ", "UTC").arg("snapshots"),
    ));
    assert!(theirs.contains("2020-01-01 18:04:05"), "{theirs}");
    let ours = stdout(&run_ok(
        scratch.cairn(&repo).env("TZ", "UTC").arg("snapshots"),
    ));
    assert!(
        ours.contains("2020-01-01 18:04:05"),
        "a snapshot taken at 03:04:05 in Tokyo is 18:04:05 the day before in UTC:\n{ours}"
    );
}

#[test]
fn ls_lists_every_path_or_the_entries_of_one_directory() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    small_tree(&src, 21);
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let docs = src.join("docs");
    let docs_text = docs.display().to_string();

    let all = lines(&run_ok(scratch.cairn(&repo).args(["-q", "ls", &id])));
    assert_eq!(all, expected_listing(&src));
    assert_eq!(all, lines(&run_ok(scratch.restic(&repo).args(["ls", &id]))));

    let in_docs = lines(&run_ok(
        scratch.cairn(&repo).args(["-q", "ls", &id, &docs_text]),
    ));
    let expected: Vec<String> = ["", "/notes.md", "/readme.txt", "/sub"]
        .iter()
        .map(|rest| format!("{docs_text}{rest}"))
        .collect();
    assert_eq!(in_docs, expected);
    assert_eq!(
        in_docs,
        lines(&run_ok(scratch.restic(&repo).args(["ls", &id, &docs_text])))
    );
    let recursive = lines(&run_ok(scratch.cairn(&repo).args([
        "-q",
        "ls",
        "--recursive",
        &id,
        &docs_text,
    ])));
    assert_eq!(recursive.len(), 5, "{recursive:?}");
    assert!(recursive.contains(&format!("{docs_text}/sub/deep.txt")));
    assert_eq!(
        recursive,
        lines(&run_ok(scratch.restic(&repo).args([
            "ls",
            "--recursive",
            &id,
            &docs_text
        ])))
    );
    // The header names the snapshot unless --quiet.
    let header = lines(&run_ok(scratch.cairn(&repo).args(["ls", &id])));
    assert!(header[0].contains(&id[..8]), "{}", header[0]);
    assert_eq!(header.len(), all.len() + 1);

    // --json: the snapshot, then one node per line, the same nodes restic prints.
    let ours = json_lines(&run_ok(scratch.cairn(&repo).args(["ls", "--json", &id])));
    let theirs = json_lines(&run_ok(scratch.restic(&repo).args(["ls", "--json", &id])));
    assert_eq!(ours[0]["struct_type"], "snapshot");
    assert_eq!(ours[0]["id"], id.as_str());
    assert_eq!(ours[0]["tree"], theirs[0]["tree"]);
    assert_eq!(ours.len(), theirs.len());
    for (mine, reference) in ours[1..].iter().zip(&theirs[1..]) {
        assert_eq!(mine, reference);
        assert_eq!(mine["struct_type"], "node");
    }
    let paths: Vec<&str> = ours[1..]
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, expected_listing(&src));
    let big = ours
        .iter()
        .find(|n| n["name"] == "big.bin")
        .expect("big.bin node");
    assert_eq!(big["size"], 3 * MIB);
    assert_eq!(big["type"], "file");

    // -l: permissions, size, time and path as restic prints them.
    let long = lines(&run_ok(scratch.cairn(&repo).args(["-q", "ls", "-l", &id])));
    let reference = lines(&run_ok(scratch.restic(&repo).args(["ls", "-l", &id])));
    assert_eq!(long.len(), reference.len());
    for (mine, theirs) in long.iter().zip(&reference) {
        let mine: Vec<&str> = mine.split_whitespace().collect();
        let theirs: Vec<&str> = theirs.split_whitespace().collect();
        // Columns: permissions, owner, group, size, date, time, path (restic then adds
        // "-> target" for a symlink).
        for column in [0, 3, 4, 5, 6] {
            assert_eq!(
                mine[column], theirs[column],
                "column {column}: {mine:?} vs {theirs:?}"
            );
        }
    }
    let script = long
        .iter()
        .find(|l| l.ends_with("/script.sh"))
        .expect("script.sh line");
    assert!(script.starts_with("-rwxr-xr-x"), "{script}");
    assert!(
        long.iter()
            .any(|l| l.starts_with("drwx") && l.ends_with("/docs")),
        "{long:?}"
    );
}

#[test]
fn latest_means_the_newest_snapshot_of_the_given_host() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("f"), "from h1");
    let h1 = snapshot_id(&backup(&scratch, &repo, &[&"--host", &"h1", &src]));
    write(&src.join("f"), "from h2, later");
    let h2 = snapshot_id(&backup(&scratch, &repo, &[&"--host", &"h2", &src]));

    let header = stdout(&run_ok(
        scratch.cairn(&repo).args(["ls", "latest", "--host", "h1"]),
    ));
    assert!(
        header.lines().next().unwrap().contains(&h1[..8]),
        "{header}"
    );
    let json = json_lines(&run_ok(
        scratch
            .cairn(&repo)
            .args(["ls", "--json", "latest", "--host", "h1"]),
    ));
    assert_eq!(json[0]["id"], h1.as_str());
    let json = json_lines(&run_ok(
        scratch.cairn(&repo).args(["ls", "--json", "latest"]),
    ));
    assert_eq!(json[0]["id"], h2.as_str());
    let file = src.join("f").display().to_string();
    let dumped = run_ok(
        scratch
            .cairn(&repo)
            .args(["dump", "latest", &file, "--host", "h1"]),
    );
    assert_eq!(dumped.stdout, b"from h1");
    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["ls", "latest", "--host", "nobody-here"]),
    );
    assert!(stderr(&output).contains("no snapshot"), "{output:?}");
}

/// Extracts a tar stream into a new directory and returns it.
fn untar(bytes: &[u8], scratch: &Scratch, name: &str) -> PathBuf {
    let archive = scratch.path(&format!("{name}.tar"));
    fs::write(&archive, bytes).unwrap();
    let out = scratch.path(name);
    fs::create_dir_all(&out).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&out),
    );
    out
}

/// Differences in type, content, permission bits, file mtime and link target between `source`
/// and `copy`, for every entry below `source`.
fn tar_differences(source: &Path, copy: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for path in walk(source) {
        let relative = path.strip_prefix(source).unwrap();
        let other = copy.join(relative);
        let (Ok(a), Ok(b)) = (fs::symlink_metadata(&path), fs::symlink_metadata(&other)) else {
            out.push(format!("{}: missing", relative.display()));
            continue;
        };
        if a.file_type() != b.file_type() {
            out.push(format!("{}: type differs", relative.display()));
            continue;
        }
        if a.file_type().is_symlink() {
            if fs::read_link(&path).unwrap() != fs::read_link(&other).unwrap() {
                out.push(format!("{}: link target differs", relative.display()));
            }
            continue;
        }
        if a.permissions().mode() & 0o7777 != b.permissions().mode() & 0o7777 {
            out.push(format!("{}: mode differs", relative.display()));
        }
        if a.is_file() {
            if fs::read(&path).unwrap() != fs::read(&other).unwrap() {
                out.push(format!("{}: content differs", relative.display()));
            }
            if a.mtime() != b.mtime() {
                out.push(format!("{}: mtime differs", relative.display()));
            }
        }
    }
    out
}

#[test]
fn dump_writes_a_file_exactly_and_a_directory_as_a_tar_stream() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    small_tree(&src, 31);
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let big = src.join("data/big.bin");
    let dumped = run_ok(scratch.cairn(&repo).args(["dump", &id]).arg(&big));
    assert!(dumped.stdout == fs::read(&big).unwrap(), "dump of a file");

    let tar = run_ok(scratch.cairn(&repo).args(["dump", &id]).arg(&src));
    let out = untar(&tar.stdout, &scratch, "out");
    // cairn names the entries after the directory; restic 0.14 after its full path (see
    // `dump_tar_entries_are_named_as_restic_names_them`). Accept either here.
    let full = out.join(src.strip_prefix("/").unwrap());
    let extracted = if full.exists() {
        full
    } else {
        out.join(src.file_name().unwrap())
    };
    let differences = tar_differences(&src, &extracted);
    assert!(differences.is_empty(), "{differences:#?}");
    assert_eq!(walk(&src).len(), walk(&extracted).len(), "extra entries");

    // The whole snapshot as a tar stream.
    let all = run_ok(scratch.cairn(&repo).args(["dump", &id, "/"]));
    let root = untar(&all.stdout, &scratch, "root");
    let differences = tar_differences(&src, &root.join(src.strip_prefix("/").unwrap()));
    assert!(differences.is_empty(), "{differences:#?}");

    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["dump", &id])
            .arg(src.join("no-such-file")),
    );
    assert!(
        stderr(&output).contains("not in the snapshot"),
        "{output:?}"
    );
}

#[test]
fn dump_tar_keeps_file_names_that_are_not_utf8() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    let name = OsStr::from_bytes(b"caf\xe9.txt");
    write(&src.join(name), "latin-1 name");
    write(&src.join("plain.txt"), "plain");
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let reference = run_ok(scratch.restic(&repo).args(["dump", &id]).arg(&src));
    let from_restic = untar(&reference.stdout, &scratch, "restic");
    assert!(
        from_restic
            .join(src.strip_prefix("/").unwrap())
            .join(name)
            .exists(),
        "restic keeps the name's bytes"
    );
    let tar = run_ok(scratch.cairn(&repo).args(["dump", &id]).arg(&src));
    let out = untar(&tar.stdout, &scratch, "cairn");
    let names: Vec<PathBuf> = walk(&out);
    assert!(
        names.iter().any(|p| p.file_name() == Some(name)),
        "no entry named caf\\xe9.txt in cairn's tar: {names:?}"
    );
}

/// File names are bytes; restic takes and prints them as such. A name that is not UTF-8 must
/// be listable by `ls` as it is and dumpable by that name.
#[test]
fn ls_and_dump_take_and_print_names_that_are_not_utf8() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    let file = src.join(OsStr::from_bytes(b"caf\xe9.txt"));
    write(&file, "latin-1 name");
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let mut raw_line = file.as_os_str().as_bytes().to_vec();
    raw_line.push(b'\n');
    let theirs = run_ok(scratch.restic(&repo).args(["ls", &id]));
    assert!(
        theirs.stdout.ends_with(&raw_line),
        "restic prints the raw name"
    );
    let dumped = run_ok(scratch.restic(&repo).args(["dump", &id]).arg(&file));
    assert_eq!(dumped.stdout, b"latin-1 name", "restic dumps it by name");

    let mut problems = Vec::new();
    let ours = run_ok(scratch.cairn(&repo).args(["-q", "ls", &id]));
    if !ours.stdout.ends_with(&raw_line) {
        problems.push(format!(
            "ls printed {:?}",
            stdout(&ours).lines().last().unwrap_or_default()
        ));
    }
    let output = scratch
        .cairn(&repo)
        .args(["dump", &id])
        .arg(&file)
        .output()
        .unwrap();
    if !(output.status.success() && output.stdout == b"latin-1 name") {
        problems.push(format!("dump by the raw name: {}", stderr(&output)));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn dump_tar_entries_are_named_as_restic_names_them() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    write(&src.join("sub/f"), "f");
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let listing = |command: &mut Command| -> BTreeSet<String> {
        let archive = scratch.path("listing.tar");
        fs::write(&archive, run_ok(command).stdout).unwrap();
        lines(&run_ok(Command::new("tar").arg("-tf").arg(&archive)))
            .into_iter()
            .collect()
    };
    let theirs = listing(scratch.restic(&repo).args(["dump", &id]).arg(&src));
    let ours = listing(scratch.cairn(&repo).args(["dump", &id]).arg(&src));
    assert_eq!(
        ours, theirs,
        "`tar -x` of `dump SNAP DIR` must give the same layout"
    );
}

/// Every object key anywhere in a JSON value.
fn keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                out.push(key.clone());
                keys(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

fn parse(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

#[test]
fn cat_prints_repository_objects_as_restic_does_but_never_the_master_key() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    small_tree(&src, 41);
    let id = snapshot_id(&backup(&scratch, &repo, &[&src]));
    let cairn_cat = |args: &[&str]| run_ok(scratch.cairn(&repo).arg("cat").args(args));
    let restic_cat = |args: &[&str]| run_ok(scratch.restic(&repo).arg("cat").args(args));

    let config = parse(&cairn_cat(&["config"]));
    assert_eq!(config["version"], 2);
    let polynomial = config["chunker_polynomial"].as_str().unwrap();
    assert!(u64::from_str_radix(polynomial, 16).is_ok(), "{config}");
    let reference = parse(&restic_cat(&["config"]));
    assert_eq!(config["id"], reference["id"]);
    assert_eq!(
        config["chunker_polynomial"],
        reference["chunker_polynomial"]
    );

    let snapshot = parse(&cairn_cat(&["snapshot", &id[..8]]));
    let reference = parse(&restic_cat(&["snapshot", &id]));
    for field in ["tree", "paths", "hostname", "username"] {
        assert_eq!(snapshot[field], reference[field], "{field}");
    }
    assert_eq!(
        parse_time(&snapshot["time"]),
        parse_time(&reference["time"])
    );

    let indexes: Vec<String> = fs::read_dir(repo.join("index"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!indexes.is_empty());
    for index in &indexes {
        assert_eq!(
            parse(&cairn_cat(&["index", index])),
            parse(&restic_cat(&["index", index])),
            "index {index}"
        );
    }

    let key_ids: Vec<String> = fs::read_dir(repo.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let key = parse(&cairn_cat(&["key", &key_ids[0]]));
    let mut names = Vec::new();
    keys(&key, &mut names);
    for secret in ["encrypt", "mac", "master", "k", "r_key"] {
        assert!(
            !names.iter().any(|n| n == secret),
            "key output has {secret:?}"
        );
    }
    assert_eq!(key["kdf"], "scrypt");
    let reference = parse(&restic_cat(&["key", &key_ids[0]]));
    for field in ["kdf", "N", "r", "p", "salt", "data", "username", "hostname"] {
        assert_eq!(key[field], reference[field], "key field {field}");
    }

    // Blobs: the snapshot's root tree is byte for byte what restic prints; walking down by
    // subtree ids reaches a file whose single data blob is its content.
    let mut tree = snapshot["tree"].as_str().unwrap().to_string();
    let root = cairn_cat(&["blob", &tree]);
    assert_eq!(root.stdout, restic_cat(&["blob", &tree]).stdout);
    let readme = src.join("docs/readme.txt");
    let parts: Vec<String> = readme
        .components()
        .skip(1)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let mut node = Value::Null;
    for part in &parts {
        let nodes = parse(&cairn_cat(&["blob", &tree]));
        node = nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == part.as_str())
            .unwrap_or_else(|| panic!("no {part} in tree {tree}"))
            .clone();
        if let Some(subtree) = node["subtree"].as_str() {
            tree = subtree.to_string();
        }
    }
    let content = node["content"][0].as_str().unwrap();
    assert_eq!(cairn_cat(&["blob", content]).stdout, b"read me\n");

    let pack = super::files_under(&repo.join("data"))
        .into_iter()
        .next()
        .expect("a pack");
    let pack_id = pack.file_name().unwrap().to_str().unwrap().to_string();
    let bytes = fs::read(repo.join("data").join(&pack)).unwrap();
    assert!(cairn_cat(&["pack", &pack_id]).stdout == bytes, "cat pack");

    let refused = run_fail(scratch.cairn(&repo).args(["cat", "masterkey"]));
    assert!(refused.stdout.is_empty(), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("master key"),
        "{}",
        stderr(&refused)
    );
    let unknown = run_fail(scratch.cairn(&repo).args(["cat", "frobs"]));
    assert!(stderr(&unknown).contains("config"), "{}", stderr(&unknown));
}

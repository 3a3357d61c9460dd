//! Looking after a repository: `key`, `unlock` and `check`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{backup, cairn_with_password, count_in, files_under, restic_with_password, write, MIB};
use crate::support::rng::Rng;
use crate::support::{run_fail, run_ok, stderr, stdout, Scratch};

fn key_list(command: &mut std::process::Command) -> Vec<Value> {
    let output = run_ok(command.args(["key", "list", "--json"]));
    serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap()
}

fn current_key(list: &[Value]) -> String {
    let current: Vec<&Value> = list.iter().filter(|k| k["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one current key: {list:?}");
    current[0]["id"].as_str().unwrap().to_string()
}

fn key_files(repo: &Path) -> BTreeSet<String> {
    fs::read_dir(repo.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn keys_are_listed_added_removed_and_changed() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let first = key_files(&repo).into_iter().next().unwrap();
    let text = stdout(&run_ok(scratch.cairn(&repo).args(["key", "list"])));
    let marked: Vec<&str> = text.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(marked[0].contains(&first[..8]), "{text}");

    let second_password = scratch.path("second");
    write(&second_password, "a second password\n");
    let output = run_ok(
        scratch
            .cairn(&repo)
            .args(["key", "add", "--new-password-file"])
            .arg(&second_password),
    );
    assert!(stdout(&output).contains("saved new key"), "{output:?}");
    let keys = key_files(&repo);
    assert_eq!(keys.len(), 2);
    let second = keys.iter().find(|k| **k != first).unwrap().clone();
    let list = key_list(&mut scratch.cairn(&repo));
    assert_eq!(list.len(), 2);
    assert_eq!(
        current_key(&list),
        first,
        "the key that opened the repository"
    );
    // The new password opens the repository, in cairn and in restic.
    let with_second = || cairn_with_password(&repo, &second_password);
    assert_eq!(current_key(&key_list(&mut with_second())), second);
    run_ok(restic_with_password(&repo, &second_password).arg("snapshots"));

    // The key in use cannot be removed; another one can, after which its password fails.
    let output = run_fail(with_second().args(["key", "remove", &second]));
    assert!(stderr(&output).contains("in use"), "{}", stderr(&output));
    assert_eq!(key_files(&repo).len(), 2);
    run_ok(with_second().args(["key", "remove", &first[..8]]));
    assert_eq!(key_files(&repo), BTreeSet::from([second.clone()]));
    let output = run_fail(scratch.cairn(&repo).arg("snapshots"));
    assert!(
        stderr(&output).contains("wrong password"),
        "{}",
        stderr(&output)
    );

    // passwd replaces the key in use: the old password stops working, the new one works.
    let third_password = scratch.path("third");
    write(&third_password, "a third password\n");
    run_ok(
        with_second()
            .args(["key", "passwd", "--new-password-file"])
            .arg(&third_password),
    );
    let keys = key_files(&repo);
    assert_eq!(keys.len(), 1);
    assert!(!keys.contains(&second));
    run_fail(with_second().arg("snapshots"));
    run_ok(cairn_with_password(&repo, &third_password).arg("check"));
    run_ok(restic_with_password(&repo, &third_password).arg("snapshots"));
    run_fail(restic_with_password(&repo, &second_password).arg("snapshots"));
}

/// Starts `cairn backup --stdin` and waits until it holds its lock (it then waits for input).
fn start_lock_holder(scratch: &Scratch, repo: &Path) -> Child {
    let before = count_in(repo, "locks");
    let child = scratch
        .cairn(repo)
        .args(["backup", "-q", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count_in(repo, "locks") == before {
        assert!(Instant::now() < deadline, "the backup took no lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn unlock_removes_stale_locks_only_unless_told_to_remove_all() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let output = run_ok(scratch.cairn(&repo).arg("unlock"));
    assert!(stdout(&output).contains("removed 0"), "{output:?}");

    // A process killed outright leaves its lock; its PID no longer exists, so it is stale.
    let mut killed = start_lock_holder(&scratch, &repo);
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert_eq!(count_in(&repo, "locks"), 1);
    let output = run_ok(scratch.cairn(&repo).args(["unlock", "--json"]));
    let removed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(removed["removed"].as_array().unwrap().len(), 1, "{removed}");
    assert_eq!(count_in(&repo, "locks"), 0);

    // A live process's lock stays, unless --remove-all.
    let mut alive = start_lock_holder(&scratch, &repo);
    let output = run_ok(scratch.cairn(&repo).arg("unlock"));
    assert!(stdout(&output).contains("removed 0"), "{output:?}");
    assert_eq!(count_in(&repo, "locks"), 1);
    let output = run_ok(scratch.cairn(&repo).args(["unlock", "--remove-all"]));
    assert!(stdout(&output).contains("removed 1"), "{output:?}");
    assert_eq!(count_in(&repo, "locks"), 0);
    drop(alive.stdin.take());
    alive.wait().unwrap();
}

/// Pack ids (file names under data/) holding data blobs, from the index.
fn data_packs(scratch: &Scratch, repo: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for index in fs::read_dir(repo.join("index")).unwrap() {
        let name = index.unwrap().file_name().to_string_lossy().into_owned();
        let output = run_ok(scratch.cairn(repo).args(["cat", "index", &name]));
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        for pack in json["packs"].as_array().unwrap() {
            if pack["blobs"][0]["type"] == "data" {
                out.insert(pack["id"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

fn first_byte_even(id: &str) -> bool {
    u8::from_str_radix(&id[..2], 16).unwrap().is_multiple_of(2)
}

fn check_json(scratch: &Scratch, repo: &Path, args: &[&str]) -> (bool, Value) {
    let output = scratch
        .cairn(repo)
        .args(["check", "--json"])
        .args(args)
        .output()
        .unwrap();
    // Status lines come first; the report is the last line.
    let text = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("check --json ({e}): {output:?}"));
    (output.status.success(), report)
}

#[test]
fn check_passes_a_clean_repository_and_reads_the_subset_asked_for() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let src = scratch.path("src");
    let mut rng = Rng::new(61);
    // Back up new data until data packs of both halves (by first byte) exist.
    for i in 0..40 {
        write(&src.join(format!("f{i}")), rng.bytes(MIB / 4));
        backup(&scratch, &repo, &[&src]);
        let packs = data_packs(&scratch, &repo);
        if packs.iter().any(|p| first_byte_even(p)) && packs.iter().any(|p| !first_byte_even(p)) {
            break;
        }
    }
    let output = run_ok(scratch.cairn(&repo).arg("check"));
    assert!(
        stdout(&output).contains("no errors were found"),
        "{}",
        stdout(&output)
    );
    let (ok, report) = check_json(&scratch, &repo, &[]);
    assert!(ok);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["packs_read"], 0);

    let all: Vec<String> = files_under(&repo.join("data"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let even = all.iter().filter(|p| first_byte_even(p)).count();
    let (ok, first_half) = check_json(&scratch, &repo, &["--read-data-subset", "1/2"]);
    assert!(ok && first_half["ok"] == true, "{first_half}");
    assert_eq!(
        first_half["packs_read"], even,
        "1/2 reads packs whose first byte is even"
    );
    let (ok, second_half) = check_json(&scratch, &repo, &["--read-data-subset", "2/2"]);
    assert!(ok, "{second_half}");
    assert_eq!(second_half["packs_read"], all.len() - even);
    let (ok, half) = check_json(&scratch, &repo, &["--read-data-subset", "50%"]);
    assert!(ok, "{half}");
    assert_eq!(half["packs_read"], all.len().div_ceil(2));
    let text = run_ok(scratch.cairn(&repo).args(["check", "--read-data"]));
    assert!(stdout(&text).contains(&format!("read {} packs", all.len())));

    // A flipped byte in a data pack of the first half: 1/2 finds it, 2/2 does not read it.
    let victim = data_packs(&scratch, &repo)
        .into_iter()
        .find(|p| first_byte_even(p))
        .unwrap();
    let path = repo.join("data").join(&victim[..2]).join(&victim);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&path, bytes).unwrap();
    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["check", "--read-data-subset", "1/2"]),
    );
    assert!(
        stderr(&output).contains(&victim[..8]),
        "{}",
        stderr(&output)
    );
    let (ok, report) = check_json(&scratch, &repo, &["--read-data-subset", "1/2"]);
    assert!(!ok && report["ok"] == false, "{report}");
    run_ok(
        scratch
            .cairn(&repo)
            .args(["check", "--read-data-subset", "2/2"]),
    );
}

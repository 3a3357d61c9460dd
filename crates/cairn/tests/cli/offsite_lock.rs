//! Ransomware-safe offsite: `mirror sync` under S3 Object Lock on a bucket created with it (the
//! S3 test server, moto, enforces retention: a versioned delete of a locked version is
//! AccessDenied), an attacker holding the mirror's own key who deletes and overwrites
//! everything, and `mirror restore --at` bringing back the repository as it was before, which
//! restic checks and restores byte for byte. Also `mirror test` on a bucket without the lock
//! and the flags' both-or-neither rule. `--at` also replaces a damaged local repository.

use std::process::Command;

use cairn_storage::s3_test_server::S3TestServer;
use cairn_storage::{FileKind, LocalStore, Storage};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

use crate::s3::{cairn_at, small_tree, unique_prefix, with_s3_env};
use crate::support::compare::CompareOptions;
use crate::support::{compare_trees, restored, run_fail, run_ok, stderr, stdout, Scratch};

const LOCKED: &str = "cairn-locked";

/// Runs a boto3 script against the server with the mirror's own credentials; its JSON output.
fn boto3(server: &S3TestServer, prefix: &str, script: &str) -> Value {
    let preamble = r#"
import json, sys, boto3, botocore
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
bucket, prefix = sys.argv[2], sys.argv[3] + "/"
def versions():
    out = {"Versions": [], "DeleteMarkers": []}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        out["Versions"] += page.get("Versions", [])
        out["DeleteMarkers"] += page.get("DeleteMarkers", [])
    return out
"#;
    let mut command = Command::new("python3");
    with_s3_env(&mut command)
        .arg("-c")
        .arg(format!("{preamble}\n{script}"))
        .arg(server.endpoint())
        .arg(LOCKED)
        .arg(prefix);
    let output = run_ok(&mut command);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&output)))
}

/// Every version under the prefix with its lock: key, version id, mode, retain-until.
const READ_LOCKS: &str = r#"
out = []
for v in versions()["Versions"]:
    h = s3.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    until = h.get("ObjectLockRetainUntilDate")
    out.append([v["Key"][len(prefix):], h.get("ObjectLockMode"), until.isoformat() if until else None])
print(json.dumps(out))
"#;

/// The attack: snapshots and index overwritten with garbage, every key deleted (delete
/// markers), then every version deleted by id. Reports what S3 refused and allowed.
const ATTACK: &str = r#"
current = [v for v in versions()["Versions"] if v["IsLatest"]]
overwritten = 0
for v in current:
    name = v["Key"][len(prefix):]
    if name.startswith("snapshots/") or name.startswith("index/"):
        s3.put_object(Bucket=bucket, Key=v["Key"], Body=b"encrypted by ransomware")
        overwritten += 1
markers = 0
for v in current:
    s3.delete_object(Bucket=bucket, Key=v["Key"])
    markers += 1
refused, deleted = [], []
for v in versions()["Versions"]:
    try:
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        deleted.append(v["Key"][len(prefix):])
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response["Error"]
        refused.append(v["Key"][len(prefix):])
current_after = [v for v in versions()["Versions"] if v["IsLatest"]]
print(json.dumps({"overwritten": overwritten, "markers": markers, "refused": refused,
                  "deleted": deleted, "current_after": len(current_after)}))
"#;

fn summary_of(text: &str) -> Value {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {text}"))
}

#[test]
fn an_attacker_with_the_mirror_key_cannot_destroy_it_and_restore_at_brings_it_back() {
    let scratch = Scratch::new();
    let server = S3TestServer::start_with_locked(&[], &[LOCKED]);
    let repo_path = scratch.init_repo("local");
    let repo = repo_path.to_str().unwrap().to_string();
    let source = scratch.path("src");
    let fixture = small_tree(&source, 61);
    run_ok(cairn_at(&scratch, &repo).arg("backup").arg(&source));
    std::fs::write(source.join("bulk/day2.txt"), b"day two\n").unwrap();
    run_ok(cairn_at(&scratch, &repo).arg("backup").arg(&source));
    std::fs::write(source.join("bulk/day3.txt"), b"day three\n").unwrap();
    run_ok(cairn_at(&scratch, &repo).arg("backup").arg(&source));

    let prefix = unique_prefix("locked");
    let dest = server.url(LOCKED, &prefix);
    let synced_at = Utc::now();
    let output = run_ok(cairn_at(&scratch, &repo).args([
        "--json",
        "mirror",
        "sync",
        &dest,
        "--object-lock-mode",
        "governance",
        "--object-lock-days",
        "30",
    ]));
    let summary = summary_of(&stdout(&output));
    let uploaded = summary["uploaded_objects"].as_u64().unwrap();
    assert!(uploaded >= 9, "{summary}");

    // Every object version carries GOVERNANCE until ~30 days out; the sidecars none.
    let locks = boto3(&server, &prefix, READ_LOCKS);
    let (mut locked, mut sidecars) = (0, 0);
    for entry in locks.as_array().unwrap() {
        let name = entry[0].as_str().unwrap();
        if name.starts_with("cairn-") {
            assert!(entry[1].is_null(), "sidecar {name} is not locked: {entry}");
            sidecars += 1;
            continue;
        }
        locked += 1;
        assert_eq!(entry[1], "GOVERNANCE", "{entry}");
        let until = DateTime::parse_from_rfc3339(entry[2].as_str().unwrap()).unwrap();
        let expected = synced_at + TimeDelta::days(30);
        let off = (until.with_timezone(&Utc) - expected).num_seconds();
        assert!(
            (-5..=120).contains(&off),
            "{name}: until {until}, {off} s off"
        );
    }
    assert_eq!(locked, uploaded, "{locks}");

    // The attack, strictly after a time we note (listings are to the second).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let before_attack = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let attack = boto3(&server, &prefix, ATTACK);
    assert_eq!(attack["current_after"], 0, "{attack}");
    assert!(attack["overwritten"].as_u64().unwrap() >= 6, "{attack}");
    let refused = attack["refused"].as_array().unwrap();
    assert_eq!(
        refused.len() as u64,
        locked,
        "every locked version refused: {attack}"
    );
    assert!(
        refused
            .iter()
            .all(|n| !n.as_str().unwrap().starts_with("cairn-")),
        "{attack}"
    );
    // The garbage versions and the unlocked sidecars could be deleted; nothing else.
    let deleted = attack["deleted"].as_array().unwrap();
    assert_eq!(
        deleted.len() as u64,
        attack["overwritten"].as_u64().unwrap() + sidecars,
        "the garbage and the sidecars: {attack}"
    );
    // The mirror as it is now holds no repository.
    run_fail(
        with_s3_env(&mut crate::support::cairn())
            .args(["mirror", "restore", &dest, "--mode", "copy", "--target"])
            .arg(scratch.path("now")),
    );

    // As it was before the attack: a repository restic checks and restores byte for byte.
    let target = scratch.path("restored-repo");
    let output = run_ok(
        with_s3_env(&mut crate::support::cairn())
            .args(["mirror", "restore", &dest, "--at", &before_attack])
            .args(["--mode", "copy", "--target"])
            .arg(&target),
    );
    assert!(stdout(&output).contains("fetched"), "{}", stdout(&output));
    let restic = |args: &[&str]| {
        let mut command = crate::support::restic();
        command
            .arg("-r")
            .arg(&target)
            .arg("--password-file")
            .arg(&scratch.password_file)
            .args(args);
        command
    };
    run_ok(&mut restic(&["check", "--read-data"]));
    let snapshots: Value =
        serde_json::from_str(&stdout(&run_ok(&mut restic(&["snapshots", "--json"])))).unwrap();
    assert_eq!(snapshots.as_array().unwrap().len(), 3);
    let restore_dir = scratch.path("restored-files");
    run_ok(restic(&["restore", "latest", "--target"]).arg(&restore_dir));
    // restic 0.14 restores non-UTF-8 link targets lossily (the fixture lists them).
    let differences = compare_trees(
        &source,
        &restored(&restore_dir, &source),
        CompareOptions::default(),
        &fixture.restic_014_lossy,
    );
    assert!(differences.is_empty(), "{differences:#?}");

    // The host's own repository damaged too (a snapshot and a pack gone): replacing it from
    // the mirror as it was before the attack brings back every object it lost.
    let local = LocalStore::new(&repo_path);
    let snapshot = local.list(FileKind::Snapshot).unwrap()[0].name.clone();
    local.remove(FileKind::Snapshot, &snapshot).unwrap();
    let pack = local.list(FileKind::Pack).unwrap()[0].name.clone();
    local.remove(FileKind::Pack, &pack).unwrap();
    run_ok(
        with_s3_env(&mut crate::support::cairn())
            .args(["mirror", "restore", &dest, "--at", &before_attack])
            .args(["--mode", "replace", "--target", &repo, "--password-file"])
            .arg(&scratch.password_file),
    );
    assert!(local.size(FileKind::Snapshot, &snapshot).is_ok());
    assert!(local.size(FileKind::Pack, &pack).is_ok());
    run_ok(cairn_at(&scratch, &repo).args(["check", "--read-data"]));
    run_ok(
        scratch
            .restic(&repo_path)
            .args(["--no-lock", "check", "--read-data"]),
    );
}

#[test]
fn mirror_test_with_a_lock_policy_says_what_to_fix_on_a_plain_bucket() {
    let server = S3TestServer::start_with_locked(&[], &[LOCKED]);
    let lock = [
        "--object-lock-mode",
        "compliance",
        "--object-lock-days",
        "7",
    ];
    let plain = server.url(cairn_storage::s3_test_server::BUCKET, "plain");
    let output = crate::support::cairn()
        .args(["mirror", "test", &plain])
        .args(lock)
        .envs(s3_env())
        .output()
        .unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL versioning"), "{text}");
    assert!(text.contains("FAIL object lock"), "{text}");
    assert!(
        text.contains(
            "fix: create the bucket with object lock enabled: aws s3api create-bucket --bucket \
             cairn-test --object-lock-enabled-for-bucket"
        ),
        "{text}"
    );

    let locked = server.url(LOCKED, "ok");
    let output = run_ok(
        crate::support::cairn()
            .args(["mirror", "test", &locked])
            .args(lock)
            .envs(s3_env()),
    );
    let text = stdout(&output);
    assert!(text.contains("ok   versioning"), "{text}");
    assert!(
        text.contains("Object Lock enabled; no default retention"),
        "{text}"
    );
}

#[test]
fn lock_flags_come_in_pairs_and_only_for_s3() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("local");
    let repo = repo.to_str().unwrap();
    let half = run_fail(cairn_at(&scratch, repo).args([
        "mirror",
        "sync",
        "s3:http://127.0.0.1:9/bucket/x",
        "--object-lock-mode",
        "governance",
    ]));
    assert!(
        stderr(&half).contains("--object-lock-mode needs --object-lock-days"),
        "{}",
        stderr(&half)
    );
    let bad = run_fail(cairn_at(&scratch, repo).args([
        "mirror",
        "sync",
        "s3:http://127.0.0.1:9/bucket/x",
        "--object-lock-mode",
        "legal",
        "--object-lock-days",
        "3",
    ]));
    assert!(
        stderr(&bad).contains("use governance or compliance"),
        "{}",
        stderr(&bad)
    );
    let zero = run_fail(cairn_at(&scratch, repo).args([
        "mirror",
        "sync",
        "s3:http://127.0.0.1:9/bucket/x",
        "--object-lock-mode",
        "governance",
        "--object-lock-days",
        "0",
    ]));
    assert!(
        stderr(&zero).contains("invalid --object-lock-days 0"),
        "{}",
        stderr(&zero)
    );
    let local = run_fail(cairn_at(&scratch, repo).args([
        "mirror",
        "sync",
        scratch.path("elsewhere").to_str().unwrap(),
        "--object-lock-mode",
        "governance",
        "--object-lock-days",
        "3",
    ]));
    assert!(
        stderr(&local).contains("S3 mirrors only"),
        "{}",
        stderr(&local)
    );
}

fn s3_env() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "AWS_ACCESS_KEY_ID",
            cairn_storage::s3_test_server::ACCESS_KEY_ID,
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            cairn_storage::s3_test_server::SECRET_ACCESS_KEY,
        ),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
}

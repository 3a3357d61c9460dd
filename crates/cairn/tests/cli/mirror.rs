//! `cairn mirror sync` to a real S3 server: the mirror is a repository restic checks and
//! restores, nothing is sent twice, deletions wait out their grace period, storage class and
//! encryption headers land on the right objects, and a cut-off sync carries on.

mod restore;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_storage::s3_test_server::{self as server, S3TestServer};
use cairn_storage::{FileKind, Storage};
use serde_json::Value;

use crate::s3::{cairn_at, init_s3_repo, restic_at, small_tree, unique_prefix, with_s3_env};
use crate::support::compare::CompareOptions;
use crate::support::{compare_trees, restored, run_fail, run_ok, stderr, stdout, Scratch};

/// `cairn -r LOCAL mirror sync DEST --json ARGS`, its summary.
fn sync_json(scratch: &Scratch, repo: &str, dest: &str, args: &[&str]) -> Value {
    let output = run_ok(
        cairn_at(scratch, repo)
            .args(["--json", "mirror", "sync", dest])
            .args(args),
    );
    summary_of(&stdout(&output))
}

fn summary_of(text: &str) -> Value {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {text}"))
}

fn n(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {value}"))
}

/// Every object of a repository but locks, by kind, name → size.
fn objects(store: &dyn Storage) -> BTreeMap<(String, String), u64> {
    let mut all = BTreeMap::new();
    for kind in FileKind::ALL {
        if kind == FileKind::Lock {
            continue;
        }
        for object in store.list(kind).unwrap() {
            all.insert((kind.to_string(), object.name), object.size);
        }
    }
    all
}

/// Storage class and server-side encryption of objects, read by a real S3 client (boto3).
fn head_objects(server: &S3TestServer, keys: &[String]) -> Vec<(Option<String>, Option<String>)> {
    let script = r#"
import json, sys, boto3
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
out = []
for key in sys.argv[3:]:
    h = c.head_object(Bucket=sys.argv[2], Key=key)
    out.append([h.get("StorageClass"), h.get("ServerSideEncryption")])
print(json.dumps(out))
"#;
    let mut command = Command::new("python3");
    with_s3_env(&mut command)
        .arg("-c")
        .arg(script)
        .arg(server.endpoint())
        .arg(server::BUCKET)
        .args(keys);
    let output = run_ok(&mut command);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A local repository holding one backup of a small tree, and a fresh prefix for its mirror on
/// the shared offsite server.
struct Mirrored {
    scratch: Scratch,
    offsite: &'static S3TestServer,
    local_path: std::path::PathBuf,
    repo: String,
    source: std::path::PathBuf,
    fixture: crate::support::fixture::Fixture,
    prefix: String,
    dest: String,
}

fn mirrored(name: &str, seed: u64) -> Mirrored {
    let scratch = Scratch::new();
    let offsite = S3TestServer::shared();
    let local_path = scratch.init_repo("local");
    let repo = local_path.to_str().unwrap().to_string();
    let source = scratch.path("src");
    let fixture = small_tree(&source, seed);
    run_ok(cairn_at(&scratch, &repo).arg("backup").arg(&source));
    let prefix = unique_prefix(name);
    let dest = offsite.url(server::BUCKET, &prefix);
    Mirrored {
        scratch,
        offsite,
        local_path,
        repo,
        source,
        fixture,
        prefix,
        dest,
    }
}

#[test]
fn sync_makes_a_mirror_restic_checks_and_restores_and_sends_nothing_twice() {
    let scratch = Scratch::new();
    let primary = S3TestServer::start(&[]);
    let offsite = S3TestServer::shared();
    // The primary on one S3 server, the mirror on another.
    let repo = init_s3_repo(&primary, "primary");
    let source = scratch.path("src");
    let fixture = small_tree(&source, 21);
    run_ok(cairn_at(&scratch, &repo).arg("backup").arg(&source));
    std::fs::write(source.join("bulk/day2.txt"), b"day two\n").unwrap();
    run_ok(cairn_at(&scratch, &repo).arg("backup").arg(&source));

    let prefix = unique_prefix("mirror");
    let dest = offsite.url(server::BUCKET, &prefix);
    let first = sync_json(
        &scratch,
        &repo,
        &dest,
        &[
            "--storage-class",
            "STANDARD_IA",
            "--sse",
            "aes256",
            "--transfers",
            "4",
        ],
    );
    let local = objects(&primary.store("primary"));
    let mirror = objects(&offsite.store(&prefix));
    assert_eq!(
        mirror, local,
        "the mirror holds exactly the repository (no locks)"
    );
    assert_eq!(n(&first, "uploaded_objects"), local.len() as u64, "{first}");
    assert_eq!(
        n(&first, "uploaded_bytes"),
        local.values().sum::<u64>(),
        "{first}"
    );

    // Data packs in the storage class; config, keys, index, snapshots, tree packs STANDARD.
    let repository = cairn_repo::Repository::open(
        std::sync::Arc::new(primary.store("primary")),
        b"correct horse battery staple",
    )
    .unwrap();
    let index = cairn_repo::index::Index::load(&repository).unwrap();
    let mut data_packs = std::collections::BTreeSet::new();
    let mut tree_packs = std::collections::BTreeSet::new();
    for (_, location) in index.blobs() {
        if location.blob_type == cairn_format::BlobType::Tree {
            tree_packs.insert(location.pack.to_string());
        } else {
            data_packs.insert(location.pack.to_string());
        }
    }
    assert!(!data_packs.is_empty() && !tree_packs.is_empty());
    let key = |relative: String| format!("{prefix}/{relative}");
    let mut keys: Vec<String> = data_packs
        .iter()
        .map(|p| key(FileKind::Pack.path(p)))
        .collect();
    let data_count = keys.len();
    keys.extend(tree_packs.iter().map(|p| key(FileKind::Pack.path(p))));
    keys.push(key("config".into()));
    for kind in [FileKind::Key, FileKind::Index, FileKind::Snapshot] {
        let (_, name) = local.keys().find(|(k, _)| *k == kind.to_string()).unwrap();
        keys.push(key(kind.path(name)));
    }
    let heads = head_objects(offsite, &keys);
    for (i, (class, sse)) in heads.iter().enumerate() {
        assert_eq!(sse.as_deref(), Some("AES256"), "{}", keys[i]);
        let expected = if i < data_count {
            Some("STANDARD_IA")
        } else {
            None
        };
        assert_eq!(
            class.as_deref().filter(|c| *c != "STANDARD"),
            expected,
            "storage class of {}",
            keys[i]
        );
    }

    // The mirror is a repository: restic checks every byte and restores from it.
    run_ok(restic_at(&scratch, &dest).args(["check", "--read-data"]));
    let target = scratch.path("from-mirror");
    run_ok(
        restic_at(&scratch, &dest)
            .args(["restore", "latest", "--target"])
            .arg(&target),
    );
    let differences = compare_trees(
        &source,
        &restored(&target, &source),
        CompareOptions::default(),
        &fixture.restic_014_lossy,
    );
    assert!(
        differences.is_empty(),
        "restore from the mirror: {differences:#?}"
    );

    // Nothing changed: nothing is sent, and the listings alone tell (no key derivation: a
    // wrong password does not even get tried).
    let wrong = scratch.path("wrong-password");
    std::fs::write(&wrong, "not the password\n").unwrap();
    let mut command = crate::support::cairn();
    let output = run_ok(
        with_s3_env(&mut command)
            .args(["-r", &repo, "--password-file"])
            .arg(&wrong)
            .args(["--json", "mirror", "sync", &dest]),
    );
    let again = summary_of(&stdout(&output));
    assert_eq!(n(&again, "uploaded_objects"), 0, "{again}");
    assert_eq!(n(&again, "skipped_objects"), local.len() as u64, "{again}");
}

#[test]
fn deletions_wait_out_the_grace_period() {
    let Mirrored {
        scratch,
        offsite,
        local_path,
        repo,
        source,
        prefix,
        dest,
        ..
    } = mirrored("grace", 5);
    std::fs::write(source.join("bulk/random.bin"), b"replaced\n").unwrap();
    run_ok(cairn_at(&scratch, &repo).arg("backup").arg(&source));
    sync_json(&scratch, &repo, &dest, &[]);

    // A local forget + prune removes a snapshot and the packs only it used.
    run_ok(cairn_at(&scratch, &repo).args([
        "forget",
        "--keep-last",
        "1",
        "--prune",
        "--max-unused",
        "0%",
    ]));
    let local_store = cairn_storage::LocalStore::new(&local_path);
    let mirror_store = offsite.store(&prefix);
    let local_now = objects(&local_store);
    let gone = objects(&mirror_store)
        .keys()
        .filter(|k| !local_now.contains_key(*k))
        .count();
    assert!(
        gone >= 3,
        "the prune removed a snapshot, an index and packs ({gone})"
    );

    // Default grace (7 days): nothing is deleted, the old snapshot stays restorable offsite.
    // The deletions' clock starts at this sync.
    let pending_since = std::time::Instant::now();
    let held = sync_json(&scratch, &repo, &dest, &[]);
    assert_eq!(n(&held, "deleted_objects"), 0, "{held}");
    assert!(n(&held, "pending_deletions") >= gone as u64, "{held}");
    let snapshots = crate::support::snapshots_json(&mut restic_at(&scratch, &dest));
    assert_eq!(
        snapshots.len(),
        2,
        "the forgotten snapshot is still offsite"
    );
    run_ok(restic_at(&scratch, &dest).args(["check", "--read-data"]));

    // --no-delete never deletes; a dry run reports what is due and changes nothing.
    let kept = sync_json(&scratch, &repo, &dest, &["--no-delete"]);
    assert_eq!(n(&kept, "deleted_objects"), 0, "{kept}");
    let before = objects(&mirror_store);
    let dry = sync_json(
        &scratch,
        &repo,
        &dest,
        &["--delete-after", "0", "--dry-run"],
    );
    assert_eq!(n(&dry, "deleted_objects"), gone as u64, "{dry}");
    assert_eq!(dry["would_delete"].as_array().unwrap().len(), gone);
    assert_eq!(objects(&mirror_store), before, "a dry run changes nothing");

    // A short grace period runs out: the next sync deletes, snapshots before packs. The grace
    // counts from the sync that first saw the deletions, so it is set a margin beyond the time
    // the steps above took (on a loaded machine they take seconds).
    let grace = Duration::from_secs(pending_since.elapsed().as_secs() + 6);
    let grace_arg = format!("{}s", grace.as_secs());
    let short = sync_json(&scratch, &repo, &dest, &["--delete-after", &grace_arg]);
    assert_eq!(n(&short, "deleted_objects"), 0, "{short}");
    if let Some(left) = (grace + Duration::from_millis(300)).checked_sub(pending_since.elapsed()) {
        std::thread::sleep(left);
    }
    let due = sync_json(&scratch, &repo, &dest, &["--delete-after", &grace_arg]);
    assert_eq!(n(&due, "deleted_objects"), gone as u64, "{due}");
    assert_eq!(objects(&mirror_store), objects(&local_store));
    run_ok(restic_at(&scratch, &dest).args(["check", "--read-data"]));
}

#[test]
fn a_sync_cut_off_carries_on_and_a_dead_server_is_named() {
    let scratch = Scratch::new();
    let mut offsite = S3TestServer::start(&[]);
    let local_path = scratch.init_repo("local");
    let repo = local_path.to_str().unwrap().to_string();
    let source = scratch.path("src");
    small_tree(&source, 9);
    std::fs::write(
        source.join("bulk/more.bin"),
        crate::support::rng::Rng::new(4).bytes(10 << 20),
    )
    .unwrap();
    run_ok(
        cairn_at(&scratch, &repo)
            .args(["backup", "--pack-size", "4"])
            .arg(&source),
    );
    let total = objects(&cairn_storage::LocalStore::new(&local_path)).len() as u64;
    let dest = offsite.url(server::BUCKET, "cut");

    // 1. cairn killed mid-sync (SIGKILL): the next sync sends only what is missing.
    let mut child = cairn_at(&scratch, &repo)
        .args([
            "mirror",
            "sync",
            &dest,
            "--bwlimit",
            "2M",
            "--transfers",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    let present = objects(&offsite.store("cut")).len() as u64;
    assert!(
        present > 0 && present < total,
        "{present} of {total} sent before the kill"
    );
    run_ok(cairn_at(&scratch, &repo).arg("unlock"));
    let resumed = sync_json(&scratch, &repo, &dest, &[]);
    assert_eq!(n(&resumed, "skipped_objects"), present, "{resumed}");
    assert_eq!(
        n(&resumed, "uploaded_objects"),
        total - present,
        "{resumed}"
    );
    run_ok(restic_at(&scratch, &dest).args(["check", "--read-data"]));

    // 2. The server killed mid-sync: the sync fails naming the endpoint after its retries;
    //    restarted (empty: moto keeps data in memory), the next sync completes.
    let dest2 = offsite.url(server::BUCKET, "killed");
    let child = cairn_at(&scratch, &repo)
        .args([
            "--s3-retries",
            "2",
            "mirror",
            "sync",
            &dest2,
            "--bwlimit",
            "2M",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    offsite.kill();
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains(&offsite.endpoint()) && text.contains("did not answer"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded retries"
    );
    offsite.restart();
    run_ok(cairn_at(&scratch, &repo).arg("unlock"));
    let completed = sync_json(&scratch, &repo, &dest2, &[]);
    assert_eq!(n(&completed, "uploaded_objects"), total, "{completed}");
    run_ok(restic_at(&scratch, &dest2).args(["check", "--read-data"]));
}

#[test]
fn a_mirror_of_another_repository_is_refused() {
    let scratch = Scratch::new();
    let offsite = S3TestServer::shared();
    let a = scratch.init_repo("a");
    let b = scratch.init_repo("b");
    let prefix = unique_prefix("other");
    let dest = offsite.url(server::BUCKET, &prefix);
    sync_json(&scratch, a.to_str().unwrap(), &dest, &[]);
    let refused = run_fail(cairn_at(&scratch, b.to_str().unwrap()).args(["mirror", "sync", &dest]));
    let text = stderr(&refused);
    assert!(text.contains("holds another repository"), "{text}");
}

#[test]
fn verify_finds_missing_extra_and_corrupt_objects() {
    let Mirrored {
        scratch,
        offsite,
        repo,
        prefix,
        dest,
        ..
    } = mirrored("verify", 13);
    sync_json(&scratch, &repo, &dest, &[]);

    let verify = |args: &[&str]| {
        let output = cairn_at(&scratch, &repo)
            .args(["--json", "mirror", "verify", &dest])
            .args(args)
            .output()
            .unwrap();
        (output.status.code(), summary_of(&stdout(&output)))
    };
    let (code, clean) = verify(&["--read-sample", "100%"]);
    assert_eq!(code, Some(0), "{clean}");
    let compared = n(&clean, "objects_compared");
    assert_eq!(n(&clean, "objects_read"), compared, "{clean}");

    // Damage the mirror three ways.
    let mirror = offsite.store(&prefix);
    let packs = mirror.list(FileKind::Pack).unwrap();
    let victim = &packs[0];
    let mut bytes = mirror.get(FileKind::Pack, &victim.name).unwrap();
    bytes[10] ^= 0x01;
    mirror.put(FileKind::Pack, &victim.name, &bytes).unwrap();
    let index = mirror.list(FileKind::Index).unwrap();
    mirror.remove(FileKind::Index, &index[0].name).unwrap();
    let stray = "e".repeat(64);
    mirror.put(FileKind::Snapshot, &stray, b"stray").unwrap();

    // Listings alone find the missing and the extra object; the flipped byte needs reading.
    let (code, listed) = verify(&[]);
    assert_eq!(code, Some(1), "{listed}");
    assert_eq!(
        listed["missing"][0]["name"],
        index[0].name.as_str(),
        "{listed}"
    );
    assert_eq!(listed["extra"][0]["name"], stray.as_str(), "{listed}");
    assert_eq!(listed["corrupt"].as_array().unwrap().len(), 0, "{listed}");
    let (code, read) = verify(&["--read-sample", "100%"]);
    assert_eq!(code, Some(1));
    assert_eq!(read["corrupt"][0]["name"], victim.name.as_str(), "{read}");

    // A sync repairs what it can see (the missing index); the corrupt pack keeps its size, so
    // verify is what finds it. Text output names each problem on its own line.
    let text = stdout(&run_fail(cairn_at(&scratch, &repo).args([
        "mirror",
        "verify",
        &dest,
        "--read-sample",
        "100%",
    ])));
    assert!(
        text.contains(&format!("corrupt pack {}", victim.name)),
        "{text}"
    );
    assert!(text.contains(&format!("extra snapshot {stray}")), "{text}");
}

/// `cairn mirror test DEST --json` with the given key pair: exit code and steps.
fn mirror_test(dest: &str, key_id: &str, secret: &str) -> (Option<i32>, Vec<Value>) {
    let mut command = crate::support::cairn();
    let output = with_s3_env(&mut command)
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .args(["--json", "mirror", "test", dest])
        .output()
        .unwrap();
    let summary = summary_of(&stdout(&output));
    (
        output.status.code(),
        summary["steps"].as_array().unwrap().clone(),
    )
}

fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {steps:?}"))
}

#[test]
fn mirror_test_checks_each_step_and_says_what_to_fix() {
    let offsite = S3TestServer::shared();
    let prefix = unique_prefix("probe");
    let dest = offsite.url(server::BUCKET, &prefix);

    let (code, steps) = mirror_test(&dest, server::ACCESS_KEY_ID, server::SECRET_ACCESS_KEY);
    assert_eq!(code, Some(0), "{steps:?}");
    for name in [
        "resolve",
        "connect",
        "tls",
        "credentials",
        "bucket",
        "list",
        "put",
        "get",
        "delete",
    ] {
        assert_eq!(step(&steps, name)["ok"], true, "{name}: {steps:?}");
    }
    // The probe object is gone again.
    assert!(offsite
        .store(&prefix)
        .list_keys("", true)
        .unwrap()
        .is_empty());

    let (code, steps) = mirror_test(&dest, server::ACCESS_KEY_ID, "wrong-secret-for-probe");
    assert_eq!(code, Some(1));
    let credentials = step(&steps, "credentials");
    assert_eq!(credentials["ok"], false);
    assert!(credentials["detail"]
        .as_str()
        .unwrap()
        .contains(server::ACCESS_KEY_ID));
    assert!(!serde_json::to_string(&steps)
        .unwrap()
        .contains("wrong-secret-for-probe"));

    let (code, steps) = mirror_test(&dest, server::NO_DELETE_KEY_ID, server::NO_DELETE_SECRET);
    assert_eq!(code, Some(1));
    let delete = step(&steps, "delete");
    assert_eq!(delete["ok"], false, "{steps:?}");
    assert!(
        delete["fix"].as_str().unwrap().contains("s3:DeleteObject"),
        "{delete}"
    );

    let missing = offsite.url("no-such-bucket", "x");
    let (code, steps) = mirror_test(&missing, server::ACCESS_KEY_ID, server::SECRET_ACCESS_KEY);
    assert_eq!(code, Some(1));
    let bucket = step(&steps, "bucket");
    assert_eq!(bucket["ok"], false);
    assert!(
        bucket["fix"]
            .as_str()
            .unwrap()
            .contains("create the bucket"),
        "{bucket}"
    );
    // It never creates a bucket: the bucket is still missing afterwards.
    let location = cairn_storage::S3Location::parse(&missing).unwrap();
    let options = cairn_storage::s3::S3Options::new(S3TestServer::credentials());
    let still = cairn_storage::S3Store::open(location, options)
        .unwrap()
        .check_bucket();
    assert!(still.unwrap_err().message.contains("does not exist"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, steps) = mirror_test(
        &format!("s3:http://127.0.0.1:{port}/bucket"),
        server::ACCESS_KEY_ID,
        server::SECRET_ACCESS_KEY,
    );
    assert_eq!(code, Some(1));
    assert_eq!(step(&steps, "connect")["ok"], false, "{steps:?}");
}

#[test]
fn the_manifest_makes_a_restored_mirror_browsable_without_packs() {
    let Mirrored {
        scratch,
        offsite,
        repo,
        source,
        prefix,
        dest,
        ..
    } = mirrored("manifest", 29);
    std::fs::write(source.join("bulk/later.txt"), b"later\n").unwrap();
    run_ok(
        cairn_at(&scratch, &repo)
            .args(["backup", "--tag", "second"])
            .arg(&source),
    );
    let synced = sync_json(&scratch, &repo, &dest, &[]);
    assert!(n(&synced, "manifest_bytes") > 0, "{synced}");

    // Encrypted: the stored object shows no path or file name.
    let stored = offsite
        .store(&prefix)
        .get(FileKind::Sidecar, "cairn-manifest")
        .unwrap();
    let needle = b"later.txt";
    assert!(
        !stored.windows(needle.len()).any(|w| w == needle),
        "the manifest is not encrypted"
    );

    // The catalog straight from S3, with the packs unreadable to prove none is read.
    let catalog = |url: &str, args: &[&str]| -> Value {
        let output = run_ok(
            cairn_at(&scratch, url)
                .args(["--json", "catalog"])
                .args(args),
        );
        serde_json::from_str(stdout(&output).trim()).unwrap()
    };
    let snapshots = catalog(&dest, &[]);
    assert_eq!(snapshots.as_array().unwrap().len(), 2, "{snapshots}");
    let files = catalog(&dest, &["latest"]);
    let later = source.join("bulk/later.txt");
    let row = files
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == later.to_str().unwrap())
        .unwrap_or_else(|| panic!("later.txt not in {files}"));
    assert_eq!(row["size"], 6);
    let first_id = snapshots[0]["id"].as_str().unwrap();
    let first_files = catalog(&dest, &[&first_id[..8]]);
    assert!(!first_files
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == later.to_str().unwrap()));

    // A restored mirror is browsable at once, even with every pack gone.
    let copied = scratch.path("copied");
    let mut command = crate::support::cairn();
    run_ok(
        with_s3_env(&mut command)
            .args(["mirror", "restore", &dest, "--mode", "copy", "--target"])
            .arg(&copied),
    );
    std::fs::remove_dir_all(copied.join("data")).unwrap();
    let text = stdout(&run_ok(scratch.cairn(&copied).args(["catalog", "latest"])));
    assert!(text.contains("later.txt"), "{text}");
    // A second sync with nothing new leaves the manifest alone.
    let again = sync_json(&scratch, &repo, &dest, &[]);
    assert_eq!(n(&again, "manifest_bytes"), 0, "{again}");
}

#[test]
fn orphans_lists_every_repository_under_a_prefix_and_marks_the_unknown() {
    let scratch = Scratch::new();
    let offsite = S3TestServer::shared();
    let base = unique_prefix("fleet");
    let web = scratch.init_repo("web");
    let db = scratch.init_repo("db");
    let source = scratch.path("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("f"), b"x").unwrap();
    for repo in [&web, &db] {
        run_ok(scratch.cairn(repo).arg("backup").arg(&source));
    }
    run_ok(scratch.cairn(&db).arg("backup").arg(&source));
    let url = |p: &str| offsite.url(server::BUCKET, &format!("{base}/{p}"));
    sync_json(&scratch, web.to_str().unwrap(), &url("hosts/web1"), &[]);
    sync_json(&scratch, db.to_str().unwrap(), &url("hosts/db1"), &[]);
    // A retired host's mirror, and one under another password.
    init_s3_repo(offsite, &format!("{base}/old/web0"));
    let other = std::sync::Arc::new(offsite.store(&format!("{base}/other")));
    let options = cairn_repo::keys::KeyOptions {
        kdf: Some(crate::support::TEST_KDF),
        ..Default::default()
    };
    cairn_repo::Repository::init(other, b"another password", &options).unwrap();

    let output = run_ok(
        cairn_at(&scratch, "unused")
            .args([
                "--json",
                "mirror",
                "orphans",
                &offsite.url(server::BUCKET, &base),
            ])
            .arg("--known")
            .arg(&web)
            .arg("--known")
            .arg(&db),
    );
    let found: Vec<Value> = serde_json::from_str(stdout(&output).trim()).unwrap();
    let status: BTreeMap<String, (String, u64)> = found
        .iter()
        .map(|f| {
            let prefix = f["prefix"]
                .as_str()
                .unwrap()
                .trim_start_matches(&format!("{base}/"))
                .to_string();
            (
                prefix,
                (
                    f["status"].as_str().unwrap().to_string(),
                    f["snapshots"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<String, (String, u64)> = [
        ("hosts/db1", ("known", 2)),
        ("hosts/web1", ("known", 1)),
        ("old/web0", ("orphan", 0)),
        ("other", ("unopened", 0)),
    ]
    .into_iter()
    .map(|(p, (s, n))| (p.to_string(), (s.to_string(), n)))
    .collect();
    assert_eq!(status, expected);
    let web1 = found
        .iter()
        .find(|f| f["prefix"].as_str().unwrap().ends_with("web1"))
        .unwrap();
    assert!(web1["newest_snapshot"].is_string(), "{web1}");
}

/// `rclone` (Debian's 1.60) configured for the test server through its environment. It
/// fails on http endpoints while AWS_CA_BUNDLE is set, so that is removed.
fn rclone(server: &S3TestServer) -> Command {
    let mut command = Command::new("rclone");
    command
        .env_remove("AWS_CA_BUNDLE")
        .env("RCLONE_CONFIG_T_TYPE", "s3")
        .env("RCLONE_CONFIG_T_PROVIDER", "Other")
        .env("RCLONE_CONFIG_T_ENDPOINT", server.endpoint())
        .env("RCLONE_CONFIG_T_REGION", "us-east-1")
        .env("RCLONE_CONFIG_T_FORCE_PATH_STYLE", "true")
        .env("RCLONE_CONFIG_T_ACCESS_KEY_ID", server::ACCESS_KEY_ID)
        .env(
            "RCLONE_CONFIG_T_SECRET_ACCESS_KEY",
            server::SECRET_ACCESS_KEY,
        );
    command
}

#[test]
fn rclone_reads_the_mirror_cairn_wrote_and_finds_it_identical() {
    let Mirrored {
        scratch,
        offsite,
        local_path,
        repo,
        prefix,
        dest,
        ..
    } = mirrored("rclone", 31);
    let output = run_ok(cairn_at(&scratch, &repo).args(["--json", "mirror", "sync", &dest]));
    // Progress comes as JSON status lines before the summary.
    let statuses: Vec<Value> = stdout(&output)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message_type"] == "status")
        .collect();
    assert!(!statuses.is_empty(), "no progress lines");
    assert!(statuses.iter().all(|s| s["operation"] == "mirror"));
    let last = statuses.last().unwrap();
    assert_eq!(last["phase"], "done", "{last}");
    assert!(last["bytes_total"].as_u64().unwrap() > 0, "{last}");
    assert_eq!(last["bytes_done"], last["bytes_total"], "{last}");

    // rclone compares sizes and MD5s (S3 ETags) of every file, both ways.
    let remote = format!("t:{}/{prefix}", server::BUCKET);
    run_ok(
        rclone(offsite)
            .args(["check", "--one-way"])
            .arg(&local_path)
            .arg(&remote)
            .args(["--exclude", "locks/**"]),
    );
    let listing = run_ok(rclone(offsite).args(["lsf", "-R", "--files-only", &remote]));
    let names: Vec<String> = stdout(&listing).lines().map(str::to_string).collect();
    let local = objects(&cairn_storage::LocalStore::new(&local_path));
    assert_eq!(
        names.iter().filter(|n| !n.starts_with("cairn-")).count(),
        local.len(),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "cairn-manifest"), "{names:?}");
}

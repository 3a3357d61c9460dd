//! Repositories on S3 (a real server: moto with SigV4 checked, started by the test): every
//! engine command on an `s3:` repository, restic reading what cairn wrote there, and the
//! errors a user meets (wrong secret, missing bucket, no credentials).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use cairn_repo::keys::KeyOptions;
pub use cairn_storage::s3_test_server::unique_prefix;
use cairn_storage::s3_test_server::{self as server, S3TestServer};

use crate::support::compare::CompareOptions;
use crate::support::rng::Rng;
use crate::support::{
    cairn, compare_trees, fixture, restic, restored, run_fail, run_ok, snapshots_json, stderr,
    stdout, Scratch, TEST_KDF,
};

const PASSWORD: &[u8] = b"correct horse battery staple";

/// Sets the test server's credentials on a command (cairn or restic).
pub fn with_s3_env(command: &mut Command) -> &mut Command {
    command
        .env("AWS_ACCESS_KEY_ID", server::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", server::SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_SESSION_TOKEN")
}

/// `TOOL -r URL --password-file F` with the server's credentials.
fn at(mut command: Command, scratch: &Scratch, url: &str) -> Command {
    with_s3_env(&mut command)
        .env("CAIRN_CACHE_DIR", scratch.path("cache"))
        .arg("-r")
        .arg(url)
        .arg("--password-file")
        .arg(&scratch.password_file);
    command
}

/// `cairn -r URL --password-file F` with the server's credentials.
pub fn cairn_at(scratch: &Scratch, url: &str) -> Command {
    at(cairn(), scratch, url)
}

/// `restic -r URL --password-file F` with the server's credentials.
pub fn restic_at(scratch: &Scratch, url: &str) -> Command {
    at(restic(), scratch, url)
}

/// Creates a repository at `prefix` on the server with cheap KDF parameters; returns its URL.
pub fn init_s3_repo(server: &S3TestServer, prefix: &str) -> String {
    let store = Arc::new(server.store(prefix));
    let options = KeyOptions {
        kdf: Some(TEST_KDF),
        ..KeyOptions::default()
    };
    cairn_repo::Repository::init(store, PASSWORD, &options).expect("init S3 repository");
    server.url(server::BUCKET, prefix)
}

/// A tree with the special cases and a few MiB of bulk (S3 test servers are slow).
pub fn small_tree(root: &Path, seed: u64) -> fixture::Fixture {
    let fixture = fixture::build_special(root, seed);
    let mut rng = Rng::new(seed);
    std::fs::create_dir_all(root.join("bulk")).unwrap();
    std::fs::write(root.join("bulk/random.bin"), rng.bytes(3 << 20)).unwrap();
    std::fs::write(root.join("bulk/app.log"), rng.log_lines(1 << 20)).unwrap();
    fixture
}

fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .filter(|l| l.starts_with('{') || l.starts_with('['))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_engine_command_works_on_s3_and_restic_reads_it() {
    let scratch = Scratch::new();
    let server = S3TestServer::shared();
    let url = init_s3_repo(server, &unique_prefix("engine"));
    let source = scratch.path("src");
    let fixture = small_tree(&source, 7);

    run_ok(cairn_at(&scratch, &url).arg("backup").arg(&source));
    std::fs::write(source.join("bulk/added.txt"), b"day two\n").unwrap();
    run_ok(
        cairn_at(&scratch, &url)
            .args(["backup", "--tag", "second"])
            .arg(&source),
    );
    let snapshots = snapshots_json(&mut cairn_at(&scratch, &url));
    assert_eq!(snapshots.len(), 2);
    let first = snapshots[0]["id"].as_str().unwrap().to_string();
    let second = snapshots[1]["id"].as_str().unwrap().to_string();
    assert_eq!(
        snapshots[1]["parent"], snapshots[0]["id"],
        "parent found on S3"
    );

    let listing = stdout(&run_ok(cairn_at(&scratch, &url).args(["ls", &second])));
    assert!(listing.contains("added.txt"), "{listing}");
    let added = source.join("bulk/added.txt");
    let dumped = run_ok(cairn_at(&scratch, &url).args(["dump", &second]).arg(&added));
    assert_eq!(dumped.stdout, b"day two\n");
    let found = stdout(&run_ok(
        cairn_at(&scratch, &url).args(["find", "added.txt"]),
    ));
    assert!(found.contains(&second[..8]), "{found}");
    let diff = stdout(&run_ok(
        cairn_at(&scratch, &url).args(["diff", &first, &second]),
    ));
    assert!(diff.contains("added.txt"), "{diff}");
    run_ok(cairn_at(&scratch, &url).args(["stats", "--json"]));
    run_ok(cairn_at(&scratch, &url).args(["tag", "--add", "on-s3", &second]));

    let target = scratch.path("restore-cairn");
    run_ok(
        cairn_at(&scratch, &url)
            .args(["restore", "latest", "--verify", "--target"])
            .arg(&target),
    );
    let differences = compare_trees(
        &source,
        &restored(&target, &source),
        CompareOptions::default(),
        &[],
    );
    assert!(
        differences.is_empty(),
        "cairn restore from S3: {differences:#?}"
    );
    run_ok(cairn_at(&scratch, &url).args(["check", "--read-data"]));

    // Keys, locks and index maintenance.
    let new_password = scratch.path("password2");
    std::fs::write(&new_password, "second password\n").unwrap();
    run_ok(
        cairn_at(&scratch, &url)
            .args(["key", "add", "--new-password-file"])
            .arg(&new_password),
    );
    let keys = stdout(&run_ok(
        cairn_at(&scratch, &url).args(["key", "list", "--json"]),
    ));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&keys)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    run_ok(cairn_at(&scratch, &url).args(["unlock"]));
    run_ok(cairn_at(&scratch, &url).args(["repair", "index"]));

    // Copy S3 → local and back into a fresh S3 repository.
    let local = scratch.init_repo("local");
    run_ok(
        scratch
            .cairn(&local)
            .args(["copy", "--from-password-file"])
            .arg(&scratch.password_file)
            .arg("--from-repo")
            .arg(&url)
            .envs([
                ("AWS_ACCESS_KEY_ID", server::ACCESS_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", server::SECRET_ACCESS_KEY),
            ]),
    );
    assert_eq!(snapshots_json(&mut scratch.cairn(&local)).len(), 2);

    // restic reads what cairn wrote on S3.
    run_ok(restic_at(&scratch, &url).args(["check", "--read-data"]));
    let restic_snapshots = snapshots_json(&mut restic_at(&scratch, &url));
    assert_eq!(restic_snapshots.len(), 2);
    let restic_target = scratch.path("restore-restic");
    run_ok(
        restic_at(&scratch, &url)
            .args(["restore", "latest", "--target"])
            .arg(&restic_target),
    );
    let differences = compare_trees(
        &source,
        &restored(&restic_target, &source),
        CompareOptions::default(),
        &fixture.restic_014_lossy,
    );
    assert!(
        differences.is_empty(),
        "restic restore from S3: {differences:#?}"
    );

    // Retention and pruning on S3; both tools' checks agree afterwards.
    let forget =
        run_ok(cairn_at(&scratch, &url).args(["forget", "--keep-last", "1", "--prune", "--json"]));
    assert!(!json_lines(&forget).is_empty());
    assert_eq!(snapshots_json(&mut cairn_at(&scratch, &url)).len(), 1);
    run_ok(cairn_at(&scratch, &url).args(["check", "--read-data"]));
    run_ok(restic_at(&scratch, &url).args(["check", "--read-data"]));

    // restic writes into the cairn-made S3 repository; cairn reads it.
    run_ok(restic_at(&scratch, &url).arg("backup").arg(&source));
    assert_eq!(snapshots_json(&mut cairn_at(&scratch, &url)).len(), 2);
    run_ok(cairn_at(&scratch, &url).args(["check", "--read-data"]));
}

#[test]
fn cairn_init_on_s3_makes_a_repository_restic_opens() {
    let scratch = Scratch::new();
    let server = S3TestServer::shared();
    let url = server.url(server::BUCKET, &unique_prefix("init"));
    run_ok(cairn_at(&scratch, &url).arg("init"));
    let again = run_fail(cairn_at(&scratch, &url).arg("init"));
    assert!(stderr(&again).contains("already"), "{}", stderr(&again));
    run_ok(restic_at(&scratch, &url).arg("snapshots"));
}

#[test]
fn s3_errors_are_one_clear_line_without_the_secret() {
    let scratch = Scratch::new();
    let server = S3TestServer::shared();
    let url = init_s3_repo(server, &unique_prefix("errors"));

    let wrong = run_fail(
        cairn_at(&scratch, &url)
            .env("AWS_SECRET_ACCESS_KEY", "a-wrong-secret-value")
            .arg("snapshots"),
    );
    let text = stderr(&wrong);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(
        text.contains(server::ACCESS_KEY_ID) && text.contains("SignatureDoesNotMatch"),
        "{text}"
    );
    assert!(
        !text.contains("a-wrong-secret-value") && !text.contains(server::SECRET_ACCESS_KEY),
        "{text}"
    );

    let missing = server.url("no-such-bucket", "repo");
    let text = stderr(&run_fail(cairn_at(&scratch, &missing).arg("snapshots")));
    assert!(
        text.contains(&format!(
            "bucket no-such-bucket does not exist at {}; create it first",
            server.endpoint()
        )),
        "{text}"
    );
    let text = stderr(&run_fail(cairn_at(&scratch, &missing).arg("init")));
    assert!(text.contains("does not exist"), "{text}");

    let text = stderr(&run_fail(
        cairn_at(&scratch, &url)
            .env_remove("AWS_ACCESS_KEY_ID")
            .arg("snapshots"),
    ));
    assert!(text.contains("AWS_ACCESS_KEY_ID is not set"), "{text}");

    let text = stderr(&run_fail(
        cairn_at(
            &scratch,
            &server.url(server::BUCKET, &unique_prefix("empty")),
        )
        .arg("snapshots"),
    ));
    assert!(
        text.contains("is not a repository") || text.contains("no repository"),
        "{text}"
    );
}

//! The real `restic` binary (Debian's 0.14) as the oracle, in both directions:
//! - a repository restic initialises opens with cairn-crypto (key file, master key, config), and
//!   cairn reads the same master key and config as `restic cat` prints;
//! - a key file and config sealed by cairn-crypto open with restic (`cat`, `check`), both in a
//!   repository cairn writes from scratch and as an extra key added to restic's own repository.
//!
//! These tests FAIL when restic is missing: the project's test command installs it, and a format
//! test that skips silently proves nothing.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use cairn_crypto::{calibrate_kdf, CryptoError, KdfParams, MasterKey};
use common::{assert_v2_config, master_key_value, open_key_file, storage_id, write_key_file};

const PASSWORD: &str = "correct horse battery staple";

/// Runs restic against `repository` with `password`, isolated from the caller's environment.
fn restic(repository: &Path, password: &str, arguments: &[&str]) -> Output {
    let cache = repository.with_extension("cache");
    let output = Command::new("restic")
        .args(["--no-cache", "-r"])
        .arg(repository)
        .args(arguments)
        .env("RESTIC_PASSWORD", password)
        .env("RESTIC_CACHE_DIR", &cache)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_REPOSITORY_FILE")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_PASSWORD_COMMAND")
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run `restic` ({error}): install it with `apt-get install -y restic`; \
                 the project's test command does, and this test must not skip"
            )
        });
    output
}

fn restic_ok(repository: &Path, password: &str, arguments: &[&str]) -> Vec<u8> {
    let output = restic(repository, password, arguments);
    assert!(
        output.status.success(),
        "restic {arguments:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(bytes)))
}

fn only_key_file(repository: &Path) -> (String, Vec<u8>) {
    let mut entries: Vec<_> = fs::read_dir(repository.join("keys"))
        .unwrap()
        .map(|entry| entry.unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "one key file after init");
    let entry = entries.remove(0);
    (
        entry.file_name().into_string().unwrap(),
        fs::read(entry.path()).unwrap(),
    )
}

fn write_file(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

#[test]
fn cairn_opens_a_repository_restic_initialised() {
    let temp = tempfile::tempdir().unwrap();
    let repository = temp.path().join("repo");
    restic_ok(
        &repository,
        PASSWORD,
        &["init", "--repository-version", "2"],
    );

    let (name, key_file) = only_key_file(&repository);
    assert_eq!(name, storage_id(&key_file));
    let master = open_key_file(&key_file, PASSWORD.as_bytes()).unwrap();
    assert_eq!(
        master_key_value(&master),
        json(&restic_ok(&repository, PASSWORD, &["cat", "masterkey"]))
    );

    // config is an encrypted object, not compressed: plain JSON once opened.
    let mut sealed_config = fs::read(repository.join("config")).unwrap();
    let config = assert_v2_config(&master.open(&sealed_config).unwrap());
    assert_eq!(
        config,
        json(&restic_ok(&repository, PASSWORD, &["cat", "config"]))
    );
    let in_place = master.open_in_place(&mut sealed_config).unwrap();
    assert_eq!(json(in_place), config);

    let error = open_key_file(&key_file, b"wrong password").err().unwrap();
    assert!(matches!(error, CryptoError::MacMismatch), "{error}");
}

#[test]
fn restic_opens_a_key_and_config_sealed_by_cairn() {
    let temp = tempfile::tempdir().unwrap();
    let repository = temp.path().join("repo");
    let master = MasterKey::generate();
    // Calibrated like a new cairn key: proves restic accepts what calibration picks.
    let params = calibrate_kdf();
    params.validate().unwrap();

    let id: String = cairn_crypto::random_bytes::<32>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let config = format!(r#"{{"version":2,"id":"{id}","chunker_polynomial":"2a4064ab436b3b"}}"#);
    write_file(&repository.join("config"), &master.seal(config.as_bytes()));
    let key_file = write_key_file(&master, PASSWORD.as_bytes(), params);
    write_file(
        &repository.join("keys").join(storage_id(&key_file)),
        &key_file,
    );
    for directory in ["data", "index", "snapshots", "locks"] {
        fs::create_dir_all(repository.join(directory)).unwrap();
    }

    assert_eq!(
        json(&restic_ok(&repository, PASSWORD, &["cat", "config"])),
        json(config.as_bytes())
    );
    assert_eq!(
        json(&restic_ok(&repository, PASSWORD, &["cat", "masterkey"])),
        master_key_value(&master)
    );
    let check = restic_ok(&repository, PASSWORD, &["check"]);
    assert!(
        String::from_utf8_lossy(&check).contains("no errors were found"),
        "{}",
        String::from_utf8_lossy(&check)
    );

    let wrong = restic(&repository, "not the password", &["cat", "config"]);
    assert!(
        !wrong.status.success(),
        "restic must refuse a wrong password"
    );
}

#[test]
fn restic_accepts_a_key_cairn_adds_to_its_repository() {
    let temp = tempfile::tempdir().unwrap();
    let repository = temp.path().join("repo");
    restic_ok(
        &repository,
        PASSWORD,
        &["init", "--repository-version", "2"],
    );
    let (_, restic_key_file) = only_key_file(&repository);
    let master = open_key_file(&restic_key_file, PASSWORD.as_bytes()).unwrap();

    // A cheap fixed parameter set keeps the test fast; restic honours what the file says.
    let params = KdfParams {
        n: 1 << 14,
        r: 8,
        p: 1,
    };
    let added = write_key_file(&master, b"second password", params);
    write_file(&repository.join("keys").join(storage_id(&added)), &added);

    let listed =
        String::from_utf8(restic_ok(&repository, "second password", &["key", "list"])).unwrap();
    // restic marks the key it opened with `*`: that must be ours, found by the second password.
    let current = listed
        .lines()
        .find(|line| line.starts_with('*'))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(current.contains("cairn-test"), "{listed}");
    let via_new_key = json(&restic_ok(
        &repository,
        "second password",
        &["cat", "config"],
    ));
    let via_old_key = json(&restic_ok(&repository, PASSWORD, &["cat", "config"]));
    assert_eq!(via_new_key, via_old_key);
}

//! A repository initialised once by restic 0.14 (tests/data/restic-0.14-init), opened with no
//! restic binary around: key file → derived key → master key → config.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use cairn_crypto::CryptoError;
use common::{assert_v2_config, master_key_value, open_key_file, storage_id};

const PASSWORD: &[u8] = b"cairn golden fixture";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/restic-0.14-init")
}

fn only_key_file() -> (String, Vec<u8>) {
    let mut entries: Vec<_> = fs::read_dir(fixture().join("keys"))
        .unwrap()
        .map(|entry| entry.unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    let entry = entries.remove(0);
    (
        entry.file_name().into_string().unwrap(),
        fs::read(entry.path()).unwrap(),
    )
}

fn read_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fs::read(fixture().join(name)).unwrap()).unwrap()
}

#[test]
fn opens_restic_key_file_and_config() {
    let (name, key_file) = only_key_file();
    assert_eq!(
        name,
        storage_id(&key_file),
        "key files are named by the SHA-256 of their bytes"
    );

    let master = open_key_file(&key_file, PASSWORD).unwrap();
    assert_eq!(
        master_key_value(&master),
        read_json("masterkey-from-restic-cat.json")
    );

    let config = master
        .open(&fs::read(fixture().join("config")).unwrap())
        .unwrap();
    let config = assert_v2_config(&config);
    assert_eq!(config, read_json("config-from-restic-cat.json"));
}

#[test]
fn wrong_password_is_a_mac_mismatch() {
    let (_, key_file) = only_key_file();
    let error = open_key_file(&key_file, b"cairn golden fixturE")
        .err()
        .unwrap();
    assert!(matches!(error, CryptoError::MacMismatch), "{error}");
    assert!(error.to_string().contains("wrong password"), "{error}");
}

#[test]
fn flipped_bit_in_config_is_detected() {
    let (_, key_file) = only_key_file();
    let master = open_key_file(&key_file, PASSWORD).unwrap();
    let mut config = fs::read(fixture().join("config")).unwrap();
    let middle = config.len() / 2;
    config[middle] ^= 0x04;
    assert!(matches!(
        master.open(&config),
        Err(CryptoError::MacMismatch)
    ));
    assert!(matches!(
        master.open_in_place(&mut config),
        Err(CryptoError::MacMismatch)
    ));
}

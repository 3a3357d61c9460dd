//! Helpers shared by the integration tests: reading a restic key file the way the engine will.
//! (Key file parsing proper belongs to cairn-format; this is the minimum the tests need.)

#![allow(dead_code)] // Each test binary uses a different subset.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn_crypto::{derive_key, CryptoError, KdfParams, MasterKey};
use sha2::{Digest, Sha256};

/// The fields of a key file that matter to the crypto.
pub struct KeyFile {
    pub params: KdfParams,
    pub salt: Vec<u8>,
    pub data: Vec<u8>,
}

pub fn parse_key_file(bytes: &[u8]) -> KeyFile {
    let json: serde_json::Value = serde_json::from_slice(bytes).expect("key file is JSON");
    assert_eq!(json["kdf"], "scrypt", "key file kdf");
    let number = |name: &str| {
        json[name]
            .as_u64()
            .unwrap_or_else(|| panic!("key file {name}"))
    };
    let base64_field = |name: &str| {
        STANDARD
            .decode(
                json[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("key file {name}")),
            )
            .unwrap_or_else(|error| panic!("key file {name}: {error}"))
    };
    KeyFile {
        params: KdfParams {
            n: number("N"),
            r: number("r").try_into().unwrap(),
            p: number("p").try_into().unwrap(),
        },
        salt: base64_field("salt"),
        data: base64_field("data"),
    }
}

/// Password → derived key → master key, as `restic` does when it opens a repository.
pub fn open_key_file(bytes: &[u8], password: &[u8]) -> Result<MasterKey, CryptoError> {
    let key_file = parse_key_file(bytes);
    let derived = derive_key(password, &key_file.salt, key_file.params)?;
    let master_json = derived.open(&key_file.data)?;
    MasterKey::from_json(&master_json)
}

/// A key file as restic writes it, sealing `master` under `password`.
pub fn write_key_file(master: &MasterKey, password: &[u8], params: KdfParams) -> Vec<u8> {
    let salt = cairn_crypto::random_bytes::<{ cairn_crypto::SALT_LEN }>();
    let derived = derive_key(password, &salt, params).unwrap();
    let data = derived.seal(master.to_json().expose());
    serde_json::to_vec(&serde_json::json!({
        "created": "2026-01-02T03:04:05.123456789Z",
        "username": "cairn-test",
        "hostname": "cairn-test",
        "kdf": "scrypt",
        "N": params.n,
        "r": params.r,
        "p": params.p,
        "salt": STANDARD.encode(salt),
        "data": STANDARD.encode(data),
    }))
    .unwrap()
}

/// Lowercase hex SHA-256: the name of every repository file but `config`.
pub fn storage_id(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Asserts `plaintext` is a restic v2 config and returns it parsed.
pub fn assert_v2_config(plaintext: &[u8]) -> serde_json::Value {
    let config: serde_json::Value = serde_json::from_slice(plaintext).expect("config is JSON");
    assert_eq!(config["version"], 2, "{config}");
    let polynomial = config["chunker_polynomial"]
        .as_str()
        .expect("chunker_polynomial");
    assert!(
        !polynomial.is_empty() && polynomial.chars().all(|c| c.is_ascii_hexdigit()),
        "{polynomial}"
    );
    let id = config["id"].as_str().expect("id");
    assert_eq!(id.len(), 64, "{id}");
    config
}

/// The master key JSON, parsed, for comparing with what `restic cat masterkey` prints.
pub fn master_key_value(key: &MasterKey) -> serde_json::Value {
    serde_json::from_slice(key.to_json().expose()).unwrap()
}

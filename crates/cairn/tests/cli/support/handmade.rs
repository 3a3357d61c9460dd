//! Repositories built from hand-written JSON, sealed with cairn-crypto: fixtures holding each
//! object exactly as another writer of the format (restic 0.17, another implementation) stores
//! it, which cairn's own writer never produces. Readable JSON in the test, no opaque binaries.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn_crypto::{derive_key, random_bytes, MasterKey, SALT_LEN};
use cairn_format::pack::{encode_header, PackBlob};
use cairn_format::unpacked::encode_unpacked;
use cairn_format::{BlobType, Id};

use super::inspect::PASSWORD;
use super::TEST_KDF;

/// One blob to put in a pack: its type, plaintext, and whether it is stored zstd-compressed.
pub struct BlobSpec<'a> {
    pub blob_type: BlobType,
    pub plaintext: &'a [u8],
    pub compressed: bool,
}

/// A repository directory being written object by object, every object sealed with one
/// master key. Unpacked files (index, snapshot, lock) are stored as plain JSON or, with
/// `zstd_unpacked`, in the v2 `0x02`+zstd framing.
pub struct HandmadeRepo {
    pub path: PathBuf,
    key: MasterKey,
    zstd_unpacked: bool,
}

impl HandmadeRepo {
    pub fn new(path: &Path, zstd_unpacked: bool) -> HandmadeRepo {
        for dir in ["keys", "data", "index", "snapshots", "locks"] {
            fs::create_dir_all(path.join(dir)).expect("repository directory");
        }
        HandmadeRepo {
            path: path.to_path_buf(),
            key: MasterKey::generate(),
            zstd_unpacked,
        }
    }

    /// Writes a key file for the test password. `json_of(salt, data)` returns the file's JSON
    /// given the base64 salt and sealed master key; its scrypt parameters must be
    /// [`TEST_KDF`]'s (N 1024, r 8, p 1).
    pub fn write_key(&self, json_of: impl Fn(&str, &str) -> String) -> Id {
        let salt = random_bytes::<SALT_LEN>();
        let user_key = derive_key(PASSWORD, &salt, TEST_KDF).expect("derive key");
        let data = user_key.seal(self.key.to_json().expose());
        let json = json_of(&STANDARD.encode(salt), &STANDARD.encode(data));
        self.store("keys", json.as_bytes())
    }

    /// Seals `json` as the `config` file.
    pub fn write_config(&self, json: &str) {
        fs::write(self.path.join("config"), self.key.seal(json.as_bytes())).expect("config");
    }

    /// Writes a pack of `blobs`; returns its id and the header entries (blob ids, offsets,
    /// lengths) for the index JSON.
    pub fn write_pack(&self, blobs: &[BlobSpec]) -> (Id, Vec<PackBlob>) {
        let mut pack = Vec::new();
        let mut entries = Vec::new();
        for blob in blobs {
            let stored = if blob.compressed {
                zstd::bulk::compress(blob.plaintext, 3).expect("zstd")
            } else {
                blob.plaintext.to_vec()
            };
            let sealed = self.key.seal(&stored);
            entries.push(PackBlob {
                blob_type: blob.blob_type,
                id: Id::hash(blob.plaintext),
                offset: pack.len() as u32,
                length: sealed.len() as u32,
                uncompressed_length: blob.compressed.then_some(blob.plaintext.len() as u32),
            });
            pack.extend_from_slice(&sealed);
        }
        let header = self.key.seal(&encode_header(&entries));
        pack.extend_from_slice(&header);
        pack.extend_from_slice(&(header.len() as u32).to_le_bytes());
        let id = Id::hash(&pack);
        let hex = id.to_hex();
        let dir = self.path.join("data").join(&hex[..2]);
        fs::create_dir_all(&dir).expect("data directory");
        fs::write(dir.join(&hex), &pack).expect("pack");
        (id, entries)
    }

    /// Seals `json` as an unpacked file (`index`, `snapshots` or `locks`); returns its id.
    pub fn write_unpacked(&self, dir: &str, json: &str) -> Id {
        let plaintext = if self.zstd_unpacked {
            encode_unpacked(json.as_bytes(), 3)
        } else {
            json.as_bytes().to_vec()
        };
        self.store(dir, &self.key.seal(&plaintext))
    }

    /// Stores `bytes` in `dir` under their SHA-256.
    fn store(&self, dir: &str, bytes: &[u8]) -> Id {
        let id = Id::hash(bytes);
        fs::write(self.path.join(dir).join(id.to_hex()), bytes).expect("object");
        id
    }
}

//! The instance key: 32 random bytes in `STATE_DIR/instance.key` (mode 0600), made with the
//! state directory. Secrets the server must read back (TOTP seeds, credentials typed into
//! the UI) are sealed with it (XChaCha20-Poly1305, a random 24-byte nonce each time) and
//! stored as `sealed:v1:BASE64`. Each seal names what it is for (the associated data), so a
//! sealed value moved to another purpose does not open.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

pub const INSTANCE_KEY_FILE: &str = "instance.key";
const SEALED_PREFIX: &str = "sealed:v1:";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or create the instance key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the instance key {path} is {why}; {what_to_do}")]
    Unusable {
        path: PathBuf,
        why: String,
        what_to_do: &'static str,
    },
    /// Wrong key, wrong purpose, or damaged text. Says which purpose, never the value.
    #[error("a sealed {purpose} does not open with this server's instance key (another server's, or damaged); enter the secret again")]
    Unseal { purpose: String },
}

/// Never printed: its `Debug` shows no byte.
pub struct InstanceKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for InstanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstanceKey(***)")
    }
}

impl InstanceKey {
    /// Reads `STATE_DIR/instance.key`, creating it (0600, exclusively) when missing.
    pub fn load_or_create(state_dir: &Path) -> Result<InstanceKey, KeyError> {
        let path = state_dir.join(INSTANCE_KEY_FILE);
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => return InstanceKey::from_file_bytes(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let mut key = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match created {
            Ok(mut file) => {
                file.write_all(&key).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(InstanceKey::from_bytes(&key))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = std::fs::read(&path).map_err(io)?;
                InstanceKey::from_file_bytes(&path, &bytes)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_file_bytes(path: &Path, bytes: &[u8]) -> Result<InstanceKey, KeyError> {
        let mode = std::fs::metadata(path)
            .map_err(|source| KeyError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Unusable {
                path: path.to_path_buf(),
                why: format!("readable by others (mode {:o})", mode & 0o777),
                what_to_do: "run chmod 600 on it",
            });
        }
        if bytes.len() != KEY_BYTES {
            return Err(KeyError::Unusable {
                path: path.to_path_buf(),
                why: format!("{} bytes long, not {KEY_BYTES}", bytes.len()),
                what_to_do: "restore it from the server backup; without it sealed secrets must be entered again",
            });
        }
        Ok(InstanceKey::from_bytes(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> InstanceKey {
        InstanceKey {
            cipher: XChaCha20Poly1305::new_from_slice(bytes).expect("32-byte key"),
        }
    }

    /// Seals `plaintext` for `purpose` (e.g. `"totp seed"`): `sealed:v1:…`.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any length this server handles");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens what [`InstanceKey::seal`] made for the same `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
        let unseal = || KeyError::Unseal {
            purpose: purpose.to_string(),
        };
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or_else(unseal)?;
        if bytes.len() < NONCE_BYTES {
            return Err(unseal());
        }
        let (nonce, body) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| unseal())
    }

    /// Whether `text` is a sealed value (so a config reader knows to open it).
    pub fn is_sealed(text: &str) -> bool {
        text.starts_with(SEALED_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let key = InstanceKey::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(INSTANCE_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = key.seal("totp seed", b"JBSWY3DPEHPK3PXP");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert!(InstanceKey::is_sealed(&sealed));
        // The same file gives the same key.
        let again = InstanceKey::load_or_create(dir.path()).unwrap();
        assert_eq!(
            again.open("totp seed", &sealed).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        // Another purpose, another key, a flipped character: refused, the value unnamed.
        let error = again.open("offsite credentials", &sealed).unwrap_err();
        assert!(
            error.to_string().contains("sealed offsite credentials"),
            "{error}"
        );
        let other = InstanceKey::from_bytes(&[7u8; 32]);
        assert!(other.open("totp seed", &sealed).is_err());
        let mut damaged = sealed.clone().into_bytes();
        let last = damaged.len() - 2;
        damaged[last] = if damaged[last] == b'A' { b'B' } else { b'A' };
        assert!(key
            .open("totp seed", std::str::from_utf8(&damaged).unwrap())
            .is_err());
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        InstanceKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(INSTANCE_KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = InstanceKey::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }
}

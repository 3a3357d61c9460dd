//! The recovery key: an X25519 key pair whose public half seals the server's self-backups, so
//! the server never holds what opens them. `STATE_DIR/recovery.pub` (0644) holds the public
//! key (and, for a passphrase key, the argon2id salt and parameters); a generated secret waits
//! in `STATE_DIR/recovery-key.once` (0600) until `cairn recovery-key show --once` prints it
//! and deletes the file. Nothing else on the server ever holds the secret.
//!
//! The key pair is made lazily: by the first server backup, `show --once` or daemon
//! start-up, whichever comes first (so existing state directories get one too).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};

pub const RECOVERY_PUB_FILE: &str = "recovery.pub";
pub const RECOVERY_ONCE_FILE: &str = "recovery-key.once";
/// How a generated secret is written (one line).
pub const SECRET_PREFIX: &str = "cairn-recovery-v1-";

/// argon2id cost for a passphrase key: 64 MiB, 3 passes, 1 lane (stored with the salt).
const PASSPHRASE_MEMORY_KIB: u32 = 64 * 1024;
const PASSPHRASE_PASSES: u32 = 3;
const PASSPHRASE_LANES: u32 = 1;
/// A hostile archive header must not make opening it allocate without bound.
const PASSPHRASE_MEMORY_KIB_MAX: u32 = 1024 * 1024;
const PASSPHRASE_PASSES_MAX: u32 = 16;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the recovery key was already shown once and is kept nowhere on this server; run `cairn recovery-key rotate` for a new one (archives made before still need the old key)")]
    AlreadyShown,
    #[error("{path} is {why}; run `cairn recovery-key rotate` to make a new recovery key")]
    Unusable { path: PathBuf, why: String },
    /// The recovery key file given to a restore holds neither a key nor a passphrase.
    #[error("{0}")]
    InvalidKey(String),
    #[error("the recovery key does not open {what}: {why}")]
    WrongKey { what: String, why: String },
    #[error("{what} is damaged or incomplete: {why}")]
    Damaged { what: String, why: String },
}

/// Argon2id parameters and salt of a passphrase key; stored beside the public key and in
/// every archive's header, so a fresh machine can derive the key from the passphrase alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassphraseKdf {
    pub salt: String,
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl PassphraseKdf {
    fn fresh() -> PassphraseKdf {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        PassphraseKdf {
            salt: URL_SAFE_NO_PAD.encode(salt),
            memory_kib: PASSPHRASE_MEMORY_KIB,
            passes: PASSPHRASE_PASSES,
            lanes: PASSPHRASE_LANES,
        }
    }

    /// The X25519 secret of `passphrase` under these parameters.
    pub fn derive(&self, passphrase: &str) -> Result<RecoverySecret, RecoveryError> {
        let invalid = |why: &str| RecoveryError::InvalidKey(format!("passphrase parameters {why}"));
        if self.memory_kib > PASSPHRASE_MEMORY_KIB_MAX
            || self.passes > PASSPHRASE_PASSES_MAX
            || self.lanes == 0
            || self.lanes > 16
        {
            return Err(invalid("are out of range"));
        }
        let salt = URL_SAFE_NO_PAD
            .decode(&self.salt)
            .map_err(|_| invalid("have a salt that is not base64url"))?;
        let params = Params::new(self.memory_kib, self.passes, self.lanes, Some(32))
            .map_err(|_| invalid("are not valid argon2id parameters"))?;
        let mut bytes = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), &salt, &mut bytes)
            .map_err(|_| invalid("do not accept this salt"))?;
        Ok(RecoverySecret(StaticSecret::from(bytes)))
    }
}

/// The public half, as `recovery.pub` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPublic {
    pub version: u32,
    /// base64url of the X25519 public key.
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<PassphraseKdf>,
}

impl RecoveryPublic {
    pub fn key(&self) -> Result<PublicKey, RecoveryError> {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&self.public_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                RecoveryError::InvalidKey(
                    "the recovery public key is not 32 bytes of base64url".into(),
                )
            })?;
        Ok(PublicKey::from(bytes))
    }

    fn of(secret: &RecoverySecret, passphrase: Option<PassphraseKdf>) -> RecoveryPublic {
        RecoveryPublic {
            version: 1,
            public_key: URL_SAFE_NO_PAD.encode(PublicKey::from(&secret.0).as_bytes()),
            passphrase,
        }
    }
}

/// The secret half. Never printed by `Debug`.
pub struct RecoverySecret(pub(crate) StaticSecret);

impl std::fmt::Debug for RecoverySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoverySecret(***)")
    }
}

impl RecoverySecret {
    pub fn generate() -> RecoverySecret {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        RecoverySecret(StaticSecret::from(bytes))
    }

    /// The one line a person keeps: `cairn-recovery-v1-BASE64URL`.
    pub fn to_text(&self) -> String {
        format!(
            "{SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.to_bytes())
        )
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::from(&self.0)
    }

    /// Reads the text of `to_text` (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Option<RecoverySecret> {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(text.trim().strip_prefix(SECRET_PREFIX)?)
            .ok()?
            .try_into()
            .ok()?;
        Some(RecoverySecret(StaticSecret::from(bytes)))
    }
}

/// What a restore was given in `--recovery-key-file`: a generated key, or a passphrase whose
/// parameters the archive's header carries.
#[derive(Debug)]
pub enum RecoveryKeyInput {
    Secret(RecoverySecret),
    Passphrase(String),
}

impl RecoveryKeyInput {
    /// The file's first line: a `cairn-recovery-v1-…` key, else a passphrase.
    pub fn from_file_text(text: &str) -> Result<RecoveryKeyInput, RecoveryError> {
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
        if line.starts_with(SECRET_PREFIX) {
            return RecoverySecret::parse(line)
                .map(RecoveryKeyInput::Secret)
                .ok_or_else(|| RecoveryError::InvalidKey(format!("the recovery key file holds a damaged key (a {SECRET_PREFIX}… line of 43 more characters is expected); copy the line again")));
        }
        if line.is_empty() {
            return Err(RecoveryError::InvalidKey(
                "the recovery key file is empty; write the recovery key (or passphrase) on its first line".into(),
            ));
        }
        Ok(RecoveryKeyInput::Passphrase(line.to_string()))
    }
}

/// The recovery key of a state directory (its public half).
pub struct RecoveryKey;

impl RecoveryKey {
    /// `recovery.pub`, made (with `recovery-key.once`) when missing.
    pub fn ensure(state_dir: &Path) -> Result<RecoveryPublic, RecoveryError> {
        let path = state_dir.join(RECOVERY_PUB_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => return parse_public(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(RecoveryError::Io { path, source }),
        }
        Self::install(state_dir, None)
    }

    /// The public key without making one.
    pub fn load(state_dir: &Path) -> Result<Option<RecoveryPublic>, RecoveryError> {
        let path = state_dir.join(RECOVERY_PUB_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => parse_public(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RecoveryError::Io { path, source }),
        }
    }

    /// The generated secret, once: read and deleted. A second call says it was shown.
    pub fn show_once(state_dir: &Path) -> Result<String, RecoveryError> {
        Self::ensure(state_dir)?;
        let path = state_dir.join(RECOVERY_ONCE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RecoveryError::AlreadyShown)
            }
            Err(source) => return Err(RecoveryError::Io { path, source }),
        };
        std::fs::remove_file(&path).map_err(|source| RecoveryError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(text.trim().to_string())
    }

    /// A new key pair: from `passphrase` (salt and public key stored), or generated (the
    /// secret waiting for `show --once`). Archives made before still need the old key.
    pub fn rotate(
        state_dir: &Path,
        passphrase: Option<&str>,
    ) -> Result<RecoveryPublic, RecoveryError> {
        Self::install(state_dir, passphrase)
    }

    fn install(
        state_dir: &Path,
        passphrase: Option<&str>,
    ) -> Result<RecoveryPublic, RecoveryError> {
        let once = state_dir.join(RECOVERY_ONCE_FILE);
        let public = match passphrase {
            Some(passphrase) => {
                if passphrase.trim().len() < 12 {
                    return Err(RecoveryError::InvalidKey(
                        "the passphrase is shorter than 12 characters; choose a longer one".into(),
                    ));
                }
                let kdf = PassphraseKdf::fresh();
                let secret = kdf.derive(passphrase)?;
                remove_if_present(&once)?;
                RecoveryPublic::of(&secret, Some(kdf))
            }
            None => {
                let secret = RecoverySecret::generate();
                write_file(&once, format!("{}\n", secret.to_text()).as_bytes(), 0o600)?;
                RecoveryPublic::of(&secret, None)
            }
        };
        let text = serde_json::to_vec_pretty(&public).expect("the public key serializes");
        write_file(&state_dir.join(RECOVERY_PUB_FILE), &text, 0o644)?;
        Ok(public)
    }
}

fn parse_public(path: &Path, bytes: &[u8]) -> Result<RecoveryPublic, RecoveryError> {
    let public: RecoveryPublic =
        serde_json::from_slice(bytes).map_err(|_| RecoveryError::Unusable {
            path: path.to_path_buf(),
            why: "not a recovery public key".into(),
        })?;
    public.key().map_err(|_| RecoveryError::Unusable {
        path: path.to_path_buf(),
        why: "not a recovery public key".into(),
    })?;
    Ok(public)
}

fn remove_if_present(path: &Path) -> Result<(), RecoveryError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RecoveryError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Written to a temporary file and renamed, with its mode from the start.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), RecoveryError> {
    let io = |source| RecoveryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_once_prints_the_secret_once_and_then_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let public = RecoveryKey::ensure(dir.path()).unwrap();
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(RECOVERY_PUB_FILE), 0o644);
        assert_eq!(mode(RECOVERY_ONCE_FILE), 0o600);
        let text = RecoveryKey::show_once(dir.path()).unwrap();
        assert!(text.starts_with(SECRET_PREFIX), "{text}");
        assert!(!dir.path().join(RECOVERY_ONCE_FILE).exists());
        let secret = RecoverySecret::parse(&text).unwrap();
        assert_eq!(secret.public(), public.key().unwrap());
        let again = RecoveryKey::show_once(dir.path()).unwrap_err();
        assert!(matches!(again, RecoveryError::AlreadyShown), "{again}");
        assert!(again.to_string().contains("cairn recovery-key rotate"));
        // Ensuring again keeps the same key.
        assert_eq!(RecoveryKey::ensure(dir.path()).unwrap(), public);
    }

    #[test]
    fn a_passphrase_key_stores_only_salt_and_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let public = RecoveryKey::rotate(dir.path(), Some("correct horse battery")).unwrap();
        assert!(!dir.path().join(RECOVERY_ONCE_FILE).exists());
        let kdf = public.passphrase.clone().unwrap();
        let secret = kdf.derive("correct horse battery").unwrap();
        assert_eq!(secret.public(), public.key().unwrap());
        assert_ne!(
            kdf.derive("wrong horse battery").unwrap().public(),
            public.key().unwrap()
        );
        let stored = std::fs::read_to_string(dir.path().join(RECOVERY_PUB_FILE)).unwrap();
        assert!(!stored.contains("horse"));
        assert!(matches!(
            RecoveryKey::rotate(dir.path(), Some("short")),
            Err(RecoveryError::InvalidKey(_))
        ));
    }
}

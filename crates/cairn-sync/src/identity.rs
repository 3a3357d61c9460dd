//! An instance's identity: one ed25519 key pair, kept in `STATE_DIR/identity.key`.
//!
//! - Instance id: `cairn-` + lowercase base32 (RFC 4648 alphabet, no padding) of the first 20
//!   bytes of SHA-256(public key): 32 characters after the prefix. A label is only a label; the
//!   id is what permissions, replicas and sessions are keyed by.
//! - Fingerprint: `SHA256:` + standard base64 without padding of SHA-256(public key), as
//!   OpenSSH prints key fingerprints. Tokens carry it; users compare it.
//! - Noise static key: the X25519 form of the same key (secret: the first 32 bytes of
//!   SHA-512(seed), which X25519 clamps as ed25519 does; public: the Montgomery form of the
//!   ed25519 public key), so one key is the identity in both. Using one key for signatures
//!   and Diffie-Hellman is analysed in "On using the same key pair for Ed25519 and an X25519
//!   based KEM" (IACR ePrint 2021/509); the signatures here cover context-prefixed transcripts.
//!
//! The key file is text: `cairn-identity-v1:` + standard base64 of the 32-byte ed25519 seed
//! and a newline, mode 0600. It is created atomically (temporary file, then a hard link that
//! never replaces an existing file) and a file that others may read is refused.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::SyncError;

const KEY_FILE_PREFIX: &str = "cairn-identity-v1:";
const INSTANCE_ID_PREFIX: &str = "cairn-";
/// Bytes of SHA-256(public key) an instance id keeps: 160 bits, 32 base32 characters.
const INSTANCE_ID_HASH_BYTES: usize = 20;

/// This instance's secret identity. Never printed: `Debug` shows the instance id only.
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// A new identity from `rng` (the caller passes the OS generator, tests a seeded one).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Identity {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Identity {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// Loads the identity at `path`, or creates it there (0600) when no file exists.
    /// A file readable or writable by group or others is refused, not repaired: someone may
    /// already have copied it.
    pub fn load_or_create(
        path: &Path,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Identity, SyncError> {
        match fs::symlink_metadata(path) {
            Ok(_) => Identity::load(path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let identity = Identity::generate(rng);
                if identity.write_new(path)? {
                    Ok(identity)
                } else {
                    // Another process created it first: theirs is the identity.
                    Identity::load(path)
                }
            }
            Err(source) => Err(io_error(path, source)),
        }
    }

    /// Loads an existing identity file.
    pub fn load(path: &Path) -> Result<Identity, SyncError> {
        let metadata = fs::symlink_metadata(path).map_err(|e| io_error(path, e))?;
        if !metadata.file_type().is_file() {
            return Err(bad_file(path, "is not a regular file"));
        }
        let mode = metadata.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad_file(
                path,
                &format!(
                    "is accessible by group or others (mode {mode:04o}); the key may be \
                     compromised: run `chmod 600 {}` if only you could read it, else \
                     remove it and pair again",
                    path.display()
                ),
            ));
        }
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| io_error(path, e))?);
        let encoded = text
            .trim_end_matches('\n')
            .strip_prefix(KEY_FILE_PREFIX)
            .ok_or_else(|| bad_file(path, "is not a cairn identity key (wrong first bytes)"))?;
        let seed = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| bad_file(path, "is damaged (not base64)"))?,
        );
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| bad_file(path, "is damaged (the key is not 32 bytes)"))?;
        Ok(Identity {
            signing: SigningKey::from_bytes(seed),
        })
    }

    /// Writes a new file at `path`; false when one appeared there meanwhile.
    fn write_new(&self, path: &Path) -> Result<bool, SyncError> {
        let directory = path.parent().unwrap_or(Path::new("."));
        let mut random = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let temporary = directory.join(format!(".identity.key-tmp-{}", u64::from_le_bytes(random)));
        let text = Zeroizing::new(format!(
            "{KEY_FILE_PREFIX}{}\n",
            STANDARD.encode(self.signing.to_bytes())
        ));
        let written = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })();
        if let Err(source) = written {
            let _ = fs::remove_file(&temporary);
            return Err(io_error(path, source));
        }
        // A hard link never replaces an existing name, so two processes creating the identity
        // at once cannot end with two identities having been used.
        let linked = fs::hard_link(&temporary, path);
        let _ = fs::remove_file(&temporary);
        match linked {
            Ok(()) => {
                if let Ok(dir) = fs::File::open(directory) {
                    let _ = dir.sync_all();
                }
                Ok(true)
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(io_error(path, source)),
        }
    }

    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            key: self.signing.verifying_key(),
        }
    }

    pub fn instance_id(&self) -> InstanceId {
        self.public().instance_id()
    }

    /// The X25519 secret Noise uses as this instance's static key.
    pub(crate) fn noise_private_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_scalar_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("instance_id", &self.instance_id())
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path, source: std::io::Error) -> SyncError {
    SyncError::IdentityIo {
        path: PathBuf::from(path),
        source,
    }
}

fn bad_file(path: &Path, message: &str) -> SyncError {
    SyncError::Identity {
        path: PathBuf::from(path),
        message: message.to_string(),
    }
}

/// An instance's public key: what the other side learns in the handshake.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicIdentity {
    key: VerifyingKey,
}

impl PublicIdentity {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicIdentity, SyncError> {
        VerifyingKey::from_bytes(bytes)
            .map(|key| PublicIdentity { key })
            .map_err(|_| SyncError::Auth("the peer sent an invalid ed25519 public key".into()))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn instance_id(&self) -> InstanceId {
        let digest = Sha256::digest(self.key.as_bytes());
        InstanceId(format!(
            "{INSTANCE_ID_PREFIX}{}",
            base32_lower(&digest[..INSTANCE_ID_HASH_BYTES])
        ))
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(Sha256::digest(self.key.as_bytes()).into())
    }

    /// The X25519 public key (Montgomery u-coordinate) Noise sees as this instance's static.
    pub(crate) fn noise_public_key(&self) -> [u8; 32] {
        self.key.to_montgomery().to_bytes()
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.key
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicIdentity({})", self.instance_id())
    }
}

/// `cairn-` + 32 lowercase base32 characters. Serialised as its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceId(String);

impl InstanceId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for InstanceId {
    type Err = SyncError;

    fn from_str(text: &str) -> Result<InstanceId, SyncError> {
        let valid = text.strip_prefix(INSTANCE_ID_PREFIX).is_some_and(|rest| {
            rest.len() == 32 && rest.bytes().all(|b| BASE32_ALPHABET.contains(&b))
        });
        if valid {
            Ok(InstanceId(text.to_string()))
        } else {
            Err(SyncError::Protocol(format!(
                "{text:?} is not an instance id (cairn- and 32 base32 characters)"
            )))
        }
    }
}

impl TryFrom<String> for InstanceId {
    type Error = SyncError;

    fn try_from(text: String) -> Result<InstanceId, SyncError> {
        text.parse()
    }
}

impl From<InstanceId> for String {
    fn from(id: InstanceId) -> String {
        id.0
    }
}

/// SHA-256 of a public key, shown as `SHA256:<base64>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub(crate) [u8; 32]);

impl Fingerprint {
    pub fn from_bytes(bytes: [u8; 32]) -> Fingerprint {
        Fingerprint(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHA256:{}", STANDARD_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Fingerprint {
    type Err = SyncError;

    fn from_str(text: &str) -> Result<Fingerprint, SyncError> {
        let bad = || {
            SyncError::InvalidToken(format!(
                "{text:?} is not a fingerprint; write SHA256: and 43 base64 characters"
            ))
        };
        let encoded = text.strip_prefix("SHA256:").ok_or_else(bad)?;
        let bytes = STANDARD_NO_PAD.decode(encoded).map_err(|_| bad())?;
        Ok(Fingerprint(bytes.try_into().map_err(|_| bad())?))
    }
}

const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32, lowercase, without padding.
pub(crate) fn base32_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32_ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        // RFC 4648 section 10, lowercased, padding removed.
        let vectors = [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base32_lower(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn ids_and_fingerprints_have_their_documented_form() {
        let identity = Identity::generate(&mut ChaCha20Rng::seed_from_u64(1));
        let id = identity.instance_id();
        assert!(id.as_str().starts_with("cairn-"));
        assert_eq!(id.as_str().len(), 6 + 32);
        assert_eq!(id.as_str().parse::<InstanceId>().unwrap(), id);
        let fingerprint = identity.public().fingerprint();
        let text = fingerprint.to_string();
        assert!(
            text.starts_with("SHA256:") && text.len() == 7 + 43,
            "{text}"
        );
        assert_eq!(text.parse::<Fingerprint>().unwrap(), fingerprint);
        assert!(!format!("{identity:?}").contains(&STANDARD.encode(identity.signing.to_bytes())));
    }

    #[test]
    fn load_or_create_writes_0600_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let created = Identity::load_or_create(&path, &mut rng).unwrap();
        let mode = fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = Identity::load_or_create(&path, &mut rng).unwrap();
        assert_eq!(created.public(), loaded.public());
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left");
    }

    #[test]
    fn a_key_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        Identity::load_or_create(&path, &mut ChaCha20Rng::seed_from_u64(4)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = Identity::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("mode 0644") && error.contains("chmod 600"),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_key_file_is_refused_with_what_is_wrong() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        for (text, expected) in [
            ("hello\n", "not a cairn identity key"),
            ("cairn-identity-v1:!!!\n", "not base64"),
            ("cairn-identity-v1:AAAA\n", "not 32 bytes"),
        ] {
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let error = Identity::load(&path).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}

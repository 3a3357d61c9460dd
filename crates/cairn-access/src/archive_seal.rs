//! Sealing a stream to the recovery public key, so the server can write archives it cannot
//! read back.
//!
//! Format: `MAGIC`, a u32 big-endian length, a JSON header (recipient public key, ephemeral
//! public key, the passphrase parameters when the key comes from one), then the body: chunks of
//! `CHUNK` plaintext bytes sealed with XChaCha20-Poly1305 (STREAM construction: the nonce is a
//! per-archive prefix, the chunk counter and a last-chunk flag). The key and nonce prefix come
//! from HKDF-SHA256 over the X25519 shared secret of an ephemeral key and the recipient, with
//! the header bytes in the info, so a changed header opens nothing. Every chunk is
//! authenticated and only the last carries the flag: a truncated archive (even at a chunk
//! boundary) does not open as a shorter valid one.

use std::io::{self, Read, Write};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::recovery_key::{
    PassphraseKdf, RecoveryError, RecoveryKeyInput, RecoveryPublic, RecoverySecret,
};

pub const MAGIC: &[u8] = b"cairn-server-backup-v1\n";
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const HEADER_MAX: usize = 4096;
const NONCE_PREFIX: usize = 19;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    recipient: String,
    ephemeral: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    passphrase: Option<PassphraseKdf>,
}

struct StreamKey {
    cipher: XChaCha20Poly1305,
    prefix: [u8; NONCE_PREFIX],
    counter: u32,
}

impl StreamKey {
    fn derive(shared: &[u8; 32], header: &[u8]) -> StreamKey {
        let hkdf = Hkdf::<Sha256>::new(Some(b"cairn-server-backup-v1"), shared);
        let mut okm = [0u8; 32 + NONCE_PREFIX];
        let mut info = b"payload ".to_vec();
        info.extend_from_slice(header);
        hkdf.expand(&info, &mut okm)
            .expect("51 bytes is a valid HKDF-SHA256 length");
        let mut prefix = [0u8; NONCE_PREFIX];
        prefix.copy_from_slice(&okm[32..]);
        StreamKey {
            cipher: XChaCha20Poly1305::new_from_slice(&okm[..32]).expect("32-byte key"),
            prefix,
            counter: 0,
        }
    }

    fn nonce(&self, last: bool) -> XNonce {
        let mut nonce = [0u8; 24];
        nonce[..NONCE_PREFIX].copy_from_slice(&self.prefix);
        nonce[NONCE_PREFIX..23].copy_from_slice(&self.counter.to_be_bytes());
        nonce[23] = u8::from(last);
        XNonce::clone_from_slice(&nonce)
    }

    fn seal(&mut self, plaintext: &[u8], last: bool) -> io::Result<Vec<u8>> {
        let nonce = self.nonce(last);
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| io::Error::other("the archive is larger than the format's 256 TiB"))?;
        Ok(self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &[],
                },
            )
            .expect("XChaCha20-Poly1305 seals a 64 KiB chunk"))
    }

    fn open(&mut self, sealed: &[u8], last: bool) -> Option<Vec<u8>> {
        let nonce = self.nonce(last);
        let plaintext = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: &[],
                },
            )
            .ok()?;
        self.counter = self.counter.checked_add(1)?;
        Some(plaintext)
    }
}

/// Writes a sealed archive into `W`; [`SealWriter::finish`] writes the last chunk.
pub struct SealWriter<W: Write> {
    inner: W,
    key: StreamKey,
    buffer: Vec<u8>,
}

impl<W: Write> SealWriter<W> {
    pub fn new(mut inner: W, recipient: &RecoveryPublic) -> Result<SealWriter<W>, RecoveryError> {
        let recipient_key = recipient.key()?;
        let ephemeral = RecoverySecret::generate();
        let header = Header {
            recipient: recipient.public_key.clone(),
            ephemeral: URL_SAFE_NO_PAD.encode(ephemeral.public().as_bytes()),
            passphrase: recipient.passphrase.clone(),
        };
        let header = serde_json::to_vec(&header).expect("the header serializes");
        let shared = ephemeral.0.diffie_hellman(&recipient_key);
        let key = StreamKey::derive(shared.as_bytes(), &header);
        let io = |e: io::Error| RecoveryError::Damaged {
            what: "the archive being written".into(),
            why: e.to_string(),
        };
        inner.write_all(MAGIC).map_err(io)?;
        inner
            .write_all(&(header.len() as u32).to_be_bytes())
            .map_err(io)?;
        inner.write_all(&header).map_err(io)?;
        Ok(SealWriter {
            inner,
            key,
            buffer: Vec::with_capacity(CHUNK),
        })
    }

    /// Seals what is buffered as the last chunk and hands back the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let sealed = self.key.seal(&self.buffer, true)?;
        self.inner.write_all(&sealed)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // A full chunk is sealed only once more bytes arrive: the last chunk must carry the
        // flag, and it is known to be last only at `finish`.
        if self.buffer.len() == CHUNK && !bytes.is_empty() {
            let sealed = self.key.seal(&self.buffer, false)?;
            self.inner.write_all(&sealed)?;
            self.buffer.clear();
        }
        let take = bytes.len().min(CHUNK - self.buffer.len());
        self.buffer.extend_from_slice(&bytes[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the plaintext of a sealed archive. Each chunk is checked before its bytes are
/// returned; the end of the stream is an error unless the flagged last chunk was read, so a
/// caller that reads to the end knows the archive was whole. Callers must still treat
/// what they read as provisional until `read` returned 0.
pub struct OpenReader<R: Read> {
    inner: R,
    key: StreamKey,
    /// Sealed bytes read ahead (at most one chunk and one byte).
    pending: Vec<u8>,
    plaintext: Vec<u8>,
    position: usize,
    finished: bool,
    what: String,
}

impl<R: Read> OpenReader<R> {
    /// Reads the header and derives the key; `what` names the archive in errors.
    pub fn new(
        mut inner: R,
        key: &RecoveryKeyInput,
        what: &str,
    ) -> Result<OpenReader<R>, RecoveryError> {
        let damaged = |why: &str| RecoveryError::Damaged {
            what: what.to_string(),
            why: why.to_string(),
        };
        let mut magic = vec![0u8; MAGIC.len()];
        inner
            .read_exact(&mut magic)
            .map_err(|_| damaged("it is shorter than its header"))?;
        if magic != MAGIC {
            return Err(damaged("it is not a cairn server backup (wrong magic)"));
        }
        let mut length = [0u8; 4];
        inner
            .read_exact(&mut length)
            .map_err(|_| damaged("it is shorter than its header"))?;
        let length = u32::from_be_bytes(length) as usize;
        if length > HEADER_MAX {
            return Err(damaged("its header is too long"));
        }
        let mut header_bytes = vec![0u8; length];
        inner
            .read_exact(&mut header_bytes)
            .map_err(|_| damaged("it is shorter than its header"))?;
        let header: Header =
            serde_json::from_slice(&header_bytes).map_err(|_| damaged("its header is not JSON"))?;
        let wrong = |why: &str| RecoveryError::WrongKey {
            what: what.to_string(),
            why: why.to_string(),
        };
        let secret = match key {
            RecoveryKeyInput::Secret(secret) => secret.0.clone(),
            RecoveryKeyInput::Passphrase(passphrase) => {
                let Some(kdf) = &header.passphrase else {
                    return Err(wrong("it was sealed with a generated key (cairn-recovery-v1-…), and the file holds a passphrase"));
                };
                kdf.derive(passphrase)?.0
            }
        };
        if URL_SAFE_NO_PAD.encode(PublicKey::from(&secret).as_bytes()) != header.recipient {
            return Err(wrong(
                "it was sealed for another recovery key (an older one before a rotate, or another server's)",
            ));
        }
        let ephemeral: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&header.ephemeral)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| damaged("its header has no valid ephemeral key"))?;
        let shared = StaticSecret::diffie_hellman(&secret, &PublicKey::from(ephemeral));
        if !shared.was_contributory() {
            return Err(damaged("its header has an invalid ephemeral key"));
        }
        Ok(OpenReader {
            inner,
            key: StreamKey::derive(shared.as_bytes(), &header_bytes),
            pending: Vec::with_capacity(CHUNK + TAG + 1),
            plaintext: Vec::new(),
            position: 0,
            finished: false,
            what: what.to_string(),
        })
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let want = CHUNK + TAG + 1;
        while self.pending.len() < want {
            let start = self.pending.len();
            self.pending.resize(want, 0);
            let read = self.inner.read(&mut self.pending[start..]);
            match read {
                Ok(0) => {
                    self.pending.truncate(start);
                    break;
                }
                Ok(n) => self.pending.truncate(start + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.pending.truncate(start),
                Err(e) => {
                    self.pending.truncate(start);
                    return Err(e);
                }
            }
        }
        let last = self.pending.len() < want;
        let take = if last {
            self.pending.len()
        } else {
            CHUNK + TAG
        };
        let damaged = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is damaged or incomplete: {why}", self.what),
            )
        };
        if take < TAG {
            return Err(damaged("it ends inside a chunk (truncated)"));
        }
        let plaintext = self
            .key
            .open(&self.pending[..take], last)
            .ok_or_else(|| damaged("a chunk fails authentication (truncated or changed)"))?;
        self.pending.drain(..take);
        self.plaintext = plaintext;
        self.position = 0;
        self.finished = last;
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.position == self.plaintext.len() {
            if self.finished {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.plaintext.len() - self.position);
        out[..n].copy_from_slice(&self.plaintext[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery_key::RecoveryKey;

    fn seal(public: &RecoveryPublic, data: &[u8]) -> Vec<u8> {
        let mut writer = SealWriter::new(Vec::new(), public).unwrap();
        // Odd write sizes cross chunk boundaries.
        for piece in data.chunks(7777) {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap()
    }

    fn open(key: &RecoveryKeyInput, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let mut reader =
            OpenReader::new(sealed, key, "test.cairn-server").map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn keyed() -> (tempfile::TempDir, RecoveryPublic, RecoveryKeyInput) {
        let dir = tempfile::tempdir().unwrap();
        let public = RecoveryKey::ensure(dir.path()).unwrap();
        let secret = RecoveryKey::show_once(dir.path()).unwrap();
        let key = RecoveryKeyInput::from_file_text(&secret).unwrap();
        (dir, public, key)
    }

    #[test]
    fn round_trips_at_every_size_around_chunk_boundaries() {
        let (_dir, public, key) = keyed();
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal(&public, &data);
            assert_eq!(open(&key, &sealed).unwrap(), data, "size {size}");
        }
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let (_dir, public, _) = keyed();
        let (_other, _, other_key) = keyed();
        let sealed = seal(&public, b"state");
        let error = open(&other_key, &sealed).unwrap_err();
        assert!(
            error.starts_with("the recovery key does not open test.cairn-server"),
            "{error}"
        );
    }

    #[test]
    fn truncated_or_changed_archives_are_refused() {
        let (_dir, public, key) = keyed();
        let data = vec![7u8; 2 * CHUNK];
        let sealed = seal(&public, &data);
        let header = MAGIC.len()
            + 4
            + u32::from_be_bytes(sealed[MAGIC.len()..MAGIC.len() + 4].try_into().unwrap()) as usize;
        // Cut at a chunk boundary: the first chunk alone is whole, but not flagged last.
        let boundary = header + CHUNK + TAG;
        for cut in [boundary, boundary + 10, sealed.len() - 1, header + 3] {
            let error = open(&key, &sealed[..cut]).unwrap_err();
            assert!(
                error.contains("damaged or incomplete"),
                "cut {cut}: {error}"
            );
        }
        let mut changed = sealed.clone();
        changed[header + 100] ^= 1;
        assert!(open(&key, &changed)
            .unwrap_err()
            .contains("fails authentication"));
        let mut header_changed = sealed.clone();
        header_changed[MAGIC.len() + 6] ^= 1;
        assert!(open(&key, &header_changed).is_err());
        // Dropping the last chunk and keeping two whole ones is refused too.
        let mut appended = sealed.clone();
        appended.extend_from_slice(&[0u8; 40]);
        assert!(open(&key, &appended).is_err());
    }

    #[test]
    fn a_passphrase_key_opens_from_the_passphrase_alone() {
        let dir = tempfile::tempdir().unwrap();
        let public = RecoveryKey::rotate(dir.path(), Some("a long enough passphrase")).unwrap();
        let sealed = seal(&public, b"users and plans");
        let key = RecoveryKeyInput::from_file_text("a long enough passphrase\n").unwrap();
        assert_eq!(open(&key, &sealed).unwrap(), b"users and plans");
        let wrong = RecoveryKeyInput::from_file_text("another passphrase here").unwrap();
        assert!(open(&wrong, &sealed)
            .unwrap_err()
            .starts_with("the recovery key does not open"));
    }
}

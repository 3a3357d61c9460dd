//! The handshake payloads, byte by byte (integers big-endian).
//!
//! Message 1 (`ClientOffer`): `u8 n` (1..=16), `n × u16` protocol versions, then the
//! ML-KEM-768 encapsulation key (1184 bytes). Nothing follows.
//!
//! Message 2 (`ServerAnswer`): `u16 version`. When 0 (no version shared): `u8 n`, `n × u16`
//! the server's versions, nothing else, and the client stops. Otherwise: the server's ed25519
//! public key (32), its signature (64) over `"cairn-sync/1 server identity" || h1`, the
//! ML-KEM-768 ciphertext (1088). Nothing follows.
//!
//! Message 3 (`ClientProof`): the client's ed25519 public key (32), its signature (64) over
//! `"cairn-sync/1 client identity" || h2`, `u8 claim` (0 or 1); when 1: `u8 len` (1..=64),
//! the token id (ASCII), the pairing proof (32). Nothing follows.

use crate::error::SyncError;
use crate::token::{PairingProof, TokenId};

pub(crate) const KEM_ENCAPSULATION_KEY_LEN: usize = 1184;
pub(crate) const KEM_CIPHERTEXT_LEN: usize = 1088;
const VERSIONS_MAX: usize = 16;

pub(crate) struct ClientOffer {
    pub versions: Vec<u16>,
    pub encapsulation_key: Vec<u8>,
}

pub(crate) enum ServerAnswer {
    NoSharedVersion {
        server_versions: Vec<u16>,
    },
    Accepted {
        version: u16,
        public_key: [u8; 32],
        signature: [u8; 64],
        ciphertext: Vec<u8>,
    },
}

pub(crate) struct ClientProof {
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
    pub claim: Option<(TokenId, PairingProof)>,
}

/// Reads fields off a payload; every shortfall is a protocol error naming the message.
struct Reader<'a> {
    bytes: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], SyncError> {
        if self.bytes.len() < len {
            return Err(SyncError::protocol(format!(
                "handshake {} is cut short",
                self.message
            )));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, SyncError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, SyncError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SyncError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn versions(&mut self) -> Result<Vec<u16>, SyncError> {
        let count = usize::from(self.u8()?);
        if count == 0 || count > VERSIONS_MAX {
            return Err(SyncError::protocol(format!(
                "handshake {} lists {count} versions (1 to {VERSIONS_MAX} expected)",
                self.message
            )));
        }
        (0..count).map(|_| self.u16()).collect()
    }

    fn end(self) -> Result<(), SyncError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(SyncError::protocol(format!(
                "handshake {} has {} bytes too many",
                self.message,
                self.bytes.len()
            )))
        }
    }
}

fn put_versions(out: &mut Vec<u8>, versions: &[u16]) {
    out.push(u8::try_from(versions.len()).expect("few versions"));
    for version in versions {
        out.extend_from_slice(&version.to_be_bytes());
    }
}

impl ClientOffer {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 2 * self.versions.len() + KEM_ENCAPSULATION_KEY_LEN);
        put_versions(&mut out, &self.versions);
        out.extend_from_slice(&self.encapsulation_key);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<ClientOffer, SyncError> {
        let mut reader = Reader {
            bytes,
            message: "message 1",
        };
        let versions = reader.versions()?;
        let encapsulation_key = reader.take(KEM_ENCAPSULATION_KEY_LEN)?.to_vec();
        reader.end()?;
        Ok(ClientOffer {
            versions,
            encapsulation_key,
        })
    }
}

impl ServerAnswer {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            ServerAnswer::NoSharedVersion { server_versions } => {
                out.extend_from_slice(&0u16.to_be_bytes());
                put_versions(&mut out, server_versions);
            }
            ServerAnswer::Accepted {
                version,
                public_key,
                signature,
                ciphertext,
            } => {
                out.extend_from_slice(&version.to_be_bytes());
                out.extend_from_slice(public_key);
                out.extend_from_slice(signature);
                out.extend_from_slice(ciphertext);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<ServerAnswer, SyncError> {
        let mut reader = Reader {
            bytes,
            message: "message 2",
        };
        let version = reader.u16()?;
        let answer = if version == 0 {
            ServerAnswer::NoSharedVersion {
                server_versions: reader.versions()?,
            }
        } else {
            ServerAnswer::Accepted {
                version,
                public_key: reader.array()?,
                signature: reader.array()?,
                ciphertext: reader.take(KEM_CIPHERTEXT_LEN)?.to_vec(),
            }
        };
        reader.end()?;
        Ok(answer)
    }
}

impl ClientProof {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + 64 + 1 + 1 + 64 + 32);
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&self.signature);
        match &self.claim {
            None => out.push(0),
            Some((token_id, proof)) => {
                out.push(1);
                let id = token_id.as_str().as_bytes();
                out.push(u8::try_from(id.len()).expect("token ids are at most 64 bytes"));
                out.extend_from_slice(id);
                out.extend_from_slice(&proof.0);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<ClientProof, SyncError> {
        let mut reader = Reader {
            bytes,
            message: "message 3",
        };
        let public_key = reader.array()?;
        let signature = reader.array()?;
        let claim = match reader.u8()? {
            0 => None,
            1 => {
                let len = usize::from(reader.u8()?);
                let id = reader.take(len)?;
                let id = String::from_utf8(id.to_vec())
                    .ok()
                    .and_then(|text| TokenId::try_from(text).ok())
                    .ok_or_else(|| {
                        SyncError::protocol("handshake message 3 has a malformed token id")
                    })?;
                Some((id, PairingProof(reader.array()?)))
            }
            other => {
                return Err(SyncError::protocol(format!(
                    "handshake message 3 has claim flag {other} (0 or 1 expected)"
                )))
            }
        };
        reader.end()?;
        Ok(ClientProof {
            public_key,
            signature,
            claim,
        })
    }
}

/// Decodes any of the three payloads (for the fuzz target): never panics.
pub fn decode_any_payload(bytes: &[u8]) {
    let _ = ClientOffer::decode(bytes);
    let _ = ServerAnswer::decode(bytes);
    let _ = ClientProof::decode(bytes);
}

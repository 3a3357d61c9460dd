//! Pairing tokens, the proof that redeems one, and why a pairing may be refused.
//!
//! # Token text (version 1)
//! `cairn-pair-v1:` + base64url without padding of a postcard-encoded body:
//! `version: u8 = 1`, `server_urls: [string]` (1 to 4, `https://` or `http://`),
//! `server_fingerprint: [u8; 32]` (SHA-256 of the server's ed25519 public key), `token_id:
//! string` (1 to 64 of `a-z0-9`), `secret: [u8; 32]`, `expires_at: i64` (Unix seconds).
//!
//! # What the server keeps
//! Only `H = SHA-256("cairn-pairing-v1" || secret)` ([`SecretHash`]), the id, the grant, the
//! expiry and the use counts. The secret is shown once, inside the token.
//!
//! # The proof
//! In handshake message 3 the client sends the token id and
//! `HMAC-SHA256(key = H, message = handshake hash after message 2)` ([`PairingProof`]). The
//! secret never crosses the wire, and because the handshake hash covers both sides'
//! ephemeral and static keys, a proof made for one handshake is worthless in another: a
//! relay that runs its own handshake with the server cannot forward it.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::SyncError;
use crate::identity::{base32_lower, Fingerprint, InstanceId};
use crate::permission::PeerGrant;

const TOKEN_PREFIX: &str = "cairn-pair-v1:";
const TOKEN_BODY_VERSION: u8 = 1;
const SECRET_HASH_CONTEXT: &[u8] = b"cairn-pairing-v1";
pub const SERVER_URLS_MAX: usize = 4;

/// A token's id: the handle the server looks it up by (shown in `cairn peer token list`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    /// A new random id: 16 base32 characters (80 bits).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> TokenId {
        let mut bytes = [0u8; 10];
        rng.fill_bytes(&mut bytes);
        TokenId(base32_lower(&bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenId {
    type Error = SyncError;

    fn try_from(text: String) -> Result<TokenId, SyncError> {
        let valid = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(TokenId(text))
        } else {
            Err(SyncError::InvalidToken(format!(
                "{text:?} is not a token id (1 to 64 of a-z and 0-9)"
            )))
        }
    }
}

impl From<TokenId> for String {
    fn from(id: TokenId) -> String {
        id.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 32 secret bytes of a token. Never printed, zeroed on drop.
#[derive(Clone)]
pub struct TokenSecret(Zeroizing<[u8; 32]>);

impl TokenSecret {
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> TokenSecret {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        TokenSecret(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> TokenSecret {
        TokenSecret(Zeroizing::new(bytes))
    }

    /// What the server stores instead of the secret.
    pub fn hash(&self) -> SecretHash {
        let mut hasher = Sha256::new();
        hasher.update(SECRET_HASH_CONTEXT);
        hasher.update(self.0.as_slice());
        SecretHash(hasher.finalize().into())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(***)")
    }
}

/// `SHA-256("cairn-pairing-v1" || secret)`: stored by the server, the HMAC key of the proof.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// The proof for the handshake whose hash (after message 2) is `handshake_hash`.
    pub fn prove(&self, handshake_hash: &[u8]) -> PairingProof {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(handshake_hash);
        PairingProof(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(***)")
    }
}

/// `HMAC-SHA256(H, handshake hash after message 2)`.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingProof(pub [u8; 32]);

impl fmt::Debug for PairingProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingProof(***)")
    }
}

/// A pairing token as the client holds it.
#[derive(Debug, Clone)]
pub struct PairingToken {
    pub server_urls: Vec<String>,
    pub server_fingerprint: Fingerprint,
    pub token_id: TokenId,
    pub secret: TokenSecret,
    pub expires_at: DateTime<Utc>,
}

/// The wire form inside the token text; field order is the format.
#[derive(Serialize, Deserialize)]
struct TokenBody {
    version: u8,
    server_urls: Vec<String>,
    server_fingerprint: [u8; 32],
    token_id: String,
    secret: [u8; 32],
    expires_at: i64,
}

impl Drop for TokenBody {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl PairingToken {
    /// The token text: `cairn-pair-v1:` + base64url. Contains the secret: show it once.
    pub fn to_text(&self) -> String {
        let body = TokenBody {
            version: TOKEN_BODY_VERSION,
            server_urls: self.server_urls.clone(),
            server_fingerprint: self.server_fingerprint.0,
            token_id: self.token_id.0.clone(),
            secret: *self.secret.0,
            expires_at: self.expires_at.timestamp(),
        };
        let bytes = Zeroizing::new(postcard::to_stdvec(&body).expect("a token body encodes"));
        format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes.as_slice()))
    }

    /// Parses a token as pasted; every error says what is wrong (never quoting the text).
    pub fn parse(text: &str) -> Result<PairingToken, SyncError> {
        let bad = |what: &str| SyncError::InvalidToken(format!("pairing token {what}"));
        let text = text.trim();
        let encoded = text.strip_prefix(TOKEN_PREFIX).ok_or_else(|| {
            if text.starts_with("cairn-pair-") {
                bad("has a version this cairn does not know (cairn-pair-v1: expected); upgrade cairn")
            } else {
                bad("does not start with cairn-pair-v1: (is it a pairing token, copied whole?)")
            }
        })?;
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(encoded).map_err(|_| {
            bad("is damaged: not base64url after the prefix (copied with a line break or cut short?)")
        })?);
        if bytes.first() != Some(&TOKEN_BODY_VERSION) {
            return Err(bad(
                "has a body version this cairn does not know; upgrade cairn",
            ));
        }
        let (body, rest) = postcard::take_from_bytes::<TokenBody>(&bytes)
            .map_err(|_| bad("is damaged or cut short (its body does not decode)"))?;
        if !rest.is_empty() {
            return Err(bad("is damaged (bytes after its body)"));
        }
        if body.server_urls.is_empty() || body.server_urls.len() > SERVER_URLS_MAX {
            return Err(bad(&format!(
                "names {} server URLs (1 to {SERVER_URLS_MAX} expected)",
                body.server_urls.len()
            )));
        }
        for url in &body.server_urls {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
                return Err(bad(&format!(
                    "names the server URL {url:?}, which is not an http(s) URL"
                )));
            }
        }
        let token_id = TokenId::try_from(body.token_id.clone())
            .map_err(|_| bad("carries a malformed token id"))?;
        let expires_at = Utc
            .timestamp_opt(body.expires_at, 0)
            .single()
            .ok_or_else(|| bad("carries an impossible expiry time"))?;
        Ok(PairingToken {
            server_urls: body.server_urls.clone(),
            server_fingerprint: Fingerprint(body.server_fingerprint),
            token_id,
            secret: TokenSecret::from_bytes(body.secret),
            expires_at,
        })
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// What the server learns from a client that pairs: which token, and the proof to check.
#[derive(Debug, Clone)]
pub struct PairingClaim {
    pub token_id: TokenId,
    pub proof: PairingProof,
    /// The handshake hash after message 2, which the proof must be bound to.
    pub(crate) handshake_hash: Vec<u8>,
}

impl PairingClaim {
    /// Whether the proof was made with the secret whose hash is `stored` (constant time).
    pub fn verify(&self, stored: &SecretHash) -> bool {
        let expected = stored.prove(&self.handshake_hash);
        bool::from(expected.0.ct_eq(&self.proof.0))
    }
}

/// Why the server refused a connection at pairing or admission; the client prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairingRefusal {
    /// The token's time to live has passed.
    Expired,
    /// The token was already used as often as it allows.
    UsedUp,
    /// The token was revoked on the server.
    Revoked,
    /// The server knows no token with this id.
    UnknownToken,
    /// The proof does not match: the token's secret is wrong.
    ProofMismatch,
    /// This instance was paired but its pairing was revoked.
    PeerRevoked,
    /// This instance is not paired with the server and brought no token.
    NotPaired,
}

impl fmt::Display for PairingRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PairingRefusal::Expired => {
                "the pairing token has expired; create a new one on the server (cairn peer token create)"
            }
            PairingRefusal::UsedUp => {
                "the pairing token was already used as often as it allows; create a new one on the server"
            }
            PairingRefusal::Revoked => "the pairing token was revoked on the server; ask for a new one",
            PairingRefusal::UnknownToken => {
                "the server does not know this pairing token; check it comes from this server"
            }
            PairingRefusal::ProofMismatch => {
                "the pairing token's secret does not match the server's; paste the token again, whole"
            }
            PairingRefusal::PeerRevoked => {
                "the server revoked this instance's pairing; pair again with a new token"
            }
            PairingRefusal::NotPaired => {
                "this instance is not paired with the server; pair it with a token (cairn peer pair TOKEN)"
            }
        })
    }
}

/// What the server knows about an already paired peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownPeer {
    Active(PeerGrant),
    Revoked,
}

/// The server's persistent pairing state (the state database implements it). Redeeming must
/// look up, check and count a use in one transaction, so that a token with max uses N admits
/// exactly N of many concurrent pairings.
pub trait PairingAuthority {
    /// A peer paired before, by instance id; `None` if never paired.
    fn known_peer(&mut self, peer: &InstanceId) -> Result<Option<KnownPeer>, crate::StoreError>;

    /// Looks up `claim.token_id`, refuses an unknown, revoked, expired or used-up token,
    /// checks the proof with [`PairingClaim::verify`], counts one use and records `peer` as
    /// paired with the token's grant, all at once. Returns that grant.
    fn redeem(
        &mut self,
        peer: &InstanceId,
        claim: &PairingClaim,
        now: DateTime<Utc>,
    ) -> Result<Result<PeerGrant, PairingRefusal>, crate::StoreError>;
}

/// Decides whether an authenticated peer may open a session: a known, active peer may; a
/// revoked one may not; an unknown one needs a claim the authority accepts. A known peer that
/// also brings a token pairs again (a new grant replaces the old).
pub fn admit(
    authority: &mut dyn PairingAuthority,
    peer: &InstanceId,
    claim: Option<&PairingClaim>,
    now: DateTime<Utc>,
) -> Result<Result<PeerGrant, PairingRefusal>, crate::StoreError> {
    if let Some(claim) = claim {
        return authority.redeem(peer, claim, now);
    }
    Ok(match authority.known_peer(peer)? {
        Some(KnownPeer::Active(grant)) => Ok(grant),
        Some(KnownPeer::Revoked) => Err(PairingRefusal::PeerRevoked),
        None => Err(PairingRefusal::NotPaired),
    })
}

/// A stored token, as [`MemoryPairings`] keeps it (and a state table would).
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub secret_hash: SecretHash,
    pub grant: PeerGrant,
    pub expires_at: DateTime<Utc>,
    pub uses_max: u32,
    pub uses: u32,
    pub revoked: bool,
}

/// An in-memory [`PairingAuthority`]: the reference the state crate's tables must match.
#[derive(Debug, Default)]
pub struct MemoryPairings {
    pub tokens: BTreeMap<TokenId, StoredToken>,
    pub peers: BTreeMap<InstanceId, KnownPeer>,
}

impl MemoryPairings {
    /// Issues a token for the server at `urls` with `fingerprint`; stores only the hash.
    pub fn issue(
        &mut self,
        rng: &mut (impl RngCore + CryptoRng),
        urls: Vec<String>,
        fingerprint: Fingerprint,
        grant: PeerGrant,
        expires_at: DateTime<Utc>,
        uses_max: u32,
    ) -> PairingToken {
        let token = PairingToken {
            server_urls: urls,
            server_fingerprint: fingerprint,
            token_id: TokenId::generate(rng),
            secret: TokenSecret::generate(rng),
            expires_at,
        };
        self.tokens.insert(
            token.token_id.clone(),
            StoredToken {
                secret_hash: token.secret.hash(),
                grant,
                expires_at,
                uses_max,
                uses: 0,
                revoked: false,
            },
        );
        token
    }
}

impl PairingAuthority for MemoryPairings {
    fn known_peer(&mut self, peer: &InstanceId) -> Result<Option<KnownPeer>, crate::StoreError> {
        Ok(self.peers.get(peer).cloned())
    }

    fn redeem(
        &mut self,
        peer: &InstanceId,
        claim: &PairingClaim,
        now: DateTime<Utc>,
    ) -> Result<Result<PeerGrant, PairingRefusal>, crate::StoreError> {
        let Some(token) = self.tokens.get_mut(&claim.token_id) else {
            return Ok(Err(PairingRefusal::UnknownToken));
        };
        // The proof is checked before the token's state is revealed, so a client without
        // the secret learns nothing about the token beyond "wrong secret".
        if !claim.verify(&token.secret_hash) {
            return Ok(Err(PairingRefusal::ProofMismatch));
        }
        if token.revoked {
            return Ok(Err(PairingRefusal::Revoked));
        }
        if now >= token.expires_at {
            return Ok(Err(PairingRefusal::Expired));
        }
        if token.uses >= token.uses_max {
            return Ok(Err(PairingRefusal::UsedUp));
        }
        token.uses += 1;
        let grant = token.grant.clone();
        self.peers
            .insert(peer.clone(), KnownPeer::Active(grant.clone()));
        Ok(Ok(grant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn token() -> PairingToken {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        PairingToken {
            server_urls: vec!["https://backup.example:8443".into()],
            server_fingerprint: Fingerprint([9; 32]),
            token_id: TokenId::generate(&mut rng),
            secret: TokenSecret::generate(&mut rng),
            expires_at: Utc.timestamp_opt(1_900_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn a_token_round_trips_through_its_text() {
        let token = token();
        let text = token.to_text();
        assert!(text.starts_with("cairn-pair-v1:"));
        let parsed = PairingToken::parse(&format!("  {text}\n")).unwrap();
        assert_eq!(parsed.server_urls, token.server_urls);
        assert_eq!(parsed.server_fingerprint, token.server_fingerprint);
        assert_eq!(parsed.token_id, token.token_id);
        assert_eq!(parsed.secret.hash(), token.secret.hash());
        assert_eq!(parsed.expires_at, token.expires_at);
        assert!(!format!("{parsed:?}").contains(&format!("{:?}", &token.secret.0[..4])));
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let text = token().to_text();
        let cases = [
            ("hello".to_string(), "does not start with cairn-pair-v1:"),
            ("cairn-pair-v2:AAAA".to_string(), "upgrade cairn"),
            ("cairn-pair-v1:***".to_string(), "not base64url"),
            (text[..text.len() - 10].to_string(), "cut short"),
            (format!("{text}AA"), "damaged"),
        ];
        for (input, expected) in cases {
            let error = PairingToken::parse(&input).unwrap_err().to_string();
            assert!(error.contains(expected), "{input:?}: {error}");
        }
        let mut no_urls = token();
        no_urls.server_urls.clear();
        let error = PairingToken::parse(&no_urls.to_text())
            .unwrap_err()
            .to_string();
        assert!(error.contains("names 0 server URLs (1 to 4"), "{error}");
        let mut bad_url = token();
        bad_url.server_urls = vec!["ftp://x".into()];
        let error = PairingToken::parse(&bad_url.to_text())
            .unwrap_err()
            .to_string();
        assert!(error.contains("not an http(s) URL"), "{error}");
    }

    #[test]
    fn a_proof_verifies_only_for_its_secret_and_handshake() {
        let token = token();
        let hash = token.secret.hash();
        let claim = PairingClaim {
            token_id: token.token_id.clone(),
            proof: hash.prove(b"handshake one"),
            handshake_hash: b"handshake one".to_vec(),
        };
        assert!(claim.verify(&hash));
        assert!(!claim.verify(&TokenSecret::from_bytes([1; 32]).hash()));
        let replayed = PairingClaim {
            handshake_hash: b"handshake two".to_vec(),
            ..claim
        };
        assert!(!replayed.verify(&hash));
    }
}

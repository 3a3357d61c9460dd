//! The client's (initiator's) side of the handshake.

use ml_kem::kem::Decapsulate;
use ml_kem::{Ciphertext, EncodedSizeUser, KemCore, MlKem768};
use rand::{CryptoRng, RngCore};

use super::payload::{ClientOffer, ClientProof, ServerAnswer};
use super::{
    hash32, noise_builder, noise_error, signed_message, Established, CLIENT_SIGNATURE_CONTEXT,
    NOISE_MESSAGE_LEN_MAX, PROLOGUE, SERVER_SIGNATURE_CONTEXT, SUPPORTED_VERSIONS,
};
use crate::channel::Channel;
use crate::error::SyncError;
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::token::{PairingProof, PairingToken, TokenId};

/// Whom the client expects to reach.
#[derive(Debug, Clone)]
pub enum ServerExpectation {
    /// First contact: the token names the server's fingerprint and carries the secret whose
    /// proof message 3 sends.
    Token(PairingToken),
    /// Already paired: the fingerprint pinned when the pairing succeeded. No proof is sent.
    Pinned(Fingerprint),
}

impl ServerExpectation {
    fn fingerprint(&self) -> Fingerprint {
        match self {
            ServerExpectation::Token(token) => token.server_fingerprint,
            ServerExpectation::Pinned(fingerprint) => *fingerprint,
        }
    }
}

type DecapsulationKey = <MlKem768 as KemCore>::DecapsulationKey;

/// A client handshake waiting for message 2.
pub struct ClientHandshake {
    noise: snow::HandshakeState,
    kem_key: DecapsulationKey,
    expectation: ServerExpectation,
    versions: Vec<u16>,
}

impl ClientHandshake {
    /// Starts a handshake: returns the state and message 1 to send.
    pub fn start(
        identity: &Identity,
        expectation: ServerExpectation,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(ClientHandshake, Vec<u8>), SyncError> {
        ClientHandshake::start_offering(identity, expectation, SUPPORTED_VERSIONS, rng)
    }

    /// `start` offering `versions` (tests play an older or newer client with it).
    pub(crate) fn start_offering(
        identity: &Identity,
        expectation: ServerExpectation,
        versions: &[u16],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(ClientHandshake, Vec<u8>), SyncError> {
        let private_key = identity.noise_private_key();
        let mut noise = noise_builder(rng)
            .local_private_key(private_key.as_slice())
            .and_then(|b| b.prologue(PROLOGUE))
            .and_then(|b| b.build_initiator())
            .map_err(|e| noise_error("setup", e))?;
        let (kem_key, encapsulation_key) = MlKem768::generate(rng);
        let offer = ClientOffer {
            versions: versions.to_vec(),
            encapsulation_key: encapsulation_key.as_bytes().to_vec(),
        };
        let mut message = vec![0u8; NOISE_MESSAGE_LEN_MAX];
        let len = noise
            .write_message(&offer.encode(), &mut message)
            .map_err(|e| noise_error("message 1", e))?;
        message.truncate(len);
        Ok((
            ClientHandshake {
                noise,
                kem_key,
                expectation,
                versions: versions.to_vec(),
            },
            message,
        ))
    }

    /// Reads message 2, checks the server is the one expected, and returns message 3 and the
    /// established channel. Nothing about the token leaves this process unless the server's
    /// identity matched the expected fingerprint.
    pub fn finish(
        self,
        identity: &Identity,
        message2: &[u8],
    ) -> Result<(Vec<u8>, Established), SyncError> {
        let expectation = self.expectation.clone();
        self.finish_with(identity, message2, |h2| match &expectation {
            ServerExpectation::Token(token) => {
                Some((token.token_id.clone(), token.secret.hash().prove(h2)))
            }
            ServerExpectation::Pinned(_) => None,
        })
    }

    /// `finish` with the claim computed by `claim` from `h2` (tests put a relayed proof here).
    pub(crate) fn finish_with(
        mut self,
        identity: &Identity,
        message2: &[u8],
        claim: impl FnOnce(&[u8; 32]) -> Option<(TokenId, PairingProof)>,
    ) -> Result<(Vec<u8>, Established), SyncError> {
        let h1 = hash32(self.noise.get_handshake_hash());
        let mut payload = vec![0u8; NOISE_MESSAGE_LEN_MAX];
        let len = self
            .noise
            .read_message(message2, &mut payload)
            .map_err(|e| noise_error("message 2", e))?;
        let (version, public_key, signature, ciphertext) =
            match ServerAnswer::decode(&payload[..len])? {
                ServerAnswer::NoSharedVersion { server_versions } => {
                    return Err(SyncError::VersionNotShared(format!(
                        "the server speaks protocol versions {server_versions:?} and this cairn \
                         {:?}; upgrade the older one",
                        self.versions
                    )))
                }
                ServerAnswer::Accepted {
                    version,
                    public_key,
                    signature,
                    ciphertext,
                } => (version, public_key, signature, ciphertext),
            };
        if !self.versions.contains(&version) {
            return Err(SyncError::protocol(format!(
                "the server chose protocol version {version}, which this cairn did not offer"
            )));
        }
        let server = PublicIdentity::from_bytes(&public_key)?;
        let remote_static = self.noise.get_remote_static().unwrap_or_default();
        if remote_static != server.noise_public_key()
            || !server.verify(&signed_message(SERVER_SIGNATURE_CONTEXT, &h1), &signature)
        {
            return Err(SyncError::Auth(
                "the server's handshake key does not belong to the identity it claims; \
                 someone may be in between"
                    .into(),
            ));
        }
        let expected = self.expectation.fingerprint();
        if server.fingerprint() != expected {
            return Err(SyncError::Auth(format!(
                "the server's identity is {} but {expected} was expected; the token is for \
                 another server, or someone is in between (nothing was sent)",
                server.fingerprint()
            )));
        }

        let ciphertext = Ciphertext::<MlKem768>::try_from(ciphertext.as_slice())
            .map_err(|_| SyncError::protocol("handshake message 2 has a malformed ciphertext"))?;
        let shared = self.kem_key.decapsulate(&ciphertext).map_err(|_| {
            SyncError::protocol("handshake message 2's ciphertext does not decapsulate")
        })?;
        self.noise
            .set_psk(3, shared.as_slice())
            .map_err(|e| noise_error("psk", e))?;

        let h2 = hash32(self.noise.get_handshake_hash());
        let claim = claim(&h2);
        let proof = ClientProof {
            public_key: identity.public().to_bytes(),
            signature: identity.sign(&signed_message(CLIENT_SIGNATURE_CONTEXT, &h2)),
            claim,
        };
        let mut message = vec![0u8; NOISE_MESSAGE_LEN_MAX];
        let len = self
            .noise
            .write_message(&proof.encode(), &mut message)
            .map_err(|e| noise_error("message 3", e))?;
        message.truncate(len);
        let handshake_hash = hash32(self.noise.get_handshake_hash());
        let transport = self
            .noise
            .into_transport_mode()
            .map_err(|e| noise_error("split", e))?;
        Ok((
            message,
            Established {
                channel: Channel::new(transport, handshake_hash),
                peer: server,
                version,
                claim: None,
            },
        ))
    }
}

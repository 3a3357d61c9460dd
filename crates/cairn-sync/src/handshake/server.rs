//! The server's (responder's) side of the handshake.

use ml_kem::kem::Encapsulate;
use ml_kem::{Encoded, EncodedSizeUser, KemCore, MlKem768};
use rand::{CryptoRng, RngCore};

use super::payload::{ClientOffer, ClientProof, ServerAnswer};
use super::{
    hash32, noise_builder, noise_error, signed_message, CLIENT_SIGNATURE_CONTEXT,
    NOISE_MESSAGE_LEN_MAX, PROLOGUE, SERVER_SIGNATURE_CONTEXT, SUPPORTED_VERSIONS,
};
use crate::channel::Channel;
use crate::error::SyncError;
use crate::identity::{Identity, PublicIdentity};
use crate::token::PairingClaim;

type EncapsulationKey = <MlKem768 as KemCore>::EncapsulationKey;

/// A completed handshake: an encrypted channel to an authenticated peer.
pub struct Established {
    pub channel: Channel,
    /// The other side's identity (proven by the Noise static key and its signature).
    pub peer: PublicIdentity,
    /// The protocol version both speak.
    pub version: u16,
    /// Server side only: the token the client redeems, with its proof, if it brought one.
    /// The server decides admission with [`crate::admit`] before anything else is sent.
    pub claim: Option<PairingClaim>,
}

/// A server handshake waiting for message 3.
pub struct ServerHandshake {
    noise: snow::HandshakeState,
    version: u16,
}

impl ServerHandshake {
    /// Reads message 1 and returns the state and message 2. When no version is shared,
    /// message 2 says so and the state is `None`: send it, then close.
    pub fn respond(
        identity: &Identity,
        message1: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Option<ServerHandshake>, Vec<u8>), SyncError> {
        let private_key = identity.noise_private_key();
        let mut noise = noise_builder(rng)
            .local_private_key(private_key.as_slice())
            .and_then(|b| b.prologue(PROLOGUE))
            .and_then(|b| b.build_responder())
            .map_err(|e| noise_error("setup", e))?;
        let mut payload = vec![0u8; NOISE_MESSAGE_LEN_MAX];
        let len = noise
            .read_message(message1, &mut payload)
            .map_err(|e| noise_error("message 1", e))?;
        let offer = ClientOffer::decode(&payload[..len])?;
        let h1 = hash32(noise.get_handshake_hash());
        let chosen = SUPPORTED_VERSIONS
            .iter()
            .rev()
            .find(|v| offer.versions.contains(v))
            .copied();
        let (state, answer, shared) = match chosen {
            None => (
                None,
                ServerAnswer::NoSharedVersion {
                    server_versions: SUPPORTED_VERSIONS.to_vec(),
                },
                None,
            ),
            Some(version) => {
                let encoded =
                    Encoded::<EncapsulationKey>::try_from(offer.encapsulation_key.as_slice())
                        .map_err(|_| {
                            SyncError::protocol("handshake message 1 has a malformed key")
                        })?;
                let encapsulation_key = EncapsulationKey::from_bytes(&encoded);
                let (ciphertext, shared) = encapsulation_key
                    .encapsulate(rng)
                    .map_err(|_| SyncError::protocol("ML-KEM encapsulation failed"))?;
                let answer = ServerAnswer::Accepted {
                    version,
                    public_key: identity.public().to_bytes(),
                    signature: identity.sign(&signed_message(SERVER_SIGNATURE_CONTEXT, &h1)),
                    ciphertext: ciphertext.to_vec(),
                };
                (Some(version), answer, Some(shared))
            }
        };
        let mut message = vec![0u8; NOISE_MESSAGE_LEN_MAX];
        let len = noise
            .write_message(&answer.encode(), &mut message)
            .map_err(|e| noise_error("message 2", e))?;
        message.truncate(len);
        let Some(version) = state else {
            return Ok((None, message));
        };
        let shared = shared.expect("a shared secret with a version");
        noise
            .set_psk(3, shared.as_slice())
            .map_err(|e| noise_error("psk", e))?;
        Ok((Some(ServerHandshake { noise, version }), message))
    }

    /// Reads message 3: the client's identity (checked against its Noise static key and
    /// its signature) and its pairing claim, if any. The claim is not judged here.
    pub fn finish(mut self, message3: &[u8]) -> Result<Established, SyncError> {
        let h2 = hash32(self.noise.get_handshake_hash());
        let mut payload = vec![0u8; NOISE_MESSAGE_LEN_MAX];
        let len = self
            .noise
            .read_message(message3, &mut payload)
            .map_err(|e| noise_error("message 3", e))?;
        let proof = ClientProof::decode(&payload[..len])?;
        let client = PublicIdentity::from_bytes(&proof.public_key)?;
        let remote_static = self.noise.get_remote_static().unwrap_or_default();
        if remote_static != client.noise_public_key()
            || !client.verify(
                &signed_message(CLIENT_SIGNATURE_CONTEXT, &h2),
                &proof.signature,
            )
        {
            return Err(SyncError::Auth(
                "the client's handshake key does not belong to the identity it claims".into(),
            ));
        }
        let claim = proof.claim.map(|(token_id, proof)| PairingClaim {
            token_id,
            proof,
            handshake_hash: h2.to_vec(),
        });
        let handshake_hash = hash32(self.noise.get_handshake_hash());
        let transport = self
            .noise
            .into_transport_mode()
            .map_err(|e| noise_error("split", e))?;
        Ok(Established {
            channel: Channel::new(transport, handshake_hash),
            peer: client,
            version: self.version,
            claim,
        })
    }
}

//! The handshake: `Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s` whose pre-shared key is the shared
//! secret of an ML-KEM-768 exchange carried inside the first two messages.
//!
//! ```text
//! client (initiator)                                    server (responder)
//! msg 1  -> e                      payload: versions, ML-KEM encapsulation key
//! msg 2  <- e, ee, s, es           payload (encrypted): chosen version, server ed25519 key,
//!                                  its signature over h1, ML-KEM ciphertext
//!        both: set_psk(3, ML-KEM shared secret)
//! msg 3  -> s, se, psk             payload (encrypted, psk-keyed): client ed25519 key, its
//!                                  signature over h2, optionally token id + pairing proof
//! ```
//!
//! `h1` is the handshake hash before message 2 is written (after message 1); `h2` the hash
//! after message 2. The transport keys come from a chaining key into which the three DH
//! results *and* the ML-KEM secret were mixed, so reading the traffic needs both X25519 and
//! ML-KEM broken: the exchange is hybrid. Authentication is the X25519 statics (bound to
//! ed25519 identities: each side checks that the Montgomery form of the ed25519 key it
//! receives is the Noise remote static, and that the key signed the transcript).
//!
//! Payload layouts (all integers big-endian) are in [`payload`]. The prologue binds the
//! protocol name and version, so a peer that speaks another handshake fails at message 2.
//!
//! Deadlines are the driver's: it gives the whole handshake [`HANDSHAKE_DEADLINE`] and drops
//! the connection after it.

mod client;
pub mod payload;
mod server;
#[cfg(test)]
mod tests;

use std::time::Duration;

use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub use client::{ClientHandshake, ServerExpectation};
pub use server::{Established, ServerHandshake};

use crate::error::SyncError;

/// The Noise protocol name.
pub const NOISE_PATTERN: &str = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";
/// Mixed into the handshake hash before message 1: what both sides agree they speak.
pub const PROLOGUE: &[u8] = b"cairn-sync/1 Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s ML-KEM-768";
/// Protocol versions this implementation speaks (message 1 offers them, message 2 picks one).
pub const SUPPORTED_VERSIONS: &[u16] = &[1];
/// How long a driver waits for a whole handshake before dropping the connection.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// A Noise message is at most this long (the Noise specification's limit).
pub const NOISE_MESSAGE_LEN_MAX: usize = 65535;

/// Context strings of the identity signatures, so a signature can serve no other purpose.
const SERVER_SIGNATURE_CONTEXT: &[u8] = b"cairn-sync/1 server identity";
const CLIENT_SIGNATURE_CONTEXT: &[u8] = b"cairn-sync/1 client identity";

fn signed_message(context: &[u8], handshake_hash: &[u8]) -> Vec<u8> {
    [context, handshake_hash].concat()
}

/// Builds a snow state whose randomness (ephemeral keys) comes from `rng`, so tests are
/// deterministic and the caller decides the generator.
fn noise_builder<'a>(rng: &mut (impl RngCore + CryptoRng)) -> snow::Builder<'a> {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let resolver = snow::resolvers::FallbackResolver::new(
        Box::new(SeededResolver { seed }),
        Box::new(snow::resolvers::DefaultResolver),
    );
    snow::Builder::with_resolver(
        NOISE_PATTERN.parse().expect("the pattern is valid"),
        Box::new(resolver),
    )
}

struct SeededResolver {
    seed: [u8; 32],
}

impl snow::resolvers::CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        Some(Box::new(SeededRandom(ChaCha20Rng::from_seed(self.seed))))
    }

    fn resolve_dh(&self, _: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        None
    }

    fn resolve_hash(&self, _: &snow::params::HashChoice) -> Option<Box<dyn snow::types::Hash>> {
        None
    }

    fn resolve_cipher(
        &self,
        _: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        None
    }
}

struct SeededRandom(ChaCha20Rng);

impl snow::types::Random for SeededRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

fn noise_error(step: &str, error: snow::Error) -> SyncError {
    match error {
        snow::Error::Decrypt => SyncError::protocol(format!(
            "handshake {step} does not authenticate (tampered, or the peer speaks another protocol)"
        )),
        other => SyncError::protocol(format!("handshake {step} failed: {other}")),
    }
}

/// The hash as a fixed array (BLAKE2s: 32 bytes).
fn hash32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("BLAKE2s hashes are 32 bytes")
}

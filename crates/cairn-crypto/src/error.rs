//! The one error type of this crate.
//!
//! Invariant: no variant carries key bytes, plaintext or ciphertext. Reasons are written by this
//! crate, never copied from a parser's message, because a JSON or base64 error message can quote
//! the input it choked on, and that input may be key material.

/// What went wrong while deriving a key or sealing/opening an encrypted object.
///
/// None of these is retryable: the same bytes and key give the same answer every time.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The input is shorter than an IV plus a MAC, so it cannot be an encrypted object.
    #[error(
        "encrypted object is {len} bytes, shorter than the 32 bytes of IV and MAC every encrypted object has; it is truncated or not encrypted"
    )]
    TooShort {
        /// Length of the input in bytes.
        len: usize,
    },

    /// The Poly1305-AES tag does not match: the object was changed, or it was sealed with
    /// another key (for a key file: the password is wrong).
    #[error("MAC check failed: the object is corrupt or was encrypted with another key (wrong password?)")]
    MacMismatch,

    /// The object authenticates but its IV is all zeros, which restic refuses as a sign of a
    /// writer that forgot to pick a nonce; we refuse it too so that cairn and restic agree.
    #[error("encrypted object has an all-zero IV, which restic rejects; it was written by a broken tool")]
    ZeroIv,

    /// scrypt parameters that are invalid, or too costly to accept from a key file.
    #[error("invalid scrypt parameters in key file: {reason}")]
    InvalidKdfParams {
        /// What is wrong with them, naming the limit that was exceeded.
        reason: String,
    },

    /// The decrypted master key is not the JSON form restic writes.
    #[error("invalid master key JSON: {reason}")]
    InvalidKeyJson {
        /// What is wrong with it; never quotes the input.
        reason: String,
    },
}

impl CryptoError {
    /// Whether trying again could succeed. Never: crypto is deterministic given its inputs, so a
    /// retry belongs to the layer that fetches the bytes, not to this one.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

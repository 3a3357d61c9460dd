//! cairn-crypto: key derivation and authenticated encryption exactly as restic does them
//! (restic's `doc/design.rst`, "Keys, Encryption and MAC"; `internal/crypto`).
//!
//! # Layout
//! - [`key`](MasterKey): the master key and the encrypted-object format,
//!   `IV (16) || AES-256-CTR(plaintext) || Poly1305-AES(ciphertext) (16)`.
//! - `mac`: Poly1305-AES with the one-time key `r || AES-128_k(IV)`.
//! - `key_json`: the master key's JSON form, `{"mac":{"k","r"},"encrypt"}`.
//! - [`kdf`](derive_key): scrypt parameters, their validation, derivation and calibration.
//! - [`Secret`]: a wrapper that never prints.
//! - [`random_bytes`]: the OS RNG.
//! - [`CryptoError`]: the one error type.
//!
//! # Invariants
//! - No I/O: callers hand in bytes and get bytes back.
//! - Every read is authenticated: nothing is decrypted before its MAC is checked in constant
//!   time, and a failed check returns no plaintext.
//! - Nothing that holds key bytes derives `Debug`; key material prints as `***` and is zeroized
//!   on drop.
//! - Every IV, salt and key comes from the OS RNG.

mod error;
mod kdf;
mod key;
mod key_json;
mod mac;
mod random;
mod secret;

pub use error::CryptoError;
pub use kdf::{calibrate_kdf, derive_key, KdfParams, MEMORY_BYTES_MAX, SALT_LEN, WORK_BYTES_MAX};
pub use key::MasterKey;
pub use random::random_bytes;
pub use secret::Secret;

/// Length of the IV at the start of every encrypted object (one AES block).
pub const IV_LEN: usize = 16;

/// Length of the Poly1305-AES tag at the end of every encrypted object.
pub const MAC_LEN: usize = 16;

/// Bytes an encrypted object adds to its plaintext (IV + MAC = 32).
pub const OVERHEAD: usize = IV_LEN + MAC_LEN;

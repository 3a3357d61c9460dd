//! Random secrets and how they are kept: session cookies, CSRF tokens, API tokens, setup
//! tokens and recovery codes come from the OS generator, and only their SHA-256 (hex) is
//! stored. They carry 256 bits (recovery codes 60), so a plain hash is enough: there is
//! nothing to guess that a slow hash would protect.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes as base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `text`, lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that takes the same time wherever the first difference is.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

const RECOVERY_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A recovery code: three groups of four characters (no 0/o, 1/l), e.g. `k7mq-2xzr-9hfa`.
pub fn recovery_code() -> String {
    let mut code = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        let index = OsRng.gen_range(0..RECOVERY_ALPHABET.len());
        code.push(RECOVERY_ALPHABET[index] as char);
    }
    code
}

/// A recovery code as typed (any case, with or without dashes and spaces), in the form that
/// is hashed.
pub fn normalize_recovery_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_characters_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(sha256_hex("abc").len(), 64);
        assert!(constant_time_eq(&sha256_hex("abc"), &sha256_hex("abc")));
        assert!(!constant_time_eq(&sha256_hex("abc"), &sha256_hex("abd")));
    }

    #[test]
    fn recovery_codes_normalize_as_typed() {
        let code = recovery_code();
        assert_eq!(code.len(), 14);
        assert_eq!(
            normalize_recovery_code(&code.to_uppercase().replace('-', " ")),
            normalize_recovery_code(&code)
        );
    }
}

//! The JSON form of a master key, as restic stores it (encrypted) in a key file's `data`:
//! `{"mac":{"k":"<base64>","r":"<base64>"},"encrypt":"<base64>"}`.
//!
//! Format: standard base64 with padding (Go's encoding of `[]byte`), k and r 16 bytes each,
//! encrypt 32 bytes; fields in that order, no whitespace, exactly what Go's `json.Marshal` writes
//! for restic's `crypto.Key`, so a key file written by cairn is byte-for-byte what restic would
//! write. Reading accepts any field order and whitespace and ignores unknown fields (as Go does),
//! but requires the exact lengths (Go would silently truncate or zero-fill) and refuses an
//! all-zero part, which restic's `Key.Valid` refuses too.
//!
//! Invariant: every intermediate copy of the key (JSON text, base64 strings, decoded bytes) is
//! zeroized, and no error message quotes the input.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use crate::{CryptoError, MasterKey, Secret};

/// The JSON text restic writes, before base64 is filled in; see [`MasterKey::to_json`].
const JSON_PREFIX: &[u8] = br#"{"mac":{"k":""#;
const JSON_AFTER_K: &[u8] = br#"","r":""#;
const JSON_AFTER_R: &[u8] = br#""},"encrypt":""#;
const JSON_SUFFIX: &[u8] = br#""}"#;

/// Base64 lengths of 16 and 32 bytes with padding.
const BASE64_LEN_16: usize = 24;
const BASE64_LEN_32: usize = 44;

#[derive(Deserialize)]
struct KeyJson {
    mac: MacJson,
    encrypt: String,
}

#[derive(Deserialize)]
struct MacJson {
    k: String,
    r: String,
}

impl Drop for KeyJson {
    fn drop(&mut self) {
        self.encrypt.zeroize();
    }
}

impl Drop for MacJson {
    fn drop(&mut self) {
        self.k.zeroize();
        self.r.zeroize();
    }
}

impl MasterKey {
    /// The key file JSON form (`{"mac":{"k","r"},"encrypt"}`), wrapped so it is never printed.
    pub fn to_json(&self) -> Secret<Vec<u8>> {
        let total_len = JSON_PREFIX.len()
            + BASE64_LEN_16
            + JSON_AFTER_K.len()
            + BASE64_LEN_16
            + JSON_AFTER_R.len()
            + BASE64_LEN_32
            + JSON_SUFFIX.len();
        // Sized exactly so the vector never reallocates and leaves an unwiped copy behind.
        let mut json = Secret::new(Vec::with_capacity(total_len));
        let buffer = json.expose_mut();
        buffer.extend_from_slice(JSON_PREFIX);
        append_base64(buffer, &self.mac_k);
        buffer.extend_from_slice(JSON_AFTER_K);
        append_base64(buffer, &self.mac_r);
        buffer.extend_from_slice(JSON_AFTER_R);
        append_base64(buffer, &self.encrypt);
        buffer.extend_from_slice(JSON_SUFFIX);
        debug_assert_eq!(buffer.len(), total_len);
        json
    }

    /// Parses the key file JSON form.
    pub fn from_json(json: &[u8]) -> Result<MasterKey, CryptoError> {
        let parsed: KeyJson = serde_json::from_slice(json).map_err(|error| {
            // serde's message can quote the offending value, which may be key material: keep
            // only its category and position.
            let category = match error.classify() {
                serde_json::error::Category::Io => "unreadable input",
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Data => "a field is missing or has the wrong type",
                serde_json::error::Category::Eof => "the JSON ends early",
            };
            CryptoError::InvalidKeyJson {
                reason: format!(
                    "{category} (line {}, column {}); expected {{\"mac\":{{\"k\",\"r\"}},\"encrypt\"}}",
                    error.line(),
                    error.column()
                ),
            }
        })?;
        let mac_k = Zeroizing::new(decode_part::<16>("mac.k", &parsed.mac.k)?);
        let mac_r = Zeroizing::new(decode_part::<16>("mac.r", &parsed.mac.r)?);
        let encrypt = Zeroizing::new(decode_part::<32>("encrypt", &parsed.encrypt)?);
        Ok(MasterKey::from_parts(*encrypt, *mac_k, *mac_r))
    }
}

fn append_base64(buffer: &mut Vec<u8>, bytes: &[u8]) {
    let start = buffer.len();
    buffer.resize(
        start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
        0,
    );
    let written = STANDARD
        .encode_slice(bytes, &mut buffer[start..])
        .expect("buffer sized by encoded_len");
    debug_assert_eq!(start + written, buffer.len());
}

/// Decodes one base64 field of exactly `N` bytes.
fn decode_part<const N: usize>(field: &str, text: &str) -> Result<[u8; N], CryptoError> {
    // One spare byte tells "too long" apart from "exactly N"; longer input fails the decode.
    let mut decoded = Zeroizing::new([0u8; 64]);
    let capacity = N + 1;
    let written = STANDARD
        .decode_slice(text.as_bytes(), &mut decoded[..capacity])
        .map_err(|error| CryptoError::InvalidKeyJson {
            reason: match error {
                base64::DecodeSliceError::OutputSliceTooSmall => {
                    format!("field {field} is longer than {N} bytes")
                }
                base64::DecodeSliceError::DecodeError(_) => {
                    format!("field {field} is not valid base64")
                }
            },
        })?;
    if written != N {
        return Err(CryptoError::InvalidKeyJson {
            reason: format!("field {field} is {written} bytes, expected {N}"),
        });
    }
    if decoded[..N].iter().all(|&byte| byte == 0) {
        return Err(CryptoError::InvalidKeyJson {
            reason: format!("field {field} is all zeros, which restic treats as no key"),
        });
    }
    let mut part = [0u8; N];
    part.copy_from_slice(&decoded[..N]);
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_exactly_what_go_json_marshal_writes() {
        let key = MasterKey::from_parts([0x01; 32], [0x02; 16], [0x03; 16]);
        // r is written clamped: bytes 4, 8 and 12 lose their low two bits (0x03 becomes 0x00).
        let json = key.to_json();
        let expected = format!(
            r#"{{"mac":{{"k":"{}","r":"{}"}},"encrypt":"{}"}}"#,
            STANDARD.encode([0x02; 16]),
            STANDARD.encode([3, 3, 3, 3, 0, 3, 3, 3, 0, 3, 3, 3, 0, 3, 3, 3]),
            STANDARD.encode([0x01; 32])
        );
        assert_eq!(String::from_utf8(json.expose().clone()).unwrap(), expected);
    }

    #[test]
    fn round_trips_and_accepts_other_layouts() {
        let key = MasterKey::generate();
        let again = MasterKey::from_json(key.to_json().expose()).unwrap();
        assert_eq!(again.encrypt, key.encrypt);
        assert_eq!(again.mac_k, key.mac_k);
        assert_eq!(again.mac_r, key.mac_r);

        let reordered = format!(
            "{{ \"encrypt\": \"{}\", \"extra\": 1,\n \"mac\": {{ \"r\": \"{}\", \"k\": \"{}\" }} }}",
            STANDARD.encode(key.encrypt),
            STANDARD.encode(key.mac_r),
            STANDARD.encode(key.mac_k)
        );
        let parsed = MasterKey::from_json(reordered.as_bytes()).unwrap();
        assert_eq!(parsed.encrypt, key.encrypt);
        assert_eq!(parsed.mac_r, key.mac_r);
    }

    #[test]
    fn rejects_malformed_json_without_quoting_it() {
        let good_k = STANDARD.encode([7u8; 16]);
        let good_e = STANDARD.encode([7u8; 32]);
        let cases = [
            ("not json".to_string(), "not valid JSON"),
            (
                r#"{"mac":{"k":"SECRETSECRET"}}"#.to_string(),
                "missing or has the wrong type",
            ),
            (
                format!(r#"{{"mac":{{"k":"{good_k}","r":"{good_k}"}},"encrypt":17}}"#),
                "wrong type",
            ),
            (
                format!(r#"{{"mac":{{"k":"{good_k}","r":"{good_k}"}},"encrypt":"@@@@"}}"#),
                "not valid base64",
            ),
            (
                format!(
                    r#"{{"mac":{{"k":"{good_k}","r":"{}"}},"encrypt":"{good_e}"}}"#,
                    STANDARD.encode([7u8; 15])
                ),
                "mac.r is 15 bytes",
            ),
            (
                format!(r#"{{"mac":{{"k":"{good_e}","r":"{good_k}"}},"encrypt":"{good_e}"}}"#),
                "mac.k is longer than 16",
            ),
            (
                format!(
                    r#"{{"mac":{{"k":"{good_k}","r":"{good_k}"}},"encrypt":"{}"}}"#,
                    STANDARD.encode([0u8; 32])
                ),
                "all zeros",
            ),
        ];
        for (input, expected) in cases {
            let error = MasterKey::from_json(input.as_bytes()).expect_err(&input);
            let message = error.to_string();
            assert!(
                matches!(error, CryptoError::InvalidKeyJson { .. }),
                "{message}"
            );
            assert!(message.contains(expected), "{input} -> {message}");
            for quoted in ["SECRETSECRET", good_k.as_str(), good_e.as_str(), "@@@@"] {
                assert!(!message.contains(quoted), "{message} quotes the input");
            }
        }
    }
}

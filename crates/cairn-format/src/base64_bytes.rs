//! Byte strings (`[]byte`) as Go's `encoding/json` writes them (standard, padded base64) and
//! reads them: a base64 string with padding required, `\r` and `\n` skipped and non-zero
//! trailing bits accepted, or an array of numbers 0..=255.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serializer};

pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

/// `[]byte` as Go reads it.
pub(crate) struct GoBytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for GoBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = GoBytes;
    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a base64 string")
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<GoBytes, E> {
        decode_go_base64(text)
            .map(GoBytes)
            .map_err(|error| E::custom(format_args!("invalid base64: {error}")))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<GoBytes, A::Error> {
        let mut bytes = Vec::new();
        while let Some(byte) = sequence.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(GoBytes(bytes))
    }
}

pub(crate) fn decode_go_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const GO_STD_ENCODING: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    if text.contains(['\r', '\n']) {
        let stripped: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        GO_STD_ENCODING.decode(stripped)
    } else {
        GO_STD_ENCODING.decode(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_base64_requires_padding_and_skips_newlines() {
        assert_eq!(decode_go_base64("dmFs").unwrap(), b"val");
        assert_eq!(decode_go_base64("dm\r\nFs").unwrap(), b"val");
        assert_eq!(decode_go_base64("").unwrap(), b"");
        assert_eq!(decode_go_base64("YQ==").unwrap(), b"a");
        assert_eq!(
            decode_go_base64("YR==").unwrap(),
            b"a",
            "trailing bits allowed"
        );
        assert!(decode_go_base64("YQ").is_err());
        assert!(decode_go_base64("YQ=").is_err());
        assert!(decode_go_base64("dmFs!").is_err());
    }
}

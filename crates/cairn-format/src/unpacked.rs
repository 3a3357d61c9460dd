//! The framing of unpacked files (index, snapshot, lock) inside their encryption.
//!
//! In format version 2 the plaintext is either JSON as is (starting with `{` or `[`) or the
//! byte `0x02` followed by one zstd frame of the JSON. Version 1 repositories hold plain JSON
//! only. `config` and key files are never framed this way.

use std::io::Read;

use crate::FormatError;

const ZSTD_MARKER: u8 = 2;

/// Decompressed input larger than this is refused, so a hostile object cannot exhaust memory.
const MAX_UNPACKED_LEN: u64 = 4 << 30;

/// Compresses `json` for a version 2 repository (`0x02 || zstd(json)`).
pub fn encode_unpacked(json: &[u8], zstd_level: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() / 3 + 16);
    out.push(ZSTD_MARKER);
    let mut encoder = zstd::stream::Encoder::new(out, zstd_level).expect("zstd encoder");
    std::io::Write::write_all(&mut encoder, json).expect("write to memory");
    encoder.finish().expect("zstd finish")
}

/// The JSON inside an unpacked file's plaintext.
pub fn decode_unpacked(plaintext: &[u8]) -> Result<Vec<u8>, FormatError> {
    match plaintext.first() {
        Some(b'{') | Some(b'[') => Ok(plaintext.to_vec()),
        Some(&ZSTD_MARKER) => {
            let decoder = zstd::stream::Decoder::new(&plaintext[1..]).map_err(|e| {
                FormatError::Decompress {
                    what: "unpacked file",
                    reason: e.to_string(),
                }
            })?;
            let mut json = Vec::new();
            decoder
                .take(MAX_UNPACKED_LEN + 1)
                .read_to_end(&mut json)
                .map_err(|e| FormatError::Decompress {
                    what: "unpacked file",
                    reason: e.to_string(),
                })?;
            if json.len() as u64 > MAX_UNPACKED_LEN {
                return Err(FormatError::invalid(
                    "unpacked file",
                    "decompressed size exceeds 4 GiB",
                ));
            }
            Ok(json)
        }
        Some(other) => Err(FormatError::invalid(
            "unpacked file",
            format!("unknown encoding byte {other:#04x} (expected '{{', '[' or 0x02)"),
        )),
        None => Err(FormatError::invalid("unpacked file", "empty plaintext")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_accepts_plain_json() {
        let json = br#"{"a":[1,2,3]}"#;
        let framed = encode_unpacked(json, 3);
        assert_eq!(framed[0], 2);
        assert_eq!(decode_unpacked(&framed).unwrap(), json);
        assert_eq!(decode_unpacked(json).unwrap(), json);
    }

    #[test]
    fn rejects_unknown_markers_and_corrupt_frames() {
        assert!(decode_unpacked(b"\x03abc").is_err());
        assert!(decode_unpacked(b"").is_err());
        assert!(decode_unpacked(b"\x02not zstd").is_err());
    }
}

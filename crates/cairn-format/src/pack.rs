//! Pack files (`data/<xx>/<id>`): sealed blobs back to back, then the sealed header, then the
//! header's sealed length as a little-endian u32.
//!
//! Header entries, one per blob, in pack order (offsets are implicit: each blob starts where
//! the previous one ended):
//! - type 0 (data) or 1 (tree): `type(1) || length(u32le) || id(32)`, 37 bytes;
//! - type 2 (compressed data) or 3 (compressed tree):
//!   `type(1) || length(u32le) || uncompressed_length(u32le) || id(32)`, 41 bytes.
//!
//! `length` is the stored length (sealed, after compression); the id is the SHA-256 of the
//! blob's plaintext before compression.

use crate::{BlobType, FormatError, Id};

pub const ENTRY_LEN: usize = 37;
pub const COMPRESSED_ENTRY_LEN: usize = 41;
/// The trailing u32 that holds the sealed header's length.
pub const TRAILER_LEN: usize = 4;

/// One blob as a pack header lists it, with its offset worked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackBlob {
    pub blob_type: BlobType,
    pub id: Id,
    pub offset: u32,
    pub length: u32,
    pub uncompressed_length: Option<u32>,
}

/// The plaintext of a pack header for `blobs` (in pack order).
pub fn encode_header(blobs: &[PackBlob]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blobs.len() * COMPRESSED_ENTRY_LEN);
    for blob in blobs {
        let type_byte = match (blob.blob_type, blob.uncompressed_length.is_some()) {
            (BlobType::Data, false) => 0,
            (BlobType::Tree, false) => 1,
            (BlobType::Data, true) => 2,
            (BlobType::Tree, true) => 3,
        };
        out.push(type_byte);
        out.extend_from_slice(&blob.length.to_le_bytes());
        if let Some(n) = blob.uncompressed_length {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(blob.id.as_bytes());
    }
    out
}

/// Parses a pack header's plaintext. `blobs_end` is where the header starts in the pack (the
/// pack size minus the sealed header and trailer); every blob must end at or before it.
pub fn decode_header(plaintext: &[u8], blobs_end: u64) -> Result<Vec<PackBlob>, FormatError> {
    let mut blobs = Vec::with_capacity(plaintext.len() / ENTRY_LEN);
    let mut rest = plaintext;
    let mut offset: u64 = 0;
    while !rest.is_empty() {
        let (blob_type, compressed) = match rest[0] {
            0 => (BlobType::Data, false),
            1 => (BlobType::Tree, false),
            2 => (BlobType::Data, true),
            3 => (BlobType::Tree, true),
            other => {
                return Err(FormatError::invalid(
                    "pack header",
                    format!("entry {} has unknown blob type {other}", blobs.len()),
                ))
            }
        };
        let entry_len = if compressed {
            COMPRESSED_ENTRY_LEN
        } else {
            ENTRY_LEN
        };
        if rest.len() < entry_len {
            return Err(FormatError::invalid(
                "pack header",
                format!("entry {} is truncated", blobs.len()),
            ));
        }
        let length = u32::from_le_bytes(rest[1..5].try_into().expect("4 bytes"));
        let (uncompressed_length, id_at) = if compressed {
            let n = u32::from_le_bytes(rest[5..9].try_into().expect("4 bytes"));
            (Some(n), 9)
        } else {
            (None, 5)
        };
        let id = Id(rest[id_at..id_at + 32].try_into().expect("32 bytes"));
        let end = offset + u64::from(length);
        if end > u64::from(u32::MAX) {
            return Err(FormatError::invalid(
                "pack header",
                format!(
                    "blob {} ends past 4 GiB, beyond what a pack can hold",
                    id.short()
                ),
            ));
        }
        if end > blobs_end {
            return Err(FormatError::invalid(
                "pack header",
                format!(
                    "blob {} at offset {offset} length {length} runs past the end of the blob area ({blobs_end})",
                    id.short()
                ),
            ));
        }
        blobs.push(PackBlob {
            blob_type,
            id,
            offset: offset as u32,
            length,
            uncompressed_length,
        });
        offset = end;
        rest = &rest[entry_len..];
    }
    Ok(blobs)
}

/// The sealed header length stored in a pack's last four bytes.
pub fn header_length_from_trailer(trailer: [u8; 4]) -> u32 {
    u32::from_le_bytes(trailer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blob(blob_type: BlobType, offset: u32, length: u32, compressed: Option<u32>) -> PackBlob {
        PackBlob {
            blob_type,
            id: Id::hash(&offset.to_le_bytes()),
            offset,
            length,
            uncompressed_length: compressed,
        }
    }

    #[test]
    fn header_round_trips_with_mixed_entries() {
        let blobs = vec![
            blob(BlobType::Data, 0, 100, None),
            blob(BlobType::Data, 100, 50, Some(400)),
            blob(BlobType::Tree, 150, 70, Some(90)),
            blob(BlobType::Tree, 220, 40, None),
        ];
        let header = encode_header(&blobs);
        assert_eq!(header.len(), 2 * ENTRY_LEN + 2 * COMPRESSED_ENTRY_LEN);
        assert_eq!(header[0], 0);
        assert_eq!(header[ENTRY_LEN], 2);
        assert_eq!(decode_header(&header, 260).unwrap(), blobs);
    }

    #[test]
    fn rejects_blobs_past_the_header_and_bad_types() {
        let header = encode_header(&[blob(BlobType::Data, 0, 100, None)]);
        assert!(decode_header(&header, 99).is_err());
        let mut bad = header.clone();
        bad[0] = 7;
        assert!(decode_header(&bad, 1000).is_err());
        assert!(decode_header(&header[..20], 1000).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), end in any::<u64>()) {
            let _ = decode_header(&bytes, end);
        }
    }
}

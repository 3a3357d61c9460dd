//! Turning a blob's plaintext into its stored form (zstd, then sealed) and back.
//!
//! Decoding checks everything: the MAC (by opening), the decompressed length against the
//! index, and the SHA-256 of the plaintext against the blob id.

use cairn_crypto::MasterKey;
use cairn_format::{BlobType, Id};

use crate::index::BlobLocation;
use crate::{RepoError, Result};

/// How hard blobs are compressed (restic's `--compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// zstd level 3, keeping the compressed form only when it is smaller.
    #[default]
    Auto,
    /// No compression (the only mode of format version 1).
    Off,
    /// zstd level 19: slow, smallest.
    Max,
}

impl Compression {
    fn zstd_level(self) -> Option<i32> {
        match self {
            Compression::Auto => Some(3),
            Compression::Off => None,
            Compression::Max => Some(19),
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Compression, String> {
        match s {
            "auto" => Ok(Compression::Auto),
            "off" => Ok(Compression::Off),
            "max" => Ok(Compression::Max),
            other => Err(format!(
                "unknown compression {other:?}: use auto, off or max"
            )),
        }
    }
}

/// Compresses and seals blobs; one per worker thread, because a zstd context is not shared.
pub struct BlobEncoder {
    compressor: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
}

impl BlobEncoder {
    pub fn new(compression: Compression, format_supports_compression: bool) -> BlobEncoder {
        let level = if format_supports_compression {
            compression.zstd_level()
        } else {
            None
        };
        BlobEncoder {
            compressor: level.map(|l| zstd::bulk::Compressor::new(l).expect("zstd compressor")),
            scratch: Vec::new(),
        }
    }

    /// Appends the stored form of `plaintext` to `out`; returns the plaintext length when the
    /// stored form is compressed.
    pub fn encode(&mut self, key: &MasterKey, plaintext: &[u8], out: &mut Vec<u8>) -> Option<u32> {
        if let Some(compressor) = self.compressor.as_mut() {
            // A compressed blob must be smaller than its plaintext to be worth the header's
            // extra four bytes; incompressible data is stored as is.
            self.scratch.clear();
            self.scratch
                .reserve(zstd::zstd_safe::compress_bound(plaintext.len()));
            if compressor
                .compress_to_buffer(plaintext, &mut self.scratch)
                .is_ok()
                && self.scratch.len() + 4 < plaintext.len()
            {
                key.seal_into(&self.scratch, out);
                return Some(plaintext.len() as u32);
            }
        }
        key.seal_into(plaintext, out);
        None
    }
}

/// Opens one stored blob (decrypting `sealed` in place) and checks it is the blob `id`.
pub fn decode_blob(
    key: &MasterKey,
    id: &Id,
    location: &BlobLocation,
    sealed: &mut [u8],
) -> Result<Vec<u8>> {
    let object = || {
        format!(
            "{} blob {} in pack {}",
            location.blob_type, id, location.pack
        )
    };
    let opened = key
        .open_in_place(sealed)
        .map_err(|e| RepoError::corrupt(object(), e.to_string()))?;
    let plaintext = match location.uncompressed_length {
        None => opened.to_vec(),
        Some(expected) => {
            let plaintext = zstd::bulk::decompress(opened, expected as usize)
                .map_err(|e| RepoError::corrupt(object(), format!("cannot decompress: {e}")))?;
            if plaintext.len() != expected as usize {
                return Err(RepoError::corrupt(
                    object(),
                    format!(
                        "decompressed to {} bytes, the index says {expected}",
                        plaintext.len()
                    ),
                ));
            }
            plaintext
        }
    };
    if Id::hash(&plaintext) != *id {
        return Err(RepoError::corrupt(
            object(),
            "plaintext does not match the blob id",
        ));
    }
    Ok(plaintext)
}

/// The type a header entry gives a blob, for messages.
pub fn blob_label(blob_type: BlobType, id: &Id) -> String {
    format!("{blob_type} blob {id}")
}

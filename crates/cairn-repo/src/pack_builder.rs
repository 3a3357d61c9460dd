//! Assembling one pack in memory: sealed blobs appended back to back, then the sealed header
//! and its length. The finished pack is written with a single `put`, named by its hash.

use cairn_crypto::MasterKey;
use cairn_format::pack::{encode_header, PackBlob};
use cairn_format::{BlobType, Id, IndexBlob, IndexPack};

pub struct PackBuilder {
    blob_type: BlobType,
    bytes: Vec<u8>,
    blobs: Vec<PackBlob>,
}

/// A pack ready to store, with the index entry that describes it.
pub struct FinishedPack {
    pub id: Id,
    pub bytes: Vec<u8>,
    pub index: IndexPack,
    /// Sum of the plaintext lengths of its blobs.
    pub plaintext_bytes: u64,
}

impl PackBuilder {
    pub fn new(blob_type: BlobType, capacity: usize) -> PackBuilder {
        PackBuilder::with_buffer(blob_type, Vec::with_capacity(capacity))
    }

    /// A builder filling `buffer` (cleared first), e.g. one taken from a pool.
    pub fn with_buffer(blob_type: BlobType, mut buffer: Vec<u8>) -> PackBuilder {
        buffer.clear();
        PackBuilder {
            blob_type,
            bytes: buffer,
            blobs: Vec::new(),
        }
    }

    pub fn blob_type(&self) -> BlobType {
        self.blob_type
    }

    /// Appends one stored blob (already compressed and sealed).
    /// Appends a blob whose stored form `encode` writes straight into the pack buffer (no
    /// intermediate copy); `encode` returns the plaintext length when it compressed.
    pub fn append_with(&mut self, id: Id, encode: impl FnOnce(&mut Vec<u8>) -> Option<u32>) {
        let offset = self.bytes.len();
        let uncompressed_length = encode(&mut self.bytes);
        self.blobs.push(PackBlob {
            blob_type: self.blob_type,
            id,
            offset: offset as u32,
            length: (self.bytes.len() - offset) as u32,
            uncompressed_length,
        });
    }

    pub fn add(&mut self, id: Id, stored: &[u8], uncompressed_length: Option<u32>) {
        self.blobs.push(PackBlob {
            blob_type: self.blob_type,
            id,
            offset: self.bytes.len() as u32,
            length: stored.len() as u32,
            uncompressed_length,
        });
        self.bytes.extend_from_slice(stored);
    }

    /// Bytes of blobs so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Seals the header, appends it and its length, and names the pack.
    pub fn finish(self, key: &MasterKey) -> FinishedPack {
        let PackBuilder {
            blob_type,
            mut bytes,
            blobs,
        } = self;
        let header = encode_header(&blobs);
        let before = bytes.len();
        key.seal_into(&header, &mut bytes);
        let header_len = (bytes.len() - before) as u32;
        bytes.extend_from_slice(&header_len.to_le_bytes());
        let id = Id::hash(&bytes);
        let plaintext_bytes = blobs
            .iter()
            .map(|b| {
                u64::from(
                    b.uncompressed_length
                        .unwrap_or(b.length - cairn_crypto::OVERHEAD as u32),
                )
            })
            .sum();
        let index = IndexPack {
            id,
            blobs: blobs
                .iter()
                .map(|b| IndexBlob {
                    id: b.id,
                    blob_type,
                    offset: b.offset,
                    length: b.length,
                    uncompressed_length: b.uncompressed_length,
                })
                .collect(),
        };
        FinishedPack {
            id,
            bytes,
            index,
            plaintext_bytes,
        }
    }
}

//! Assembling one pack: sealed blobs back to back, then the sealed header and its length,
//! named by the SHA-256 of the whole.
//!
//! A pack is assembled either in memory (then stored with one `put`) or straight into a
//! pending file of the store (local disks), hashing as it goes, so a 16 MiB pack never sits in
//! memory whole.

use cairn_crypto::MasterKey;
use cairn_format::pack::{encode_header, PackBlob};
use cairn_format::{BlobType, Id, IndexBlob, IndexPack, UnknownFields};
use cairn_storage::PendingFile;
use sha2::{Digest, Sha256};

use crate::Result;

/// Where a pack's bytes go while it is assembled.
enum Sink {
    Memory(Vec<u8>),
    File {
        file: Box<dyn PendingFile>,
        hasher: Sha256,
        written: usize,
        /// Reused for each sealed blob before it is hashed and written.
        scratch: Vec<u8>,
    },
}

pub struct PackBuilder {
    blob_type: BlobType,
    sink: Sink,
    blobs: Vec<PackBlob>,
}

/// A finished pack's bytes: in memory, or in a pending file waiting for its name.
pub enum PackBody {
    Memory(Vec<u8>),
    File(Box<dyn PendingFile>),
}

/// A pack ready to store, with the index entry that describes it.
pub struct FinishedPack {
    pub id: Id,
    pub body: PackBody,
    /// Size of the whole pack.
    pub size: u64,
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
            sink: Sink::Memory(buffer),
            blobs: Vec::new(),
        }
    }

    /// A builder writing straight into a pending file of the store.
    pub fn streaming(blob_type: BlobType, file: Box<dyn PendingFile>) -> PackBuilder {
        PackBuilder {
            blob_type,
            sink: Sink::File {
                file,
                hasher: Sha256::new(),
                written: 0,
                scratch: Vec::new(),
            },
            blobs: Vec::new(),
        }
    }

    pub fn blob_type(&self) -> BlobType {
        self.blob_type
    }

    /// Appends bytes that `encode` produces (into an empty buffer it is given); returns what
    /// `encode` returned.
    fn append_raw<T>(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> T) -> Result<(usize, T)> {
        match &mut self.sink {
            Sink::Memory(bytes) => {
                let offset = bytes.len();
                let value = encode(bytes);
                Ok((bytes.len() - offset, value))
            }
            Sink::File {
                file,
                hasher,
                written,
                scratch,
            } => {
                scratch.clear();
                let value = encode(scratch);
                hasher.update(&scratch[..]);
                file.write_all(scratch)?;
                *written += scratch.len();
                Ok((scratch.len(), value))
            }
        }
    }

    /// Appends a blob whose stored form `encode` writes (sealed; in memory straight into the
    /// pack buffer, no copy); `encode` returns the plaintext length when it compressed.
    pub fn append_with(
        &mut self,
        id: Id,
        encode: impl FnOnce(&mut Vec<u8>) -> Option<u32>,
    ) -> Result<()> {
        let offset = self.len();
        let (length, uncompressed_length) = self.append_raw(encode)?;
        self.blobs.push(PackBlob {
            blob_type: self.blob_type,
            id,
            offset: offset as u32,
            length: length as u32,
            uncompressed_length,
        });
        Ok(())
    }

    /// Appends one stored blob (already compressed and sealed).
    pub fn add(&mut self, id: Id, stored: &[u8], uncompressed_length: Option<u32>) -> Result<()> {
        self.append_with(id, |out| {
            out.extend_from_slice(stored);
            uncompressed_length
        })
    }

    /// Bytes of blobs so far.
    pub fn len(&self) -> usize {
        match &self.sink {
            Sink::Memory(bytes) => bytes.len(),
            Sink::File { written, .. } => *written,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Seals the header, appends it and its length, and names the pack.
    pub fn finish(mut self, key: &MasterKey) -> Result<FinishedPack> {
        let header = encode_header(&self.blobs);
        self.append_raw(|out| {
            let before = out.len();
            key.seal_into(&header, out);
            let header_len = (out.len() - before) as u32;
            out.extend_from_slice(&header_len.to_le_bytes());
        })?;
        let (id, size, body) = match self.sink {
            Sink::Memory(bytes) => (Id::hash(&bytes), bytes.len(), PackBody::Memory(bytes)),
            Sink::File {
                file,
                hasher,
                written,
                ..
            } => (Id(hasher.finalize().into()), written, PackBody::File(file)),
        };
        let plaintext_bytes = self
            .blobs
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
            blobs: self
                .blobs
                .iter()
                .map(|b| IndexBlob {
                    id: b.id,
                    blob_type: self.blob_type,
                    offset: b.offset,
                    length: b.length,
                    uncompressed_length: b.uncompressed_length,
                    unknown_fields: UnknownFields::default(),
                })
                .collect(),
            unknown_fields: UnknownFields::default(),
        };
        Ok(FinishedPack {
            id,
            body,
            size: size as u64,
            index,
            plaintext_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use cairn_storage::{FileKind, LocalStore, Storage};

    use super::*;
    use crate::pack_reader::parse_pack;

    #[test]
    fn a_streamed_pack_matches_the_in_memory_pack_and_is_named_by_its_hash() {
        let key = MasterKey::generate();
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store.create().unwrap();
        let blobs: Vec<(Id, Vec<u8>)> = (0..5u8)
            .map(|i| {
                let stored = key.seal(&vec![i; 1000 * usize::from(i + 1)]);
                (Id::hash(&[i]), stored)
            })
            .collect();
        let mut memory = PackBuilder::new(BlobType::Data, 0);
        let pending = store
            .create_pending(FileKind::Pack)
            .unwrap()
            .expect("local stores stream");
        let mut streamed = PackBuilder::streaming(BlobType::Data, pending);
        for (id, stored) in &blobs {
            memory.add(*id, stored, None).unwrap();
            streamed.add(*id, stored, None).unwrap();
        }
        assert_eq!(memory.len(), streamed.len());
        let blob_bytes = memory.len();
        let memory = memory.finish(&key).unwrap();
        let streamed = streamed.finish(&key).unwrap();
        // The sealed headers differ (each seal has its own random IV); all else is equal.
        assert_eq!(memory.size, streamed.size);
        assert_eq!(memory.index.blobs, streamed.index.blobs);
        let PackBody::Memory(bytes) = memory.body else {
            panic!("memory body")
        };
        let PackBody::File(file) = streamed.body else {
            panic!("file body")
        };
        file.commit(&streamed.id.to_hex()).unwrap();
        let stored = store.get(FileKind::Pack, &streamed.id.to_hex()).unwrap();
        assert_eq!(stored[..blob_bytes], bytes[..blob_bytes]);
        assert_eq!(
            Id::hash(&stored),
            streamed.id,
            "the incremental hash names the file"
        );
        assert_eq!(Id::hash(&bytes), memory.id);
        let header = parse_pack(&key, &streamed.id, &stored).unwrap();
        assert_eq!(header.len(), 5);
        assert_eq!(streamed.index.blobs.len(), 5);
    }
}

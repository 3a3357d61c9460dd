//! Index files (`index/<id>`): which blobs live in which pack, at which offset.
//!
//! Several index files may list the same blob (they overlap after concurrent backups); an index
//! file may name older index files it `supersedes`, which a reader may then ignore. The legacy
//! format (a bare JSON array of packs) is read too.

use serde::{Deserialize, Serialize};

use crate::{BlobType, FormatError, Id};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<Id>,
    pub packs: Vec<IndexPack>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPack {
    pub id: Id,
    pub blobs: Vec<IndexBlob>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexBlob {
    pub id: Id,
    #[serde(rename = "type")]
    pub blob_type: BlobType,
    /// Byte offset of the encrypted blob inside the pack.
    pub offset: u32,
    /// Stored (encrypted, possibly compressed) length.
    pub length: u32,
    /// Plaintext length, present only when the blob is compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncompressed_length: Option<u32>,
}

impl IndexBlob {
    /// The plaintext length: the uncompressed length, or the stored length minus the crypto
    /// overhead (IV and MAC, 32 bytes) for an uncompressed blob.
    pub fn plaintext_len(&self) -> u32 {
        match self.uncompressed_length {
            Some(n) => n,
            None => self.length.saturating_sub(32),
        }
    }
}

impl IndexFile {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("index serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<IndexFile, FormatError> {
        let trimmed = bytes.trim_ascii_start();
        if trimmed.first() == Some(&b'[') {
            let packs: Vec<IndexPack> =
                serde_json::from_slice(bytes).map_err(FormatError::json("legacy index"))?;
            return Ok(IndexFile {
                supersedes: Vec::new(),
                packs,
            });
        }
        serde_json::from_slice(bytes).map_err(FormatError::json("index"))
    }

    /// Number of blob entries over all packs.
    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|p| p.blobs.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_restic_index_json_and_writes_it_back() {
        let pack = Id::hash(b"pack");
        let blob = Id::hash(b"blob");
        let json = format!(
            r#"{{"packs":[{{"id":"{pack}","blobs":[{{"id":"{blob}","type":"data","offset":0,"length":60,"uncompressed_length":100}},{{"id":"{blob}","type":"tree","offset":60,"length":50}}]}}]}}"#
        );
        let index = IndexFile::from_json(json.as_bytes()).unwrap();
        assert_eq!(index.blob_count(), 2);
        assert_eq!(index.packs[0].blobs[0].plaintext_len(), 100);
        assert_eq!(index.packs[0].blobs[1].plaintext_len(), 18);
        assert_eq!(String::from_utf8(index.to_json()).unwrap(), json);
    }

    #[test]
    fn reads_the_legacy_array_form() {
        let pack = Id::hash(b"pack");
        let json = format!(r#"[{{"id":"{pack}","blobs":[]}}]"#);
        assert_eq!(
            IndexFile::from_json(json.as_bytes()).unwrap().packs.len(),
            1
        );
    }

    #[test]
    fn rejects_malformed_input() {
        assert!(IndexFile::from_json(b"{\"packs\":[{\"id\":\"zz\"}]}").is_err());
        assert!(IndexFile::from_json(b"").is_err());
    }
}

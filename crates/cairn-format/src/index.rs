//! Index files (`index/<id>`): which blobs live in which pack, at which offset.
//!
//! Several index files may list the same blob (they overlap after concurrent backups); an index
//! file may name older index files it `supersedes`, which a reader may then ignore. The legacy
//! format (a bare JSON array of packs) is read too.

use serde::Serialize;

use crate::go_json::{deserialize_go_object, read_object, required, UnknownFields};
use crate::{BlobType, FormatError, Id};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexFile {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<Id>,
    pub packs: Vec<IndexPack>,
    /// Unknown top-level fields. They describe this file, so they are kept when the file is
    /// re-encoded as it is, not when its packs move into new files (prune, `repair index`).
    #[serde(flatten)]
    pub unknown_fields: UnknownFields,
}

/// One pack's entry; `id` is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexPack {
    pub id: Id,
    pub blobs: Vec<IndexBlob>,
    /// Kept wherever the pack's entry goes (prune and `repair index` carry entries over).
    #[serde(flatten)]
    pub unknown_fields: UnknownFields,
}

/// One blob's entry; every field but `uncompressed_length` is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexBlob {
    pub id: Id,
    #[serde(rename = "type")]
    pub blob_type: BlobType,
    /// Byte offset of the encrypted blob inside the pack.
    pub offset: u32,
    /// Stored (encrypted, possibly compressed) length.
    pub length: u32,
    /// Plaintext length, present only when the blob is compressed (restic's 0 means absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncompressed_length: Option<u32>,
    #[serde(flatten)]
    pub unknown_fields: UnknownFields,
}

const FILE_FIELDS: [&str; 2] = ["supersedes", "packs"];
const PACK_FIELDS: [&str; 2] = ["id", "blobs"];
const BLOB_FIELDS: [&str; 5] = ["id", "type", "offset", "length", "uncompressed_length"];

deserialize_go_object!(IndexFile, "an index object", |map| {
    let mut file = IndexFile::default();
    file.unknown_fields = read_object(&mut map, &FILE_FIELDS, |field, map| {
        match field {
            0 => file.supersedes = map.next_value::<Option<_>>()?.unwrap_or_default(),
            _ => file.packs = map.next_value::<Option<_>>()?.unwrap_or_default(),
        }
        Ok(())
    })?;
    Ok(file)
});

deserialize_go_object!(IndexPack, "an index pack object", |map| {
    let (mut id, mut blobs) = (None, Vec::new());
    let unknown_fields = read_object(&mut map, &PACK_FIELDS, |field, map| {
        match field {
            0 => id = map.next_value()?,
            _ => blobs = map.next_value::<Option<_>>()?.unwrap_or_default(),
        }
        Ok(())
    })?;
    Ok(IndexPack {
        id: required(id, "id")?,
        blobs,
        unknown_fields,
    })
});

deserialize_go_object!(IndexBlob, "an index blob object", |map| {
    let (mut id, mut blob_type, mut offset, mut length) = (None, None, None, None);
    let mut uncompressed_length = None;
    let unknown_fields = read_object(&mut map, &BLOB_FIELDS, |field, map| {
        match field {
            0 => id = map.next_value()?,
            1 => blob_type = map.next_value()?,
            2 => offset = map.next_value()?,
            3 => length = map.next_value()?,
            _ => uncompressed_length = map.next_value::<Option<u32>>()?.filter(|n| *n != 0),
        }
        Ok(())
    })?;
    Ok(IndexBlob {
        id: required(id, "id")?,
        blob_type: required(blob_type, "type")?,
        offset: required(offset, "offset")?,
        length: required(length, "length")?,
        uncompressed_length,
        unknown_fields,
    })
});

impl From<&crate::PackBlob> for IndexBlob {
    /// The entry of a blob as its pack's header lists it.
    fn from(blob: &crate::PackBlob) -> IndexBlob {
        IndexBlob {
            id: blob.id,
            blob_type: blob.blob_type,
            offset: blob.offset,
            length: blob.length,
            uncompressed_length: blob.uncompressed_length,
            unknown_fields: UnknownFields::default(),
        }
    }
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
                unknown_fields: UnknownFields::default(),
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

    #[test]
    fn keeps_unknown_fields_at_every_level() {
        let pack = Id::hash(b"pack");
        let blob = Id::hash(b"blob");
        let json = format!(
            r#"{{"packs":[{{"id":"{pack}","blobs":[{{"id":"{blob}","type":"data","offset":0,"length":60,"x_blob":1}}],"x_pack":"p"}}],"x_file":[]}}"#
        );
        let index = IndexFile::from_json(json.as_bytes()).unwrap();
        assert_eq!(index.unknown_fields.get("x_file"), Some("[]"));
        assert_eq!(index.packs[0].unknown_fields.get("x_pack"), Some(r#""p""#));
        assert_eq!(
            index.packs[0].blobs[0].unknown_fields.get("x_blob"),
            Some("1")
        );
        assert_eq!(String::from_utf8(index.to_json()).unwrap(), json);
    }

    #[test]
    fn absent_lists_are_empty_and_missing_positions_are_named() {
        let index = IndexFile::from_json(b"{}").unwrap();
        assert!(index.packs.is_empty());
        let pack = Id::hash(b"pack");
        let index = IndexFile::from_json(
            format!(r#"{{"supersedes":null,"packs":[{{"id":"{pack}","blobs":null}}]}}"#).as_bytes(),
        )
        .unwrap();
        assert!(index.packs[0].blobs.is_empty());
        let blob = Id::hash(b"blob");
        for (field, entry) in [
            ("id", r#"{"type":"data","offset":0,"length":1}"#.to_string()),
            (
                "type",
                format!(r#"{{"id":"{blob}","offset":0,"length":1}}"#),
            ),
            (
                "offset",
                format!(r#"{{"id":"{blob}","type":"tree","length":1}}"#),
            ),
            (
                "length",
                format!(r#"{{"id":"{blob}","type":"tree","offset":0}}"#),
            ),
        ] {
            let json = format!(r#"{{"packs":[{{"id":"{pack}","blobs":[{entry}]}}]}}"#);
            let error = IndexFile::from_json(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("missing field `{field}`")),
                "{error}"
            );
        }
        let error = IndexFile::from_json(br#"{"packs":[{"blobs":[]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing field `id`"), "{error}");
        // restic's 0 means "not compressed".
        let json = format!(
            r#"{{"packs":[{{"id":"{pack}","blobs":[{{"id":"{blob}","type":"data","offset":0,"length":40,"uncompressed_length":0}}]}}]}}"#
        );
        let index = IndexFile::from_json(json.as_bytes()).unwrap();
        assert_eq!(index.packs[0].blobs[0].uncompressed_length, None);
        assert_eq!(index.packs[0].blobs[0].plaintext_len(), 8);
    }
}

//! What each fuzz target asserts, shared so that the `unpacked` target can run the JSON
//! checks on what it decompresses.
//!
//! Every decoder must return (an error or a value) without panicking, and a value it returns
//! must survive its own encoder: decoding the re-encoded value gives it back. A panic or a
//! failed assertion here is a bug in `cairn-format`.

use cairn_format::pack::{decode_header, encode_header};
use cairn_format::tree::{decode_tree, encode_node, Node};
use cairn_format::unpacked::decode_unpacked;
use cairn_format::{IndexFile, KeyFile, LockFile, RepoConfig, Snapshot};

/// `blobs_end` from the first 8 bytes (little-endian), the header plaintext from the rest.
pub fn pack_header(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let (end, header) = data.split_at(8);
    let blobs_end = u64::from_le_bytes(end.try_into().unwrap());
    if let Ok(blobs) = decode_header(header, blobs_end) {
        assert_eq!(encode_header(&blobs), header, "a decoded header re-encodes");
        let mut offset = 0u64;
        for blob in &blobs {
            offset += u64::from(blob.length);
            assert!(offset <= blobs_end, "every blob lies inside the blob area");
        }
        if blobs_end <= u64::from(u32::MAX) {
            let mut offset = 0u64;
            for blob in &blobs {
                assert_eq!(u64::from(blob.offset), offset, "blobs lie back to back");
                offset += u64::from(blob.length);
            }
        }
    }
}

pub fn index(data: &[u8]) {
    if let Ok(index) = IndexFile::from_json(data) {
        assert_eq!(IndexFile::from_json(&index.to_json()).unwrap(), index);
    }
}

pub fn snapshot(data: &[u8]) {
    if let Ok(snapshot) = Snapshot::from_json(data) {
        assert_eq!(Snapshot::from_json(&snapshot.to_json()).unwrap(), snapshot);
    }
}

pub fn lock(data: &[u8]) {
    if let Ok(lock) = LockFile::from_json(data) {
        assert_eq!(LockFile::from_json(&lock.to_json()).unwrap(), lock);
    }
}

pub fn config(data: &[u8]) {
    if let Ok(config) = RepoConfig::from_json(data) {
        assert_eq!(RepoConfig::from_json(&config.to_json()).unwrap(), config);
    }
}

pub fn key_file(data: &[u8]) {
    if let Ok(key) = KeyFile::from_json(data) {
        let again = KeyFile::from_json(&key.to_json()).unwrap();
        assert_eq!(again.created, key.created);
        assert_eq!((again.n, again.r, again.p), (key.n, key.r, key.p));
        assert_eq!(again.salt, key.salt);
        assert_eq!(again.data, key.data);
        assert_eq!(
            (&again.username, &again.hostname),
            (&key.username, &key.hostname)
        );
    }
}

/// The tree's nodes framed as restic frames them, in the order given (`encode_tree` wants them
/// sorted; what was decoded need not be).
fn frame(nodes: &[Node]) -> Vec<u8> {
    let mut out = b"{\"nodes\":[".to_vec();
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        encode_node(node, &mut out);
    }
    out.extend_from_slice(b"]}\n");
    out
}

pub fn tree(data: &[u8]) {
    if let Ok(nodes) = decode_tree(data) {
        let again = decode_tree(&frame(&nodes)).expect("re-encoded nodes decode");
        assert_eq!(again, nodes);
    }
}

/// The framing of index, snapshot and lock files, then each of their JSON decoders on what
/// comes out.
pub fn unpacked(data: &[u8]) {
    if let Ok(json) = decode_unpacked(data) {
        index(&json);
        snapshot(&json);
        lock(&json);
    }
}

/// A multihost frame's plaintext (`cairn_sync::frame::decode_plaintext`): a message it
/// accepts re-encodes to a plaintext that decodes to the same message. The same bytes also go
/// through the handshake payload decoders and the pairing token parser, which take untrusted
/// input before any key is known.
pub fn sync_frame(data: &[u8]) {
    if let Ok(message) = cairn_sync::frame::decode_plaintext(data) {
        let again =
            cairn_sync::frame::encode_plaintext(&message).expect("a decoded message encodes");
        assert_eq!(
            cairn_sync::frame::decode_plaintext(&again).unwrap(),
            message
        );
    }
    let body = data.get(1..).unwrap_or_default();
    cairn_sync::handshake::payload::decode_any_payload(body);
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = cairn_sync::PairingToken::parse(text);
    }
}

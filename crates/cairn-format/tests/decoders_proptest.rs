//! Every decoder of repository bytes, fed hostile input: it returns an error, never panics.
//!
//! Each decoder gets fully arbitrary bytes, valid encodings damaged byte by byte (flip, set,
//! insert, delete, truncate, duplicate) and, for the JSON objects, valid JSON with a value
//! swapped for a random one. Where a decoder accepts damaged input, what it returns must
//! survive its own encoder (`decode ∘ encode ∘ decode = decode`), so nothing that reads can
//! produce a value that writes differently (floats round-trip with serde_json's
//! `float_roundtrip`; leap seconds are refused, as Go refuses them). Encoding any value and
//! decoding it gives the value back (index files, snapshots, locks, configs, key files, pack headers, unpacked framing).
//!
//! The tree codec has its own arbitrary-input properties in `tree_codec.rs`; here trees restic
//! wrote (`tests/data/tree`) and multi-node trees are damaged several times over.

use cairn_format::pack::{decode_header, encode_header, PackBlob, COMPRESSED_ENTRY_LEN, ENTRY_LEN};
use cairn_format::tree::{decode_tree, encode_node, GoTime, Node, NodeType};
use cairn_format::unpacked::{decode_unpacked, encode_unpacked};
use cairn_format::{
    BlobType, Id, IndexBlob, IndexFile, IndexPack, KeyFile, LockFile, RepoConfig, Snapshot,
    UnknownFields,
};
use chrono::{DateTime, FixedOffset, TimeZone};
use proptest::prelude::*;
use proptest::sample::Index as At;
use serde_json::Value;

// ---- damage ----

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask: always changes the input.
    Flip(At, u8),
    Set(At, u8),
    Insert(At, u8),
    Delete(At),
    Truncate(At),
    /// Copies up to 16 bytes from one place to another (repeats a field or an entry).
    Duplicate(At, At, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<At>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        2 => (any::<At>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        2 => (any::<At>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        2 => any::<At>().prop_map(Mutation::Delete),
        1 => any::<At>().prop_map(Mutation::Truncate),
        1 => (any::<At>(), any::<At>(), 1..=16u8).prop_map(|(from, to, n)| Mutation::Duplicate(from, to, n)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..6)
}

/// Interesting byte values to set or insert in JSON text: structure, quotes, escapes, digits,
/// signs and bytes that are not UTF-8.
fn json_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        proptest::sample::select(
            b"{}[]:,\"\\ -+.0129eEnulltruefalse\x00\x1f\x7f\x80\xc3\xff".to_vec()
        ),
        any::<u8>(),
    ]
}

fn json_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        mutation(),
        (any::<At>(), json_byte()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        (any::<At>(), json_byte()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
    ]
}

fn json_mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(json_mutation(), 1..6)
}

fn damage(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for mutation in mutations {
        let len = out.len();
        match *mutation {
            Mutation::Insert(at, byte) => out.insert(at.index(out.len() + 1), byte),
            _ if out.is_empty() => {}
            Mutation::Flip(at, mask) => out[at.index(len)] ^= mask,
            Mutation::Set(at, byte) => out[at.index(len)] = byte,
            Mutation::Delete(at) => {
                out.remove(at.index(out.len()));
            }
            Mutation::Truncate(at) => out.truncate(at.index(out.len())),
            Mutation::Duplicate(from, to, n) => {
                let from = from.index(out.len());
                let end = (from + usize::from(n)).min(out.len());
                let piece = out[from..end].to_vec();
                let to = to.index(out.len() + 1);
                out.splice(to..to, piece);
            }
        }
    }
    out
}

/// A JSON value of any shape, for swapping into valid objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e30f64..1e30).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        Just(Value::String("2022-08-05T10:00:00.123456789+02:00".into())),
        Just(Value::String("2016-12-31T23:59:60.5Z".into())),
        Just(Value::String("ab".repeat(32))),
        Just(Value::String("AB".repeat(32))),
        Just(Value::String("data".into())),
        Just(Value::String("tree".into())),
        Just(Value::String("scrypt".into())),
        Just(Value::String("3da3358b4dc173".into())),
        Just(Value::from(u64::from(u32::MAX) + 1)),
        Just(Value::from(-1)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every value inside `value` (itself included), depth first.
fn count_values(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_values).sum(),
        Value::Object(map) => map.values().map(count_values).sum(),
        _ => 0,
    }
}

/// Replaces the `n`th value of `value` (depth first, 0 = the whole value) with `with`.
fn replace_value(value: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|item| replace_value(item, n, with)),
        Value::Object(map) => map.values_mut().any(|item| replace_value(item, n, with)),
        _ => false,
    }
}

/// A structural change to valid JSON: a value swapped, a key removed, or a key added.
#[derive(Debug, Clone)]
enum JsonChange {
    Replace(At, Value),
    RemoveKey(At),
    AddKey(String, Value),
}

fn json_change() -> impl Strategy<Value = JsonChange> {
    prop_oneof![
        3 => (any::<At>(), json_value()).prop_map(|(at, with)| JsonChange::Replace(at, with)),
        1 => any::<At>().prop_map(JsonChange::RemoveKey),
        1 => (
            prop_oneof![
                Just("time".to_string()),
                Just("tree".to_string()),
                Just("packs".to_string()),
                Just("N".to_string()),
                "[a-z_]{1,8}",
            ],
            json_value()
        )
            .prop_map(|(key, value)| JsonChange::AddKey(key, value)),
    ]
}

fn change_json(json: &[u8], changes: &[JsonChange]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(json).expect("valid JSON to change");
    for change in changes {
        match change {
            JsonChange::Replace(at, with) => {
                let mut n = at.index(count_values(&value));
                replace_value(&mut value, &mut n, with);
            }
            JsonChange::RemoveKey(at) => {
                if let Value::Object(map) = &mut value {
                    if !map.is_empty() {
                        let key = map.keys().nth(at.index(map.len())).unwrap().clone();
                        map.remove(&key);
                    }
                }
            }
            JsonChange::AddKey(key, with) => {
                if let Value::Object(map) = &mut value {
                    map.insert(key.clone(), with.clone());
                }
            }
        }
    }
    serde_json::to_vec(&value).unwrap()
}

fn json_changes() -> impl Strategy<Value = Vec<JsonChange>> {
    proptest::collection::vec(json_change(), 1..4)
}

fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        // Text that starts like the JSON the decoders look for.
        (
            proptest::sample::select(vec!["{", "[", "{\"", "{\"packs\":[", "\u{2}", "null"]),
            proptest::collection::vec(any::<u8>(), 0..256)
        )
            .prop_map(|(start, rest)| [start.as_bytes(), &rest].concat()),
    ]
}

// ---- valid values ----

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(Id),
        Just(Id([0; 32])),
        Just(Id([0xff; 32]))
    ]
}

fn blob_type() -> impl Strategy<Value = BlobType> {
    prop_oneof![Just(BlobType::Data), Just(BlobType::Tree)]
}

/// A time chrono can print and read back as RFC 3339: year 1 to 9998, offsets in whole minutes.
fn time() -> impl Strategy<Value = DateTime<FixedOffset>> {
    const YEAR_1: i64 = -62_135_596_800;
    const YEAR_9998: i64 = 253_370_764_800;
    (
        YEAR_1 + 86_400..YEAR_9998,
        prop_oneof![Just(0u32), 0..1_000_000_000u32],
        -(23 * 60 + 59)..=(23 * 60 + 59),
    )
        .prop_map(|(secs, nanos, offset_minutes)| {
            FixedOffset::east_opt(offset_minutes * 60)
                .unwrap()
                .timestamp_opt(secs, nanos)
                .unwrap()
        })
}

fn index_blob() -> impl Strategy<Value = IndexBlob> {
    (
        id(),
        blob_type(),
        any::<u32>(),
        any::<u32>(),
        // restic's 0 means "not compressed", so it reads back as `None`.
        proptest::option::of(1..=u32::MAX),
        unknown_fields(),
    )
        .prop_map(
            |(id, blob_type, offset, length, uncompressed_length, unknown_fields)| IndexBlob {
                id,
                blob_type,
                offset,
                length,
                uncompressed_length,
                unknown_fields,
            },
        )
}

fn index_file() -> impl Strategy<Value = IndexFile> {
    (
        proptest::collection::vec(id(), 0..3),
        proptest::collection::vec(
            (
                id(),
                proptest::collection::vec(index_blob(), 0..5),
                unknown_fields(),
            )
                .prop_map(|(id, blobs, unknown_fields)| IndexPack {
                    id,
                    blobs,
                    unknown_fields,
                }),
            0..4,
        ),
        unknown_fields(),
    )
        .prop_map(|(supersedes, packs, unknown_fields)| IndexFile {
            supersedes,
            packs,
            unknown_fields,
        })
}

/// Fields of newer restic versions or other tools (`summary`, …), kept as they are.
fn unknown_fields() -> impl Strategy<Value = UnknownFields> {
    proptest::collection::btree_map("x_[a-z_]{0,8}", exact_json_value(), 0..3).prop_map(|map| {
        let mut fields = UnknownFields::default();
        for (name, value) in map {
            fields
                .insert(&name, &value.to_string())
                .expect("a JSON value");
        }
        fields
    })
}

/// JSON values that survive serde_json unchanged through a write and a read (no floats: without
/// serde_json's `float_roundtrip` a float may come back one ulp off).
fn exact_json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map(any::<String>(), inner, 0..3)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    let identity = (
        time(),
        proptest::option::of(id()),
        id(),
        proptest::collection::vec(any::<String>(), 0..3),
        any::<String>(),
        any::<String>(),
    );
    let rest = (
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(any::<String>(), 0..3),
        proptest::collection::vec(any::<String>(), 0..3),
        proptest::option::of(id()),
        any::<String>(),
        unknown_fields(),
    );
    (identity, rest).prop_map(
        |(
            (time, parent, tree, paths, hostname, username),
            (uid, gid, excludes, tags, original, program_version, unknown_fields),
        )| Snapshot {
            time,
            parent,
            tree,
            paths,
            hostname,
            username,
            uid,
            gid,
            excludes,
            tags,
            original,
            program_version,
            unknown_fields,
        },
    )
}

fn lock_file() -> impl Strategy<Value = LockFile> {
    (
        time(),
        any::<bool>(),
        any::<String>(),
        any::<String>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        unknown_fields(),
    )
        .prop_map(
            |(time, exclusive, hostname, username, pid, uid, gid, unknown_fields)| LockFile {
                time,
                exclusive,
                hostname,
                username,
                pid,
                uid,
                gid,
                unknown_fields,
            },
        )
}

fn repo_config() -> impl Strategy<Value = RepoConfig> {
    (
        1..=2u32,
        "[0-9a-f]{64}|.{0,8}",
        1..=u64::MAX,
        unknown_fields(),
    )
        .prop_map(
            |(version, id, chunker_polynomial, unknown_fields)| RepoConfig {
                version,
                id,
                chunker_polynomial,
                unknown_fields,
            },
        )
}

fn key_file() -> impl Strategy<Value = KeyFile> {
    (
        proptest::option::of(time()),
        any::<String>(),
        any::<String>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..70),
        proptest::collection::vec(any::<u8>(), 0..200),
        unknown_fields(),
    )
        .prop_map(
            |(created, username, hostname, n, r, p, salt, data, unknown_fields)| KeyFile {
                created,
                username,
                hostname,
                kdf: "scrypt".to_string(),
                n,
                r,
                p,
                salt,
                data,
                unknown_fields,
            },
        )
}

/// Key files compare field by field (the type keeps `data` out of `Debug` and has no `Eq`).
fn key_fields(key: &KeyFile) -> impl PartialEq + std::fmt::Debug {
    (
        key.created,
        key.created.map(|time| time.offset().local_minus_utc()),
        key.unknown_fields.clone(),
        key.username.clone(),
        key.hostname.clone(),
        key.kdf.clone(),
        (key.n, key.r, key.p),
        key.salt.clone(),
        key.data.clone(),
    )
}

/// Blobs as a pack header lists them, offsets back to back from 0, the sum of lengths at most
/// `u32::MAX` (a pack's blob area ends well below 4 GiB).
fn pack_blobs() -> impl Strategy<Value = Vec<PackBlob>> {
    proptest::collection::vec(
        (
            blob_type(),
            id(),
            0..(1u32 << 26),
            proptest::option::of(any::<u32>()),
        ),
        0..12,
    )
    .prop_map(|entries| {
        let mut offset = 0u32;
        entries
            .into_iter()
            .map(|(blob_type, id, length, uncompressed_length)| {
                let blob = PackBlob {
                    blob_type,
                    id,
                    offset,
                    length,
                    uncompressed_length,
                };
                offset += length;
                blob
            })
            .collect()
    })
}

fn blobs_end(blobs: &[PackBlob]) -> u64 {
    blobs.iter().map(|b| u64::from(b.length)).sum()
}

/// A tree blob framed as restic frames it, but with nodes in the order given (encode_tree wants
/// them sorted and distinct; a decoder must not).
fn frame_nodes(nodes: &[Node]) -> Vec<u8> {
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

/// Tree blobs restic 0.14 wrote (see `tests/data/tree/README.md`).
const RESTIC_TREES: [&[u8]; 5] = [
    include_bytes!(
        "data/tree/1014b7d6699ce765bf0a2d2a9a5842b2fd632ec076623778d6ddc64e03172f66.json"
    ),
    include_bytes!(
        "data/tree/ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8.json"
    ),
    include_bytes!(
        "data/tree/dbe4f3d3bb3f5b0c81055880d63ffefa5f935a39ca69f308486016a38af268c4.json"
    ),
    include_bytes!(
        "data/tree/e624673c94ec0a0675da8aabab1d24c95b28ab935b3b47a315c90bd2b4b6e8f7.json"
    ),
    include_bytes!(
        "data/tree/lossy/9cc5d8411b27d8b7e7e7560eb734c1d540d42bf38023be266fcd9d139da2631e.json"
    ),
];

fn restic_tree() -> impl Strategy<Value = &'static [u8]> {
    proptest::sample::select(RESTIC_TREES.to_vec())
}

fn small_node() -> impl Strategy<Value = Node> {
    (
        prop_oneof![
            "[a-z]{1,6}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..8)
        ],
        proptest::sample::select(vec![
            NodeType::File,
            NodeType::Dir,
            NodeType::Symlink,
            NodeType::Fifo,
            NodeType::Other("whiteout".into()),
        ]),
        any::<u32>(),
        (-62_135_596_800i64..253_402_214_400, 0..1_000_000_000u32),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..8),
        proptest::option::of(proptest::collection::vec(id(), 0..3)),
        proptest::option::of(id()),
    )
        .prop_map(
            |(name, node_type, mode, (secs, nanos), size, link_target, content, subtree)| {
                let mut node = Node::new(name, node_type);
                node.mode = mode;
                node.mtime = GoTime {
                    unix_secs: secs,
                    nanos,
                    utc_offset_secs: 0,
                };
                node.size = size;
                node.link_target = link_target;
                node.content = content;
                node.subtree = subtree;
                node
            },
        )
}

// ---- the properties ----

/// Decoding whatever a decoder accepted, re-encoding and decoding again gives the same value.
macro_rules! stable_if_accepted {
    ($type:ty, $bytes:expr) => {
        if let Ok(value) = <$type>::from_json($bytes) {
            let again = <$type>::from_json(&value.to_json());
            prop_assert!(
                again.is_ok(),
                "re-encoding an accepted value must decode: {:?}",
                again.err()
            );
            let again = again.unwrap();
            prop_assert_eq!(again, value);
        }
    };
}

/// A key file that decoded must decode again after re-encoding, to the same fields.
macro_rules! key_file_stable {
    ($read:expr) => {
        let read = $read;
        let again = KeyFile::from_json(&read.to_json());
        prop_assert!(
            again.is_ok(),
            "re-encoding an accepted key file must decode: {:?}",
            again.err()
        );
        prop_assert_eq!(key_fields(&again.unwrap()), key_fields(&read));
    };
}

/// 512 cases each (about a second in all); `PROPTEST_CASES=100000` for a deep run.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 512;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    // -- arbitrary bytes: every decoder returns, no panic --

    #[test]
    fn json_decoders_never_panic_on_arbitrary_bytes(bytes in arbitrary_bytes()) {
        stable_if_accepted!(RepoConfig, &bytes);
        stable_if_accepted!(IndexFile, &bytes);
        stable_if_accepted!(Snapshot, &bytes);
        stable_if_accepted!(LockFile, &bytes);
        if let Ok(key) = KeyFile::from_json(&bytes) {
            key_file_stable!(key);
        }
    }

    #[test]
    fn unpacked_decoder_never_panics_on_arbitrary_bytes(bytes in arbitrary_bytes()) {
        if let Ok(json) = decode_unpacked(&bytes) {
            // Plain JSON comes back as it is.
            if bytes[0] != 2 {
                prop_assert_eq!(json, bytes);
            }
        }
    }

    #[test]
    fn pack_header_decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        end in prop_oneof![any::<u64>(), 0..10_000u64, Just(u64::from(u32::MAX)), Just(u64::MAX)],
    ) {
        let _ = decode_header(&bytes, end);
    }

    #[test]
    fn tree_decoder_never_panics_on_arbitrary_bytes(bytes in arbitrary_bytes()) {
        let _ = decode_tree(&bytes);
    }

    // -- round trips: encode then decode is the identity --

    #[test]
    fn index_files_round_trip(index in index_file()) {
        let json = index.to_json();
        prop_assert_eq!(IndexFile::from_json(&json).unwrap(), index.clone());
        // The legacy form, a bare array of packs, reads as an index without `supersedes`.
        let legacy = serde_json::to_vec(&index.packs).unwrap();
        let read = IndexFile::from_json(&legacy).unwrap();
        prop_assert!(read.supersedes.is_empty());
        prop_assert_eq!(read.packs, index.packs);
    }

    #[test]
    fn snapshots_round_trip(snapshot in snapshot()) {
        let json = snapshot.to_json();
        let read = Snapshot::from_json(&json).unwrap();
        prop_assert_eq!(&read, &snapshot);
        prop_assert_eq!(read.time.offset(), snapshot.time.offset());
        prop_assert_eq!(read.to_json(), json, "a second encoding is byte-identical");
    }

    #[test]
    fn locks_configs_and_key_files_round_trip(
        lock in lock_file(),
        config in repo_config(),
        key in key_file(),
    ) {
        prop_assert_eq!(LockFile::from_json(&lock.to_json()).unwrap(), lock);
        prop_assert_eq!(RepoConfig::from_json(&config.to_json()).unwrap(), config);
        prop_assert_eq!(key_fields(&KeyFile::from_json(&key.to_json()).unwrap()), key_fields(&key));
    }

    #[test]
    fn pack_headers_round_trip(blobs in pack_blobs()) {
        let header = encode_header(&blobs);
        let compressed = blobs.iter().filter(|b| b.uncompressed_length.is_some()).count();
        prop_assert_eq!(
            header.len(),
            (blobs.len() - compressed) * ENTRY_LEN + compressed * COMPRESSED_ENTRY_LEN
        );
        let end = blobs_end(&blobs);
        prop_assert_eq!(decode_header(&header, end).unwrap(), blobs.clone());
        prop_assert_eq!(decode_header(&header, u64::MAX).unwrap(), blobs.clone());
        if end > 0 {
            prop_assert!(decode_header(&header, end - 1).is_err(), "a blob past the blob area");
        }
    }

    #[test]
    fn unpacked_framing_round_trips(json in proptest::collection::vec(any::<u8>(), 0..2000), level in 1..=5i32) {
        let framed = encode_unpacked(&json, level);
        prop_assert_eq!(framed[0], 2);
        prop_assert_eq!(decode_unpacked(&framed).unwrap(), json);
    }

    // -- valid encodings, damaged byte by byte --

    #[test]
    fn damaged_index_files_never_panic(index in index_file(), damage_done in json_mutations()) {
        let bytes = damage(&index.to_json(), &damage_done);
        stable_if_accepted!(IndexFile, &bytes);
    }

    #[test]
    fn damaged_snapshots_never_panic(snapshot in snapshot(), damage_done in json_mutations()) {
        let bytes = damage(&snapshot.to_json(), &damage_done);
        stable_if_accepted!(Snapshot, &bytes);
    }

    #[test]
    fn damaged_locks_and_configs_never_panic(
        lock in lock_file(),
        config in repo_config(),
        damage_done in json_mutations(),
    ) {
        let bytes = damage(&lock.to_json(), &damage_done);
        stable_if_accepted!(LockFile, &bytes);
        let bytes = damage(&config.to_json(), &damage_done);
        stable_if_accepted!(RepoConfig, &bytes);
    }

    #[test]
    fn damaged_key_files_never_panic(key in key_file(), damage_done in json_mutations()) {
        let bytes = damage(&key.to_json(), &damage_done);
        if let Ok(read) = KeyFile::from_json(&bytes) {
            prop_assert_eq!(read.kdf.as_str(), "scrypt");
            key_file_stable!(read);
        }
    }

    #[test]
    fn damaged_unpacked_frames_never_panic(
        index in index_file(),
        level in 1..=5i32,
        damage_done in mutations(),
    ) {
        // The whole read path of an index file after decryption: framing, then JSON.
        let framed = encode_unpacked(&index.to_json(), level);
        let bytes = damage(&framed, &damage_done);
        if let Ok(json) = decode_unpacked(&bytes) {
            stable_if_accepted!(IndexFile, &json);
        }
    }

    #[test]
    fn damaged_pack_headers_never_panic(
        blobs in pack_blobs(),
        damage_done in mutations(),
        end_slack in prop_oneof![Just(0u64), 0..100u64, Just(u64::from(u32::MAX))],
    ) {
        let header = encode_header(&blobs);
        let bytes = damage(&header, &damage_done);
        let end = blobs_end(&blobs).saturating_add(end_slack).min(u64::from(u32::MAX));
        if let Ok(read) = decode_header(&bytes, end) {
            // What decodes is exactly what the bytes say: it encodes back to them, and its
            // blobs lie back to back inside the blob area.
            prop_assert_eq!(encode_header(&read), bytes);
            let mut offset = 0u64;
            for blob in &read {
                prop_assert_eq!(u64::from(blob.offset), offset);
                offset += u64::from(blob.length);
            }
            prop_assert!(offset <= end);
        }
    }

    #[test]
    fn damaged_restic_trees_never_panic(tree in restic_tree(), damage_done in json_mutations()) {
        let bytes = damage(tree, &damage_done);
        if let Ok(nodes) = decode_tree(&bytes) {
            let again = decode_tree(&frame_nodes(&nodes));
            prop_assert!(again.is_ok(), "re-encoded nodes must decode: {:?}", again.err());
            prop_assert_eq!(again.unwrap(), nodes);
        }
    }

    #[test]
    fn damaged_multi_node_trees_never_panic(
        nodes in proptest::collection::vec(small_node(), 1..5),
        damage_done in json_mutations(),
    ) {
        let bytes = damage(&frame_nodes(&nodes), &damage_done);
        if let Ok(read) = decode_tree(&bytes) {
            let again = decode_tree(&frame_nodes(&read));
            prop_assert!(again.is_ok(), "re-encoded nodes must decode: {:?}", again.err());
            prop_assert_eq!(again.unwrap(), read);
        }
    }

    // -- valid JSON, a value swapped --

    #[test]
    fn reshaped_json_objects_never_panic(
        index in index_file(),
        snapshot in snapshot(),
        lock in lock_file(),
        config in repo_config(),
        key in key_file(),
        changes in json_changes(),
    ) {
        stable_if_accepted!(IndexFile, &change_json(&index.to_json(), &changes));
        stable_if_accepted!(Snapshot, &change_json(&snapshot.to_json(), &changes));
        stable_if_accepted!(LockFile, &change_json(&lock.to_json(), &changes));
        stable_if_accepted!(RepoConfig, &change_json(&config.to_json(), &changes));
        if let Ok(read) = KeyFile::from_json(&change_json(&key.to_json(), &changes)) {
            key_file_stable!(read);
        }
    }

    #[test]
    fn reshaped_restic_trees_never_panic(tree in restic_tree(), changes in json_changes()) {
        let bytes = change_json(tree, &changes);
        if let Ok(nodes) = decode_tree(&bytes) {
            let again = decode_tree(&frame_nodes(&nodes));
            prop_assert!(again.is_ok(), "re-encoded nodes must decode: {:?}", again.err());
            prop_assert_eq!(again.unwrap(), nodes);
        }
    }
}

//! Opening sealed blobs and packs from hostile bytes: `decode_blob` and `parse_pack` return an
//! error, never panic, and nothing damaged gets through. A sealed blob with any byte changed,
//! added or removed fails authentication; so does a pack whose header or trailer was touched;
//! and however a pack is damaged, what still opens is exactly what was stored.

use cairn_crypto::MasterKey;
use cairn_format::{BlobType, Id};
use cairn_repo::blob_codec::{decode_blob, BlobEncoder, Compression};
use cairn_repo::index::BlobLocation;
use cairn_repo::pack_builder::{PackBody, PackBuilder};
use cairn_repo::pack_reader::parse_pack;
use cairn_repo::ErrorKind;
use proptest::prelude::*;
use proptest::sample::Index as At;

fn key() -> MasterKey {
    MasterKey::from_parts([7; 32], [9; 16], [11; 16])
}

// ---- damage ----

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR with a non-zero mask: always changes the byte.
    Flip(At, u8),
    Insert(At, u8),
    Delete(At),
    Truncate(At),
    /// Repeats up to 16 bytes somewhere else.
    Duplicate(At, At, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<At>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        2 => (any::<At>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        2 => any::<At>().prop_map(Mutation::Delete),
        1 => any::<At>().prop_map(Mutation::Truncate),
        1 => (any::<At>(), any::<At>(), 1..=16u8)
            .prop_map(|(from, to, n)| Mutation::Duplicate(from, to, n)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..4)
}

/// Applies `mutations` to `bytes[start..]`, leaving the bytes before `start` alone. With
/// `insert_at_start` false, nothing is inserted right before `bytes[start]` either (that would
/// add to what comes before, not damage what follows).
fn damage_from(
    bytes: &[u8],
    start: usize,
    insert_at_start: bool,
    mutations: &[Mutation],
) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let first_insert = usize::from(!insert_at_start);
    for mutation in mutations {
        let span = out.len() - start;
        match *mutation {
            Mutation::Insert(at, byte) => {
                if span + 1 > first_insert {
                    let to = start + first_insert + at.index(span + 1 - first_insert);
                    out.insert(to, byte);
                }
            }
            _ if span == 0 => {}
            Mutation::Flip(at, mask) => out[start + at.index(span)] ^= mask,
            Mutation::Delete(at) => {
                out.remove(start + at.index(span));
            }
            Mutation::Truncate(at) => out.truncate(start + at.index(span)),
            Mutation::Duplicate(from, to, n) => {
                let from = start + from.index(span);
                let end = (from + usize::from(n)).min(out.len());
                let piece = out[from..end].to_vec();
                let to = start + first_insert + to.index(span + 1 - first_insert);
                out.splice(to..to, piece);
            }
        }
    }
    out
}

fn damage(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    damage_from(bytes, 0, true, mutations)
}

// ---- valid blobs and packs ----

/// Plaintexts that compress (repeated text) and that do not (random bytes), empty included.
fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        ("[a-c]{1,8}", 1..400usize).prop_map(|(unit, times)| unit.repeat(times).into_bytes()),
    ]
}

fn blob_type() -> impl Strategy<Value = BlobType> {
    prop_oneof![Just(BlobType::Data), Just(BlobType::Tree)]
}

/// A blob as a backup stores it: its id, stored bytes and location at offset 0 of `pack`.
struct Sealed {
    id: Id,
    plaintext: Vec<u8>,
    stored: Vec<u8>,
    location: BlobLocation,
}

fn seal(key: &MasterKey, blob_type: BlobType, plaintext: Vec<u8>) -> Sealed {
    let mut stored = Vec::new();
    let uncompressed_length =
        BlobEncoder::new(Compression::Auto, true).encode(key, &plaintext, &mut stored);
    Sealed {
        id: Id::hash(&plaintext),
        location: BlobLocation {
            blob_type,
            pack: Id::hash(b"pack"),
            offset: 0,
            length: stored.len() as u32,
            uncompressed_length,
        },
        plaintext,
        stored,
    }
}

fn decode(key: &MasterKey, id: &Id, location: &BlobLocation, stored: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = stored.to_vec();
    match decode_blob(key, id, location, &mut bytes) {
        Ok(plaintext) => Some(plaintext),
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
            None
        }
    }
}

/// A pack of one blob type as the backup writes it, with its blobs' plaintexts in pack order.
struct Pack {
    id: Id,
    bytes: Vec<u8>,
    /// Where the sealed header starts: everything before is blobs.
    header_start: usize,
    blobs: Vec<(Id, Vec<u8>)>,
}

fn pack(key: &MasterKey, blob_type: BlobType, plaintexts: Vec<Vec<u8>>) -> Pack {
    let mut builder = PackBuilder::new(blob_type, 1 << 16);
    let mut blobs = Vec::new();
    for plaintext in plaintexts {
        let sealed = seal(key, blob_type, plaintext);
        builder
            .add(
                sealed.id,
                &sealed.stored,
                sealed.location.uncompressed_length,
            )
            .expect("in-memory packs cannot fail to grow");
        blobs.push((sealed.id, sealed.plaintext));
    }
    let header_start = builder.len();
    let finished = builder.finish(key).expect("in-memory packs cannot fail");
    let PackBody::Memory(bytes) = finished.body else {
        unreachable!("an in-memory builder gives an in-memory pack")
    };
    Pack {
        id: finished.id,
        bytes,
        header_start,
        blobs,
    }
}

fn packs() -> impl Strategy<Value = Pack> {
    packs_of(0..5)
}

fn packs_of(blobs: std::ops::Range<usize>) -> impl Strategy<Value = Pack> {
    (blob_type(), proptest::collection::vec(plaintext(), blobs))
        .prop_map(|(blob_type, plaintexts)| pack(&key(), blob_type, plaintexts))
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pack")
            .field("len", &self.bytes.len())
            .field("header_start", &self.header_start)
            .field("blobs", &self.blobs.len())
            .finish()
    }
}

/// Everything a reader gets out of `bytes` taken as pack `id`: the header's blobs, each opened
/// and checked; `None` as soon as any step fails.
fn open_pack(key: &MasterKey, id: &Id, bytes: &[u8]) -> Option<Vec<(Id, Vec<u8>)>> {
    let header = match parse_pack(key, id, bytes) {
        Ok(header) => header,
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
            return None;
        }
    };
    let mut out = Vec::new();
    for blob in header {
        let end = blob.offset as usize + blob.length as usize;
        let stored = bytes.get(blob.offset as usize..end)?;
        let location = BlobLocation {
            blob_type: blob.blob_type,
            pack: *id,
            offset: blob.offset,
            length: blob.length,
            uncompressed_length: blob.uncompressed_length,
        };
        out.push((blob.id, decode(key, &blob.id, &location, stored)?));
    }
    Some(out)
}

/// 256 cases each; `PROPTEST_CASES=20000` for a deep run.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sealed_blobs_open_to_their_plaintext(blob_type in blob_type(), plaintext in plaintext()) {
        let key = key();
        let sealed = seal(&key, blob_type, plaintext);
        let opened = decode(&key, &sealed.id, &sealed.location, &sealed.stored);
        prop_assert_eq!(opened.as_ref(), Some(&sealed.plaintext));
    }

    #[test]
    fn a_damaged_sealed_blob_never_opens(
        blob_type in blob_type(),
        plaintext in plaintext(),
        damage_done in mutations(),
    ) {
        let key = key();
        let sealed = seal(&key, blob_type, plaintext);
        let damaged = damage(&sealed.stored, &damage_done);
        prop_assume!(damaged != sealed.stored);
        // Both with the index's location and with one that agrees with the damaged length.
        prop_assert!(decode(&key, &sealed.id, &sealed.location, &damaged).is_none());
        let mut location = sealed.location;
        location.length = damaged.len() as u32;
        prop_assert!(decode(&key, &sealed.id, &location, &damaged).is_none());
    }

    #[test]
    fn a_blob_opened_under_the_wrong_description_fails(
        blob_type in blob_type(),
        plaintext in plaintext(),
        other_id in any::<[u8; 32]>(),
        length_delta in prop_oneof![-64i64..64, Just(i64::from(u32::MAX)), Just(-(1 << 20))],
        other_key in any::<[u8; 32]>(),
    ) {
        let key = key();
        let sealed = seal(&key, blob_type, plaintext);
        // Another id.
        prop_assume!(Id(other_id) != sealed.id);
        prop_assert!(decode(&key, &Id(other_id), &sealed.location, &sealed.stored).is_none());
        // Another plaintext length, or compressed when it is not (and the reverse).
        let mut location = sealed.location;
        location.uncompressed_length = match sealed.location.uncompressed_length {
            Some(n) => {
                let wrong = (i64::from(n) + length_delta).clamp(0, 1 << 24) as u32;
                prop_assume!(wrong != n);
                Some(wrong)
            }
            None => Some(sealed.plaintext.len() as u32),
        };
        match decode(&key, &sealed.id, &location, &sealed.stored) {
            None => {}
            // zstd reads no input as no output: an empty blob described as compressed to
            // length 0 still opens, to the right (empty) plaintext.
            Some(opened) => prop_assert!(opened.is_empty() && sealed.plaintext.is_empty()),
        }
        if sealed.location.uncompressed_length.is_some() {
            location.uncompressed_length = None;
            prop_assert!(decode(&key, &sealed.id, &location, &sealed.stored).is_none());
        }
        // Another key (all three parts: with the MAC keys alone the same, an empty blob, which
        // has no ciphertext to decrypt, would still open).
        prop_assume!(other_key[..16] != [9; 16]);
        let other = MasterKey::from_parts(
            other_key,
            other_key[..16].try_into().unwrap(),
            other_key[16..].try_into().unwrap(),
        );
        prop_assert!(decode(&other, &sealed.id, &sealed.location, &sealed.stored).is_none());
    }

    #[test]
    fn arbitrary_bytes_never_open_as_a_blob(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        id in any::<[u8; 32]>(),
        blob_type in blob_type(),
        uncompressed_length in proptest::option::of(0..(1u32 << 24)),
    ) {
        let location = BlobLocation {
            blob_type,
            pack: Id::hash(b"pack"),
            offset: 0,
            length: bytes.len() as u32,
            uncompressed_length,
        };
        prop_assert!(decode(&key(), &Id(id), &location, &bytes).is_none());
    }

    #[test]
    fn packs_open_to_what_was_stored(pack in packs()) {
        let opened = open_pack(&key(), &pack.id, &pack.bytes);
        prop_assert_eq!(opened.as_ref(), Some(&pack.blobs));
    }

    #[test]
    fn arbitrary_bytes_never_parse_as_a_pack(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            // A trailer that points inside the bytes, so the header MAC is what must fail.
            (proptest::collection::vec(any::<u8>(), 32..600), any::<At>()).prop_map(|(mut bytes, at)| {
                let header_len = 32 + at.index(bytes.len() - 31) as u32;
                bytes.extend_from_slice(&header_len.min(bytes.len() as u32).to_le_bytes());
                bytes
            }),
        ],
    ) {
        let id = Id::hash(&bytes);
        prop_assert!(parse_pack(&key(), &id, &bytes).is_err());
    }

    #[test]
    fn a_pack_with_a_damaged_header_or_trailer_never_parses(
        pack in packs(),
        damage_done in mutations(),
    ) {
        let damaged = damage_from(&pack.bytes, pack.header_start, false, &damage_done);
        // Duplicating the header's first bytes right after themselves amounts to inserting
        // bytes before an intact header: that is damage to the blob area, tested below.
        prop_assume!(!damaged.ends_with(&pack.bytes[pack.header_start..]));
        prop_assert!(parse_pack(&key(), &pack.id, &damaged).is_err());
    }

    #[test]
    fn a_damaged_pack_never_yields_other_content(pack in packs(), damage_done in mutations()) {
        // Anywhere in the pack: either some step fails, or the damage missed every byte a
        // reader uses (e.g. a byte inserted between the last blob and the header) and the
        // blobs are exactly those stored. Check finds such a pack by its hash and size.
        let damaged = damage(&pack.bytes, &damage_done);
        prop_assume!(damaged != pack.bytes);
        if let Some(opened) = open_pack(&key(), &pack.id, &damaged) {
            prop_assert_eq!(opened, pack.blobs);
        }
    }

    #[test]
    fn a_flipped_blob_byte_leaves_the_header_but_fails_its_blob(
        pack in packs_of(1..5),
        at in any::<At>(),
        mask in 1..=255u8,
    ) {
        let mut damaged = pack.bytes.clone();
        damaged[at.index(pack.header_start)] ^= mask;
        let header = parse_pack(&key(), &pack.id, &damaged);
        prop_assert!(header.is_ok(), "the header does not cover the blobs");
        prop_assert!(open_pack(&key(), &pack.id, &damaged).is_none());
    }
}

//! restic/chunker's own test vectors (chunker_test.go): 32 MiB from Go's `math/rand` seeded with
//! 23, chunked with polynomial 0x3DA3358B4DC173. Each entry is (chunk length, fingerprint at the
//! cut, SHA-256 of the chunk). The last chunk of each list ends with the input, where restic
//! reports the fingerprint its `reset()` leaves (1); that value is not compared.

use sha2::{Digest, Sha256};

use super::go_math_rand::go_random_bytes;
use crate::{Chunker, ChunkerTables, Polynomial, MIN_SIZE};

type Expected = (usize, u64, &'static str);

const RESTIC_TEST_POLYNOMIAL: Polynomial = Polynomial(0x3DA3358B4DC173);
const INPUT_SEED: i64 = 23;
const INPUT_LENGTH: usize = 32 * 1024 * 1024;

/// Default sizes and average bits 20 (restic's `chunks1`).
const DEFAULT: &[Expected] = &[
    (
        2163460,
        0x000b98d4cdf00000,
        "4b94cb2cf293855ea43bf766731c74969b91aa6bf3c078719aabdd19860d590d",
    ),
    (
        643703,
        0x000d4e8364d00000,
        "5727a63c0964f365ab8ed2ccf604912f2ea7be29759a2b53ede4d6841e397407",
    ),
    (
        1528956,
        0x0015a25c2ef00000,
        "a73759636a1e7a2758767791c69e81b69fb49236c6929e5d1b654e06e37674ba",
    ),
    (
        1955808,
        0x00102a8242e00000,
        "c955fb059409b25f07e5ae09defbbc2aadf117c97a3724e06ad4abd2787e6824",
    ),
    (
        2222372,
        0x00045da878000000,
        "6ba5e9f7e1b310722be3627716cf469be941f7f3e39a4c3bcefea492ec31ee56",
    ),
    (
        2538687,
        0x00198a8179900000,
        "8687937412f654b5cfe4a82b08f28393a0c040f77c6f95e26742c2fc4254bfde",
    ),
    (
        609606,
        0x001d4e8d17100000,
        "5da820742ff5feb3369112938d3095785487456f65a8efc4b96dac4be7ebb259",
    ),
    (
        1205738,
        0x000a7204dd600000,
        "cc70d8fad5472beb031b1aca356bcab86c7368f40faa24fe5f8922c6c268c299",
    ),
    (
        959742,
        0x00183e71e1400000,
        "4065bdd778f95676c92b38ac265d361f81bff17d76e5d9452cf985a2ea5a4e39",
    ),
    (
        4036109,
        0x001fec043c700000,
        "b9cf166e75200eb4993fc9b6e22300a6790c75e6b0fc8f3f29b68a752d42f275",
    ),
    (
        1525894,
        0x000b1574b1500000,
        "2f238180e4ca1f7520a05f3d6059233926341090f9236ce677690c1823eccab3",
    ),
    (
        1352720,
        0x00018965f2e00000,
        "afd12f13286a3901430de816e62b85cc62468c059295ce5888b76b3af9028d84",
    ),
    (
        811884,
        0x00155628aa100000,
        "42d0cdb1ee7c48e552705d18e061abb70ae7957027db8ae8db37ec756472a70a",
    ),
    (
        1282314,
        0x001909a0a1400000,
        "819721c2457426eb4f4c7565050c44c32076a56fa9b4515a1c7796441730eb58",
    ),
    (
        1318021,
        0x001cceb980000000,
        "842eb53543db55bacac5e25cb91e43cc2e310fe5f9acc1aee86bdf5e91389374",
    ),
    (
        948640,
        0x0011f7a470a00000,
        "b8e36bf7019bb96ac3fb7867659d2167d9d3b3148c09fe0de45850b8fe577185",
    ),
    (
        645464,
        0x00030ce2d9400000,
        "5584bd27982191c3329f01ed846bfd266e96548dfa87018f745c33cfc240211d",
    ),
    (
        533758,
        0x0004435c53c00000,
        "4da778a25b72a9a0d53529eccfe2e5865a789116cb1800f470d8df685a8ab05d",
    ),
    (
        1128303,
        0x0000c48517800000,
        "08c6b0b38095b348d80300f0be4c5184d2744a17147c2cba5cc4315abf4c048f",
    ),
    (
        800374,
        0x000968473f900000,
        "820284d2c8fd243429674c996d8eb8d3450cbc32421f43113e980f516282c7bf",
    ),
    (
        2453512,
        0x001e197c92600000,
        "5fa870ed107c67704258e5e50abe67509fb73562caf77caa843b5f243425d853",
    ),
    (
        2651975,
        0x000ae6c868000000,
        "181347d2bbec32bef77ad5e9001e6af80f6abcf3576549384d334ee00c1988d8",
    ),
    (
        237392,
        0x0000000000000001,
        "fcd567f5d866357a8e299fd5b2359bb2c8157c30395229c4e9b0a353944a7978",
    ),
];

/// Average bits 19, default sizes (restic's `chunks3`).
const AVERAGE_BITS_19: &[Expected] = &[
    (
        1491586,
        0x00023e586ea80000,
        "4c008237df602048039287427171cef568a6cb965d1b5ca28dc80504a24bb061",
    ),
    (
        671874,
        0x000b98d4cdf00000,
        "fa8a42321b90c3d4ce9dd850562b2fd0c0fe4bdd26cf01a24f22046a224225d3",
    ),
    (
        643703,
        0x000d4e8364d00000,
        "5727a63c0964f365ab8ed2ccf604912f2ea7be29759a2b53ede4d6841e397407",
    ),
    (
        1284146,
        0x0012b527e4780000,
        "16d04cafecbeae9eaedd49da14c7ad7cdc2b1cc8569e5c16c32c9fb045aa899a",
    ),
    (
        823366,
        0x000d1d6752180000,
        "48662c118514817825ad4761e8e2e5f28f9bd8281b07e95dcafc6d02e0aa45c3",
    ),
    (
        810134,
        0x0016071b6e180000,
        "f629581aa05562f97f2c359890734c8574c5575da32f9289c5ba70bfd05f3f46",
    ),
    (
        567118,
        0x00102a8242e00000,
        "d4f0797c56c60d01bac33bfd49957a4816b6c067fc155b026de8a214cab4d70a",
    ),
    (
        821315,
        0x001b3e42c8180000,
        "8ebd0fd5db0293bd19140da936eb8b1bbd3cd6ffbec487385b956790014751ca",
    ),
    (
        1401057,
        0x00045da878000000,
        "001360af59adf4871ef138cfa2bb49007e86edaf5ac2d6f0b3d3014510991848",
    ),
    (
        2311122,
        0x0005cbd885380000,
        "8276d489b566086d9da95dc5c5fe6fc7d72646dd3308ced6b5b6ddb8595f0aa1",
    ),
    (
        608723,
        0x001cfcd86f280000,
        "518db33ba6a79d4f3720946f3785c05b9611082586d47ea58390fc2f6de9449e",
    ),
    (
        980456,
        0x0013edb7a7f80000,
        "0121b1690738395e15fecba1410cd0bf13fde02225160cad148829f77e7b6c99",
    ),
    (
        1140278,
        0x0001f9f017e80000,
        "28ca7c74804b5075d4f5eeb11f0845d99f62e8ea3a42b9a05c7bd5f2fca619dd",
    ),
    (
        2015542,
        0x00097bf5d8180000,
        "6fe8291f427d48650a5f0f944305d3a2dbc649bd401d2655fc0bdd42e890ca5a",
    ),
    (
        904752,
        0x000e1863eff80000,
        "62af1f1eb3f588d18aff28473303cc4731fc3cafcc52ce818fee3c4c2820854d",
    ),
    (
        713072,
        0x001f3bb1b9b80000,
        "4bda9dc2e3031d004d87a5cc93fe5207c4b0843186481b8f31597dc6ffa1496c",
    ),
    (
        675937,
        0x001fec043c700000,
        "5299c8c5acec1b90bb020cd75718aab5e12abb9bf66291465fd10e6a823a8b4a",
    ),
    (
        1525894,
        0x000b1574b1500000,
        "2f238180e4ca1f7520a05f3d6059233926341090f9236ce677690c1823eccab3",
    ),
    (
        1352720,
        0x00018965f2e00000,
        "afd12f13286a3901430de816e62b85cc62468c059295ce5888b76b3af9028d84",
    ),
    (
        811884,
        0x00155628aa100000,
        "42d0cdb1ee7c48e552705d18e061abb70ae7957027db8ae8db37ec756472a70a",
    ),
    (
        1282314,
        0x001909a0a1400000,
        "819721c2457426eb4f4c7565050c44c32076a56fa9b4515a1c7796441730eb58",
    ),
    (
        1093738,
        0x0017f5d048880000,
        "5dddfa7a241b68f65d267744bdb082ee865f3c2f0d8b946ea0ee47868a01bbff",
    ),
    (
        962003,
        0x000b921f7ef80000,
        "0cb5c9ebba196b441c715c8d805f6e7143a81cd5b0d2c65c6aacf59ca9124af9",
    ),
    (
        856384,
        0x00030ce2d9400000,
        "7734b206d46f3f387e8661e81edf5b1a91ea681867beb5831c18aaa86632d7fb",
    ),
    (
        533758,
        0x0004435c53c00000,
        "4da778a25b72a9a0d53529eccfe2e5865a789116cb1800f470d8df685a8ab05d",
    ),
    (
        1128303,
        0x0000c48517800000,
        "08c6b0b38095b348d80300f0be4c5184d2744a17147c2cba5cc4315abf4c048f",
    ),
    (
        800374,
        0x000968473f900000,
        "820284d2c8fd243429674c996d8eb8d3450cbc32421f43113e980f516282c7bf",
    ),
    (
        2453512,
        0x001e197c92600000,
        "5fa870ed107c67704258e5e50abe67509fb73562caf77caa843b5f243425d853",
    ),
    (
        665901,
        0x00118c842cb80000,
        "deceec26163842fdef6560311c69bf8a9871a56e16d719e2c4b7e4d668ceb61f",
    ),
    (
        1986074,
        0x000ae6c868000000,
        "64cd64bf3c3bc389eb20df8310f0427d1c36ab2eaaf09e346bfa7f0453fc1a18",
    ),
    (
        237392,
        0x0000000000000001,
        "fcd567f5d866357a8e299fd5b2359bb2c8157c30395229c4e9b0a353944a7978",
    ),
];

/// Average bits 20, sizes 16 MiB to 32 MiB (restic's `chunks4`).
const SIZES_16_32_MIB: &[Expected] = &[
    (
        17864181,
        0x001fec043c700000,
        "4a43d4eccaa3b88514f54d3becddc6ef5e06fbb2de8161b0129888dbae4430a7",
    ),
    (
        15690251,
        0x0000000000000001,
        "4ca32142da6f9130dc9a5d0df82a3c9e359cc4f1f480f4e52042ec0e8ecd3cc0",
    ),
];
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Feeds `data` in `buffer_size` pieces, as a backup reading a file would, and checks every chunk
/// against `expected`.
fn check(chunker: &mut Chunker<'_>, data: &[u8], buffer_size: usize, expected: &[Expected]) {
    let mut chunk_start = 0;
    let mut chunk_index = 0;
    let mut check_chunk = |start: usize, end: usize, cut: Option<u64>| {
        let (length, fingerprint, digest) = expected[chunk_index];
        assert_eq!(end - start, length, "length of chunk {chunk_index}");
        if let Some(cut) = cut {
            assert_eq!(cut, fingerprint, "cut fingerprint of chunk {chunk_index}");
        }
        let actual = hex(&Sha256::digest(&data[start..end]));
        assert_eq!(actual, digest, "digest of chunk {chunk_index}");
        chunk_index += 1;
    };
    for buffer_start in (0..data.len()).step_by(buffer_size) {
        let mut position = buffer_start;
        let buffer_end = (buffer_start + buffer_size).min(data.len());
        while let Some(length) = chunker.next_boundary(&data[position..buffer_end]) {
            position += length;
            check_chunk(chunk_start, position, Some(chunker.last_cut_fingerprint()));
            chunk_start = position;
        }
        assert_eq!(chunker.pending_len(), buffer_end - chunk_start);
    }
    if chunk_start < data.len() {
        check_chunk(chunk_start, data.len(), None);
    }
    assert_eq!(chunk_index, expected.len(), "number of chunks");
}

#[test]
fn default_parameters_match_restic_vectors() {
    let data = go_random_bytes(INPUT_SEED, INPUT_LENGTH);
    let tables = ChunkerTables::new(RESTIC_TEST_POLYNOMIAL);
    let mut chunker = Chunker::new(&tables);
    // restic reads in 512 KiB buffers; other sizes must not matter.
    for buffer_size in [512 * 1024, 1 << 20, 100_003, INPUT_LENGTH] {
        check(&mut chunker, &data, buffer_size, DEFAULT);
        chunker.reset();
    }
}

#[test]
fn average_bits_19_match_restic_vectors() {
    let data = go_random_bytes(INPUT_SEED, INPUT_LENGTH);
    let tables = ChunkerTables::new(RESTIC_TEST_POLYNOMIAL);
    let mut chunker = Chunker::new(&tables);
    chunker.set_average_bits(19);
    check(&mut chunker, &data, 512 * 1024, AVERAGE_BITS_19);
}

#[test]
fn custom_sizes_match_restic_vectors() {
    let data = go_random_bytes(INPUT_SEED, INPUT_LENGTH);
    let tables = ChunkerTables::new(RESTIC_TEST_POLYNOMIAL);
    let mut chunker = Chunker::with_sizes(&tables, 16 * 1024 * 1024, 32 * 1024 * 1024);
    check(&mut chunker, &data, 1 << 20, SIZES_16_32_MIB);
}

#[test]
fn zeros_are_cut_at_the_minimum_size() {
    // restic's chunks2: four times MinSize of zero bytes gives four MinSize chunks, cut with
    // fingerprint 0 (an all-zero window), and no empty chunk after the last.
    const ZERO_CHUNK_DIGEST: &str =
        "07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541";
    let data = vec![0u8; 4 * MIN_SIZE];
    let tables = ChunkerTables::new(RESTIC_TEST_POLYNOMIAL);
    let mut chunker = Chunker::new(&tables);
    let expected = [(MIN_SIZE, 0, ZERO_CHUNK_DIGEST); 4];
    check(&mut chunker, &data, 512 * 1024, &expected);
    assert_eq!(chunker.pending_len(), 0);
}

//! A deliberately literal model of restic's `NextSplitPoint`, state for state (the window ring
//! with `wpos`, `reset()` sliding in a byte 1, the `pre` skip, `count`), slow and simple. The fast
//! chunker differs from it in ways the module docs argue are invisible (all-zero reset state,
//! split loops, lanes); these property tests check that argument on arbitrary inputs, sizes, masks
//! and buffer splits.

use proptest::prelude::*;

use crate::chunker::lengths_with;
use crate::{Chunker, ChunkerTables, Polynomial, WINDOW_SIZE};

struct ResticModel<'t> {
    tables: &'t ChunkerTables,
    min_size: usize,
    max_size: usize,
    split_mask: u64,
    window: [u8; WINDOW_SIZE],
    window_position: usize,
    digest: u64,
    pre: usize,
    count: usize,
}

impl<'t> ResticModel<'t> {
    fn new(tables: &'t ChunkerTables, min_size: usize, max_size: usize, bits: u32) -> Self {
        let mut model = ResticModel {
            tables,
            min_size,
            max_size,
            split_mask: (1 << bits) - 1,
            window: [0; WINDOW_SIZE],
            window_position: 0,
            digest: 0,
            pre: 0,
            count: 0,
        };
        model.reset();
        model
    }

    fn reset(&mut self) {
        self.window = [0; WINDOW_SIZE];
        self.count = 0;
        self.window[0] = 1;
        // updateDigest(out[0], 1): out[0] is 0, so this appends the byte 1 to an empty hash.
        self.digest = self.tables.slide(self.tables.out[0], 0, 1);
        self.window_position = 1;
        self.pre = self.min_size - WINDOW_SIZE;
    }

    /// restic's `NextSplitPoint`: the split index in `buffer`, or None.
    fn next_split_point(&mut self, buffer: &[u8]) -> Option<usize> {
        let mut buffer = buffer;
        let mut index = 0;
        if self.pre > 0 {
            if self.pre >= buffer.len() {
                self.pre -= buffer.len();
                self.count += buffer.len();
                return None;
            }
            buffer = &buffer[self.pre..];
            index = self.pre;
            self.count += self.pre;
            self.pre = 0;
        }
        let mut add = self.count;
        for (offset, &byte) in buffer.iter().enumerate() {
            let slot = self.window_position % WINDOW_SIZE;
            let outgoing = self.window[slot];
            self.window[slot] = byte;
            self.window_position += 1;
            self.digest = self.tables.slide(self.digest, outgoing, byte);
            add += 1;
            if (self.digest & self.split_mask == 0 || add >= self.max_size) && add >= self.min_size
            {
                self.reset();
                return Some(index + offset + 1);
            }
        }
        self.count += buffer.len();
        None
    }

    fn lengths(&mut self, data: &[u8]) -> Vec<usize> {
        let mut lengths = Vec::new();
        let mut rest = data;
        let mut pending = 0;
        while !rest.is_empty() {
            match self.next_split_point(rest) {
                Some(length) => {
                    lengths.push(pending + length);
                    pending = 0;
                    rest = &rest[length..];
                }
                None => {
                    pending += rest.len();
                    rest = &[];
                }
            }
        }
        if pending > 0 {
            lengths.push(pending);
        }
        lengths
    }
}

/// Inputs that exercise every path: random stretches (mask cuts), zero runs (cuts at the
/// minimum), and a repeated short pattern (cuts at the maximum unless the pattern matches).
fn input() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (0usize..5000).prop_map(|length| vec![0u8; length]),
        (any::<[u8; 7]>(), 0usize..5000).prop_map(|(pattern, length)| pattern
            .iter()
            .copied()
            .cycle()
            .take(length)
            .collect()),
    ];
    proptest::collection::vec(segment, 0..12).prop_map(|segments| segments.concat())
}

/// Feeds `data` in pieces that end at `splits` (taken modulo the length) and collects lengths.
fn lengths_in_pieces(chunker: &mut Chunker<'_>, data: &[u8], splits: &[usize]) -> Vec<usize> {
    let mut ends: Vec<usize> = splits
        .iter()
        .map(|split| split % (data.len() + 1))
        .chain([data.len()])
        .collect();
    ends.sort_unstable();
    let mut lengths = Vec::new();
    let mut piece_start = 0;
    for end in ends {
        let mut position = piece_start;
        loop {
            let pending = chunker.pending_len();
            let Some(length) = chunker.next_boundary(&data[position..end]) else {
                break;
            };
            lengths.push(pending + length);
            assert_eq!(chunker.pending_len(), 0, "a boundary resets the chunk");
            position += length;
        }
        piece_start = end;
    }
    if chunker.pending_len() > 0 {
        lengths.push(chunker.pending_len());
    }
    lengths
}

fn test_tables() -> ChunkerTables {
    ChunkerTables::new(Polynomial(0x3DA3358B4DC173))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn buffer_splits_do_not_change_boundaries(
        data in input(),
        min_size in WINDOW_SIZE..1500,
        extra in 0usize..3000,
        bits in 3u32..13,
        splits in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let tables = test_tables();
        let max_size = min_size + extra;
        let mut chunker = Chunker::with_sizes(&tables, min_size, max_size);
        chunker.set_average_bits(bits);
        let whole = lengths_with(&mut chunker, &data);
        let pieces = lengths_in_pieces(&mut chunker, &data, &splits);
        prop_assert_eq!(&whole, &pieces);

        let model = ResticModel::new(&tables, min_size, max_size, bits).lengths(&data);
        prop_assert_eq!(&whole, &model);

        prop_assert_eq!(whole.iter().sum::<usize>(), data.len());
        if let Some((last, rest)) = whole.split_last() {
            prop_assert!(*last >= 1 && *last <= max_size);
            for &length in rest {
                prop_assert!(length >= min_size && length <= max_size, "chunk of {} bytes", length);
            }
        }
    }

    #[test]
    fn byte_by_byte_feeding_matches_the_model(
        data in input(),
        min_size in WINDOW_SIZE..300,
        extra in 0usize..600,
        bits in 3u32..9,
    ) {
        let tables = test_tables();
        let mut chunker = Chunker::with_sizes(&tables, min_size, min_size + extra);
        chunker.set_average_bits(bits);
        let splits: Vec<usize> = (0..data.len()).collect();
        let pieces = lengths_in_pieces(&mut chunker, &data, &splits);
        let model = ResticModel::new(&tables, min_size, min_size + extra, bits).lengths(&data);
        prop_assert_eq!(pieces, model);
    }
}

#[test]
fn default_sizes_match_the_model_on_mixed_data() {
    // Several megabytes so the default sizes and the lanes take part: random, zero and
    // patterned stretches, chunked with average bits 16 so mask cuts are frequent.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut data = Vec::new();
    for round in 0..12 {
        let length = 200_000 + round * 77_777;
        match round % 3 {
            0 => data.extend((0..length).map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })),
            1 => data.extend(std::iter::repeat_n(0u8, length)),
            _ => data.extend(b"cairn ".iter().copied().cycle().take(length)),
        }
    }
    let tables = test_tables();
    let mut chunker = Chunker::new(&tables);
    chunker.set_average_bits(16);
    let mut model = ResticModel::new(&tables, crate::MIN_SIZE, crate::MAX_SIZE, 16);
    assert_eq!(lengths_with(&mut chunker, &data), model.lengths(&data));
}

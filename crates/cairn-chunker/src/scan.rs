//! The chunker's hot loop: finding the first position in a span of bytes where the rolling
//! fingerprint matches the split mask.
//!
//! Rolling one byte costs a chain of dependent operations (XOR, shift, table load, XOR), so a
//! single fingerprint advances one byte per table-load latency, far below what the core could
//! issue. But the fingerprint at a position depends only on the 64 bytes before it, so a span can
//! be cut into lanes that are fingerprinted independently: each lane starts from the fingerprint
//! of the 64 bytes before it, computed from scratch. Running four lanes in lockstep gives the
//! core four independent chains to overlap.
//!
//! Lanes find matches out of order, and the chunker needs the first one. Matches are rare (one
//! position in 2^20), so when any lane matches, the block is scanned again by the one-lane loop,
//! which stops at the first match. That costs at most one block per chunk.
//!
//! Invariant (the caller's): every position in the span is past the chunk's minimum size, so any
//! match is a boundary, and the fingerprint passed in is that of the 64 bytes before the span.

use crate::{ChunkerTables, WINDOW_SIZE};

const LANES: usize = 4;
/// Long enough that warming up the lanes (64 bytes each) costs little, short enough that the
/// rescan after a match costs little and small inputs still use lanes.
const LANE_LENGTH: usize = 4096;
const BLOCK_LENGTH: usize = LANES * LANE_LENGTH;

/// Rolls the input through the fingerprint and returns the index of the first input byte after
/// which the fingerprint matches `split_mask`.
///
/// `window_and_input` holds the 64 bytes in the window, then the input; `fingerprint` must be
/// the fingerprint of those 64 bytes. On return it is the fingerprint after the matching byte, or
/// after the last byte when nothing matched.
pub(crate) fn find_boundary(
    tables: &ChunkerTables,
    split_mask: u64,
    fingerprint: &mut u64,
    window_and_input: &[u8],
) -> Option<usize> {
    let input_length = window_and_input.len() - WINDOW_SIZE;
    let mut block_start = 0;
    while input_length - block_start >= BLOCK_LENGTH {
        let block = window_and_input[block_start..block_start + WINDOW_SIZE + BLOCK_LENGTH]
            .try_into()
            .expect("block slice has the block length");
        match scan_block(tables, split_mask, *fingerprint, block) {
            Some(end_fingerprint) => {
                *fingerprint = end_fingerprint;
                block_start += BLOCK_LENGTH;
            }
            None => {
                let found = scan_one_lane(tables, split_mask, fingerprint, block);
                debug_assert!(found.is_some(), "a lane matched, so the rescan must");
                return found.map(|index| block_start + index);
            }
        }
    }
    scan_one_lane(
        tables,
        split_mask,
        fingerprint,
        &window_and_input[block_start..],
    )
    .map(|index| block_start + index)
}

/// The one-lane loop, with `window_and_input` and `fingerprint` as for [`find_boundary`].
pub(crate) fn scan_one_lane(
    tables: &ChunkerTables,
    split_mask: u64,
    fingerprint: &mut u64,
    window_and_input: &[u8],
) -> Option<usize> {
    let input = &window_and_input[WINDOW_SIZE..];
    let mut current = *fingerprint;
    for (index, (&outgoing, &incoming)) in window_and_input.iter().zip(input).enumerate() {
        current = tables.slide(current, outgoing, incoming);
        if current & split_mask == 0 {
            *fingerprint = current;
            return Some(index);
        }
    }
    *fingerprint = current;
    None
}

/// Scans one block in four lanes. Returns the fingerprint at the end of the block, or None when a
/// lane matched somewhere (the caller then finds where with the one-lane loop).
#[inline]
fn scan_block(
    tables: &ChunkerTables,
    split_mask: u64,
    fingerprint: u64,
    block: &[u8; WINDOW_SIZE + BLOCK_LENGTH],
) -> Option<u64> {
    // Lane k's input starts at block[WINDOW_SIZE + k * LANE_LENGTH]; the byte leaving the window
    // as input byte i enters is block[i], so lane k's outgoing bytes start at block[k * LANE_LENGTH].
    const L: usize = LANE_LENGTH;
    let mut lane0 = fingerprint;
    // Lanes 1 to 3 start from the fingerprint of the 64 bytes before them, rolled into an empty
    // window (an all-zero window has fingerprint 0, and out[0] = 0 removes nothing).
    let (mut lane1, mut lane2, mut lane3) = (0, 0, 0);
    for offset in 0..WINDOW_SIZE {
        lane1 = tables.slide(lane1, 0, block[L + offset]);
        lane2 = tables.slide(lane2, 0, block[2 * L + offset]);
        lane3 = tables.slide(lane3, 0, block[3 * L + offset]);
    }
    for offset in 0..L {
        lane0 = tables.slide(lane0, block[offset], block[WINDOW_SIZE + offset]);
        lane1 = tables.slide(lane1, block[L + offset], block[WINDOW_SIZE + L + offset]);
        lane2 = tables.slide(
            lane2,
            block[2 * L + offset],
            block[WINDOW_SIZE + 2 * L + offset],
        );
        lane3 = tables.slide(
            lane3,
            block[3 * L + offset],
            block[WINDOW_SIZE + 3 * L + offset],
        );
        // Non-short-circuit ORs: one well-predicted branch per step instead of four.
        let matched = (lane0 & split_mask == 0)
            | (lane1 & split_mask == 0)
            | (lane2 & split_mask == 0)
            | (lane3 & split_mask == 0);
        if matched {
            return None;
        }
    }
    Some(lane3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Polynomial;
    use proptest::prelude::*;

    fn tables() -> ChunkerTables {
        ChunkerTables::new(Polynomial(0x3DA3358B4DC173))
    }

    /// The fingerprint of a 64-byte window, rolled from an empty window.
    fn window_fingerprint(tables: &ChunkerTables, window: &[u8]) -> u64 {
        window
            .iter()
            .fold(0, |fingerprint, &byte| tables.slide(fingerprint, 0, byte))
    }

    fn both_ways(bytes: &[u8], split_mask: u64) {
        let tables = tables();
        let start = window_fingerprint(&tables, &bytes[..WINDOW_SIZE]);
        let (mut lanes, mut one_lane) = (start, start);
        let found_lanes = find_boundary(&tables, split_mask, &mut lanes, bytes);
        let found_one_lane = scan_one_lane(&tables, split_mask, &mut one_lane, bytes);
        assert_eq!(found_lanes, found_one_lane);
        assert_eq!(lanes, one_lane);
    }

    #[test]
    fn lanes_find_the_first_match_of_the_one_lane_loop() {
        // A pseudo-random span of several blocks; masks from "matches often" to "never".
        let mut state = 0x1234_5678_9abc_def0u64;
        let bytes: Vec<u8> = (0..WINDOW_SIZE + 5 * BLOCK_LENGTH + 777)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for bits in [4, 8, 12, 14, 16, 20, 40] {
            both_ways(&bytes, (1 << bits) - 1);
            // Matches in later lanes and blocks, too.
            for skip in [1, 4000, 4096, 9000, BLOCK_LENGTH + 5] {
                both_ways(&bytes[skip..], (1 << bits) - 1);
            }
        }
    }

    proptest! {
        #[test]
        fn lanes_agree_with_one_lane(
            bytes in proptest::collection::vec(any::<u8>(), WINDOW_SIZE..3 * BLOCK_LENGTH),
            bits in 1u32..24,
        ) {
            both_ways(&bytes, (1 << bits) - 1);
        }
    }
}

//! Which files a sampled drill restores: a share of the snapshot's files, at least a minimum,
//! spread over the whole tree and different from one snapshot to the next, so that drills over
//! weeks touch most of the data rather than the same few files.

use sha2::{Digest, Sha256};

/// Picks `percent` % of `count` items (rounded up), at least `min` (all when fewer), ranked by
/// a hash of `seed` and each item's key; returns their positions in ascending order. The same
/// seed and keys give the same choice, so a drill can be repeated exactly.
pub fn choose<'a>(
    keys: impl ExactSizeIterator<Item = &'a [u8]>,
    percent: f64,
    min: u64,
    seed: &[u8],
) -> Vec<usize> {
    let count = keys.len();
    let share = (count as f64 * percent / 100.0).ceil() as u64;
    let wanted = share.max(min).min(count as u64) as usize;
    let mut ranked: Vec<([u8; 32], usize)> = keys
        .enumerate()
        .map(|(position, key)| {
            let mut hasher = Sha256::new();
            hasher.update(seed);
            hasher.update(key);
            (hasher.finalize().into(), position)
        })
        .collect();
    ranked.sort_unstable();
    let mut chosen: Vec<usize> = ranked
        .into_iter()
        .take(wanted)
        .map(|(_, position)| position)
        .collect();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("/data/file-{i}").into_bytes())
            .collect()
    }

    fn pick(keys: &[Vec<u8>], percent: f64, min: u64, seed: &[u8]) -> Vec<usize> {
        choose(keys.iter().map(Vec::as_slice), percent, min, seed)
    }

    #[test]
    fn takes_the_share_rounded_up_but_at_least_the_minimum() {
        let k = keys(1000);
        assert_eq!(pick(&k, 2.0, 10, b"s").len(), 20);
        assert_eq!(pick(&k, 0.5, 10, b"s").len(), 10);
        assert_eq!(pick(&k, 0.15, 1, b"s").len(), 2, "1.5 files rounds up to 2");
        assert_eq!(pick(&k, 100.0, 10, b"s").len(), 1000);
    }

    #[test]
    fn takes_everything_when_there_are_fewer_files_than_the_minimum() {
        let k = keys(4);
        assert_eq!(pick(&k, 2.0, 10, b"s"), [0, 1, 2, 3]);
        assert!(pick(&[], 2.0, 10, b"s").is_empty());
    }

    #[test]
    fn the_same_seed_repeats_the_choice_and_another_seed_moves_it() {
        let k = keys(1000);
        let first = pick(&k, 5.0, 1, b"snapshot-a");
        assert_eq!(first, pick(&k, 5.0, 1, b"snapshot-a"));
        let second = pick(&k, 5.0, 1, b"snapshot-b");
        assert_ne!(first, second);
        assert!(
            first.windows(2).all(|w| w[0] < w[1]),
            "ascending, no repeats"
        );
        // Spread over the whole list, not its head.
        assert!(*first.last().unwrap() > 500, "{first:?}");
    }
}

//! A port of Go's `math/rand` source (the additive lagged Fibonacci generator of Mitchell and
//! Reeds, seeded through a Lehmer generator), just enough to regenerate the bytes restic/chunker's
//! tests chunk: `rand.New(rand.NewSource(seed))` and `Uint32()`.

use super::go_cooked::COOKED;

const LENGTH: usize = 607;
const TAP: usize = 273;
const INT32_MAX: i64 = (1 << 31) - 1;
const INT63_MASK: u64 = (1 << 63) - 1;

pub(crate) struct GoRand {
    tap: usize,
    feed: usize,
    register: [i64; LENGTH],
}

/// One step of the seeding generator, `x * 48271 mod (2^31 - 1)` by Schrage's method as Go does.
fn seed_step(x: i32) -> i32 {
    let high = x / 44488;
    let low = x % 44488;
    let next = 48271 * low - 3399 * high;
    if next < 0 {
        next + INT32_MAX as i32
    } else {
        next
    }
}

impl GoRand {
    pub(crate) fn new(seed: i64) -> GoRand {
        let mut seed = seed % INT32_MAX;
        if seed < 0 {
            seed += INT32_MAX;
        }
        if seed == 0 {
            seed = 89482311;
        }
        let mut x = seed as i32;
        let mut register = [0i64; LENGTH];
        for index in -20..LENGTH as i64 {
            x = seed_step(x);
            if index >= 0 {
                let mut value = i64::from(x) << 40;
                x = seed_step(x);
                value ^= i64::from(x) << 20;
                x = seed_step(x);
                value ^= i64::from(x);
                value ^= COOKED[index as usize];
                register[index as usize] = value;
            }
        }
        GoRand {
            tap: 0,
            feed: LENGTH - TAP,
            register,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.tap = (self.tap + LENGTH - 1) % LENGTH;
        self.feed = (self.feed + LENGTH - 1) % LENGTH;
        let value = self.register[self.feed].wrapping_add(self.register[self.tap]);
        self.register[self.feed] = value;
        value as u64
    }

    /// Go's `Rand.Uint32`: the top 32 of the 63 bits of `Int63`.
    pub(crate) fn next_u32(&mut self) -> u32 {
        ((self.next_u64() & INT63_MASK) >> 31) as u32
    }
}

/// restic/chunker's `getRandom(seed, count)`: `Uint32()` values written little-endian.
pub(crate) fn go_random_bytes(seed: i64, count: usize) -> Vec<u8> {
    let mut rng = GoRand::new(seed);
    let mut bytes = Vec::with_capacity(count);
    while bytes.len() < count {
        bytes.extend_from_slice(&rng.next_u32().to_le_bytes());
    }
    bytes.truncate(count);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_output() {
        // The first four rand.New(rand.NewSource(seed)).Uint32() values, printed by Go 1.19.
        let expected: [(i64, [u32; 4]); 2] = [
            (1, [2596996162, 4039455774, 2854263694, 1879968118]),
            (23, [3487928015, 2356368465, 953638426, 196385641]),
        ];
        for (seed, values) in expected {
            let mut rng = GoRand::new(seed);
            assert_eq!(values.map(|_| rng.next_u32()), values, "seed {seed}");
        }
    }
}

//! Random bytes from the operating system.
//!
//! Invariant: every IV, salt, master key and repository id comes from here, that is from the
//! kernel's CSPRNG (`getrandom(2)` on Linux), never from a seeded user-space generator.

/// Random bytes from the OS RNG, for salts, ids, IVs and keys.
///
/// # Panics
/// When the OS cannot provide randomness. restic panics here too: carrying on would mean
/// reusing IVs or writing guessable keys, which is worse than stopping.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

/// Fills `buffer` from the OS RNG, with the same panic as [`random_bytes`].
pub(crate) fn fill_random(buffer: &mut [u8]) {
    if let Err(error) = getrandom::getrandom(buffer) {
        panic!("the operating system's random number generator failed ({error}); refusing to create keys or IVs without it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ() {
        // 2^-256 chance of a false failure.
        assert_ne!(random_bytes::<32>(), random_bytes::<32>());
    }
}

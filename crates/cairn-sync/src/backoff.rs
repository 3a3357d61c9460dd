//! When a client dials again: full-jitter exponential backoff. Attempt n (from 0) waits a
//! uniformly random time in `[0, min(5 min, 1 s × 2^n)]`, so after a server restart a fleet of
//! clients spreads its reconnections over the window instead of arriving together. A session
//! that lived longer than a minute resets the attempt count (the next failure waits ≤ 1 s);
//! one that died young keeps growing it, so a server that accepts and then drops is not
//! hammered.

use std::time::Duration;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A session that lived longer than this resets the backoff.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    rng: ChaCha20Rng,
}

impl Backoff {
    /// A backoff whose jitter comes from `seed` (the caller draws it from the OS generator;
    /// tests pass a fixed one).
    pub fn new(seed: u64) -> Backoff {
        Backoff {
            attempt: 0,
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    pub fn from_rng(rng: &mut impl RngCore) -> Backoff {
        Backoff::new(rng.next_u64())
    }

    /// The window of the next attempt: `min(max, base × 2^attempt)`.
    pub fn window(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX);
        BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
    }

    /// How long to wait before the next dial; counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let window_ms = self.window().as_millis() as u64;
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(self.rng.gen_range(0..=window_ms))
    }

    /// A session ended after living `lived`: a long one resets the attempts.
    pub fn session_ended(&mut self, lived: Duration) {
        if lived > BACKOFF_RESET_AFTER {
            self.attempt = 0;
        }
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_up_to_five_minutes() {
        let mut backoff = Backoff::new(1);
        let mut windows = Vec::new();
        for _ in 0..12 {
            windows.push(backoff.window().as_secs());
            let delay = backoff.next_delay();
            assert!(delay <= Duration::from_secs(*windows.last().unwrap()));
        }
        assert_eq!(windows, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        backoff.session_ended(Duration::from_secs(30));
        assert_eq!(
            backoff.window().as_secs(),
            300,
            "a short session keeps the backoff"
        );
        backoff.session_ended(Duration::from_secs(61));
        assert_eq!(backoff.window().as_secs(), 1);
    }

    /// A server down for a while, then back: 100 clients that lost it at the same instant
    /// come back spread over time, not in one burst.
    #[test]
    fn a_hundred_clients_reconnect_spread_out() {
        let seed: u64 = std::env::var("CAIRN_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20261129);
        let down_ms: u64 = 45_000;
        let mut arrivals = Vec::new();
        for client in 0..100u64 {
            let mut backoff = Backoff::new(seed ^ client.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut now_ms = 0u64;
            // Dial until the server is back; every dial before `down_ms` fails at once.
            loop {
                now_ms += backoff.next_delay().as_millis() as u64;
                if now_ms >= down_ms {
                    break;
                }
            }
            arrivals.push(now_ms);
        }
        let mut buckets = std::collections::BTreeMap::<u64, usize>::new();
        for at in &arrivals {
            *buckets.entry(at / 1000).or_default() += 1;
        }
        let fullest = buckets.values().copied().max().unwrap();
        assert!(
            fullest <= 10,
            "seed {seed}: {fullest} of 100 clients came back in one second: {buckets:?}"
        );
        assert!(
            buckets.len() >= 20,
            "seed {seed}: only {} distinct seconds",
            buckets.len()
        );
    }
}

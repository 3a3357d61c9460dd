//! A bandwidth limit shared by every transfer: one token bucket in bytes per second, drawn
//! from in small chunks as bytes go on the wire.
//!
//! The S3 transport (`s3::transport`) cuts every request and response body into chunks of
//! [`THROTTLE_CHUNK_BYTES`] and waits for each chunk's reservation before it passes the chunk
//! on, so the rate on the wire is smooth over any window longer than a fraction of a second,
//! whatever the object sizes and however many transfers run at once. Taking tokens per whole
//! object instead would send a 16 MiB pack as one burst at line speed and then stall.
//!
//! The bucket only computes how long a caller must wait (time is passed in, so it is tested
//! without sleeping); the caller does the waiting.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many bytes a transfer sends or receives per reservation: small enough that the bucket
/// interleaves many transfers finely, large enough that the bookkeeping costs nothing.
pub const THROTTLE_CHUNK_BYTES: usize = 8 << 10;

/// The burst a bucket allows after an idle spell, as a share of one second of its rate: small,
/// so that even the first window of a transfer stays near the limit.
const BURST_SECS: f64 = 0.05;

/// Bytes per second for all callers together. A caller reserves its bytes and waits the
/// returned time before sending them; reservations queue up one behind the other, so
/// concurrent callers share the rate and none of them can overtake it.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    /// Negative when reservations are queued: their bytes are owed and paid off by time.
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A bucket that starts full (one burst). `bytes_per_second` of 0 is taken as 1.
    pub fn new(bytes_per_second: u64) -> TokenBucket {
        TokenBucket::starting_at(bytes_per_second, Instant::now())
    }

    fn starting_at(bytes_per_second: u64, now: Instant) -> TokenBucket {
        let rate = bytes_per_second.max(1) as f64;
        let capacity = (rate * BURST_SECS).max(THROTTLE_CHUNK_BYTES as f64);
        TokenBucket {
            rate,
            capacity,
            state: Mutex::new(BucketState {
                tokens: capacity,
                updated: now,
            }),
        }
    }

    pub fn bytes_per_second(&self) -> u64 {
        self.rate as u64
    }

    /// Reserves `bytes` at instant `now` and returns how long the caller must wait before
    /// sending them (zero while the burst lasts).
    pub fn reserve(&self, bytes: usize, now: Instant) -> Duration {
        let mut state = self.state.lock().expect("token bucket lock");
        // A caller whose `now` was read before another's reservation must not move time back.
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate).min(self.capacity);
        state.updated = state.updated.max(now);
        state.tokens -= bytes as f64;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            // The debt is counted from the bucket's clock, which may be ahead of `now`.
            state.updated.saturating_duration_since(now)
                + Duration::from_secs_f64(-state.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_burst_is_free_then_every_chunk_waits_its_share() {
        let start = Instant::now();
        let bucket = TokenBucket::starting_at(MIB as u64, start);
        // The burst: 5% of a second of the rate.
        let burst_chunks = (MIB as f64 * BURST_SECS) as usize / THROTTLE_CHUNK_BYTES;
        for _ in 0..burst_chunks {
            assert_eq!(bucket.reserve(THROTTLE_CHUNK_BYTES, start), Duration::ZERO);
        }
        // The chunk that overdraws it waits for what it lacks, at most one chunk's time ...
        let chunk_secs = THROTTLE_CHUNK_BYTES as f64 / MIB as f64;
        let mut previous = bucket.reserve(THROTTLE_CHUNK_BYTES, start);
        assert!(previous > Duration::ZERO && previous.as_secs_f64() <= chunk_secs);
        // ... and each one after it is due one chunk's time after the previous one.
        for _ in 0..10 {
            let wait = bucket.reserve(THROTTLE_CHUNK_BYTES, start);
            let step = (wait - previous).as_secs_f64();
            assert!(
                (step - chunk_secs).abs() < 1e-6,
                "{wait:?} after {previous:?}"
            );
            previous = wait;
        }
    }

    #[test]
    fn concurrent_callers_share_the_rate() {
        // 4 callers reserving 1 MiB each in chunks at the same instant, at 1 MiB/s: the last
        // chunk is due at about 4 s, less the burst, whoever reserved it.
        let start = Instant::now();
        let bucket = TokenBucket::starting_at(MIB as u64, start);
        let mut last = Duration::ZERO;
        for _ in 0..(MIB / THROTTLE_CHUNK_BYTES) {
            for _caller in 0..4 {
                last = bucket.reserve(THROTTLE_CHUNK_BYTES, start);
            }
        }
        let expected = 4.0 - BURST_SECS;
        assert!((last.as_secs_f64() - expected).abs() < 1e-6, "{last:?}");
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let start = Instant::now();
        let bucket = TokenBucket::starting_at(MIB as u64, start);
        // A minute idle must not allow a minute's worth of bytes at once.
        let later = start + Duration::from_secs(60);
        let burst = (MIB as f64 * BURST_SECS) as usize;
        assert_eq!(bucket.reserve(burst, later), Duration::ZERO);
        let wait = bucket.reserve(MIB / 2, later);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
    }

    #[test]
    fn the_long_run_rate_holds_when_time_passes_as_reserved() {
        // A caller that sleeps exactly as told sends 10 MiB in 10 s at 1 MiB/s.
        let start = Instant::now();
        let bucket = TokenBucket::starting_at(MIB as u64, start);
        let mut now = start;
        for _ in 0..(10 * MIB / THROTTLE_CHUNK_BYTES) {
            now += bucket.reserve(THROTTLE_CHUNK_BYTES, now);
        }
        let elapsed = (now - start).as_secs_f64();
        assert!((elapsed - (10.0 - BURST_SECS)).abs() < 1e-3, "{elapsed}");
    }

    #[test]
    fn a_clock_read_before_another_reservation_does_not_refill_twice() {
        let start = Instant::now();
        let bucket = TokenBucket::starting_at(MIB as u64, start);
        let later = start + Duration::from_secs(1);
        // Due at `later` + 0.95 s (the burst covers 0.05 s of it).
        bucket.reserve(MIB, later);
        // A caller that read the clock at `start` is served half a second after that.
        let wait = bucket.reserve(MIB / 2, start);
        assert!((wait.as_secs_f64() - 2.45).abs() < 1e-6, "{wait:?}");
    }
}

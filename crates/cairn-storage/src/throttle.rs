//! A bandwidth limit shared by every transfer: one token bucket in bytes per second, and a
//! store wrapper that draws from it for each object written or read.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{FileKind, ObjectInfo, PendingFile, Result, Storage};

/// Bytes per second for all callers together, with up to one second of burst. A transfer
/// that takes more than is in the bucket runs the bucket into debt and waits it off, so the
/// long-run rate holds whatever the object sizes.
pub struct TokenBucket {
    rate: f64,
    state: Mutex<BucketState>,
}

struct BucketState {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// `bytes_per_second` > 0.
    pub fn new(bytes_per_second: u64) -> TokenBucket {
        let rate = bytes_per_second.max(1) as f64;
        TokenBucket {
            rate,
            state: Mutex::new(BucketState {
                tokens: rate,
                updated: Instant::now(),
            }),
        }
    }

    /// Takes `bytes` from the bucket, sleeping as long as the bucket is in debt.
    pub fn take(&self, bytes: u64) {
        let wait = {
            let mut state = self.state.lock().expect("token bucket lock");
            let now = Instant::now();
            let refill = now.duration_since(state.updated).as_secs_f64() * self.rate;
            state.tokens = (state.tokens + refill).min(self.rate);
            state.updated = now;
            state.tokens -= bytes as f64;
            if state.tokens < 0.0 {
                Duration::from_secs_f64(-state.tokens / self.rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// A store whose reads and writes draw from a shared [`TokenBucket`].
pub struct Throttled {
    inner: Arc<dyn Storage>,
    bucket: Arc<TokenBucket>,
}

impl Throttled {
    pub fn new(inner: Arc<dyn Storage>, bucket: Arc<TokenBucket>) -> Throttled {
        Throttled { inner, bucket }
    }
}

impl Storage for Throttled {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> Result<()> {
        self.inner.create()
    }

    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()> {
        self.bucket.take(data.len() as u64);
        self.inner.put(kind, name, data)
    }

    fn put_bulk(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()> {
        self.bucket.take(data.len() as u64);
        self.inner.put_bulk(kind, name, data)
    }

    fn get(&self, kind: FileKind, name: &str) -> Result<Vec<u8>> {
        let data = self.inner.get(kind, name)?;
        self.bucket.take(data.len() as u64);
        Ok(data)
    }

    fn get_range(&self, kind: FileKind, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        self.bucket.take(length);
        self.inner.get_range(kind, name, offset, length)
    }

    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        self.inner.size(kind, name)
    }

    fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>> {
        self.inner.list(kind)
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        self.inner.remove(kind, name)
    }

    fn sync(&self) -> Result<()> {
        self.inner.sync()
    }

    fn create_pending(&self, _kind: FileKind) -> Result<Option<Box<dyn PendingFile>>> {
        // Whole puts only, so every byte passes through the bucket.
        Ok(None)
    }

    fn write_concurrency(&self) -> usize {
        self.inner.write_concurrency()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[test]
    fn holds_the_rate_across_threads() {
        // 1 MiB/s with 1 MiB of burst: 3 MiB from four threads takes about 2 s.
        let store = Throttled::new(
            Arc::new(MemoryStore::new()),
            Arc::new(TokenBucket::new(1 << 20)),
        );
        let started = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..3u64 {
                        let name = format!("{:064x}", t * 10 + i);
                        store.put(FileKind::Pack, &name, &[0; 256 << 10]).unwrap();
                    }
                });
            }
        });
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(1800), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(3500), "{elapsed:?}");
        crate::conformance::run_all(&Throttled::new(
            Arc::new(MemoryStore::new()),
            Arc::new(TokenBucket::new(1 << 30)),
        ));
    }
}

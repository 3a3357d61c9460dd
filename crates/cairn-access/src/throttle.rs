//! Login throttling, in memory: after three failures for one user name, or from one address,
//! each further attempt waits 1 s, doubling with every failure up to 15 minutes. Both keys
//! count, so guessing many passwords for one user from many addresses and many users from
//! one address are both slowed. A success clears both. The delay is a refusal to check
//! (the caller answers "try again in N s") rather than a sleep, so no request thread waits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::accounts::Clock;

/// Failures allowed before the first delay.
pub const FREE_FAILURES: u32 = 3;
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Entries are forgotten this long after their last failure, when the table grows large.
const FORGET_AFTER: chrono::Duration = chrono::Duration::hours(1);
const TABLE_SIZE_BEFORE_PRUNING: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: DateTime<Utc>,
    blocked_until: Option<DateTime<Utc>>,
}

pub struct LoginThrottle {
    clock: Clock,
    failures: Mutex<HashMap<String, Failures>>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle").finish_non_exhaustive()
    }
}

fn keys(user: &str, address: &str) -> [String; 2] {
    [format!("user:{user}"), format!("address:{address}")]
}

/// The delay after the `count`th failure.
fn delay_after(count: u32) -> Option<Duration> {
    let over = count.checked_sub(FREE_FAILURES)?;
    let factor = 1u64.checked_shl(over.min(63)).unwrap_or(u64::MAX);
    Some(
        FIRST_DELAY
            .checked_mul(factor.min(u32::MAX as u64) as u32)
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY),
    )
}

impl LoginThrottle {
    pub fn new(clock: Clock) -> LoginThrottle {
        LoginThrottle {
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while the user or the address must wait before the next attempt.
    pub fn check(&self, user: &str, address: &str) -> Result<(), Duration> {
        let now = (self.clock)();
        let table = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys(user, address)
            .iter()
            .filter_map(|key| table.get(key)?.blocked_until)
            .filter_map(|until| (until - now).to_std().ok())
            .filter(|wait| !wait.is_zero())
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn failed(&self, user: &str, address: &str) {
        let now = (self.clock)();
        let mut table = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if table.len() > TABLE_SIZE_BEFORE_PRUNING {
            table.retain(|_, f| now - f.last < FORGET_AFTER);
        }
        for key in keys(user, address) {
            let entry = table.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
            entry.blocked_until = delay_after(entry.count)
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now + d);
        }
    }

    pub fn succeeded(&self, user: &str, address: &str) {
        let mut table = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys(user, address) {
            table.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;

    fn fake_clock() -> (Clock, Arc<Mutex<DateTime<Utc>>>) {
        let now = Arc::new(Mutex::new(Utc.timestamp_opt(1_800_000_000, 0).unwrap()));
        let shared = now.clone();
        (Arc::new(move || *shared.lock().unwrap()), now)
    }

    #[test]
    fn delays_start_after_three_failures_double_cap_and_reset() {
        let (clock, now) = fake_clock();
        let throttle = LoginThrottle::new(clock);
        for _ in 0..3 {
            assert_eq!(throttle.check("alice", "10.0.0.1"), Ok(()));
            throttle.failed("alice", "10.0.0.1");
        }
        assert_eq!(throttle.check("alice", "10.0.0.1"), Err(FIRST_DELAY));
        // The same user from elsewhere, and others from the same address, wait too.
        assert_eq!(throttle.check("alice", "10.0.0.2"), Err(FIRST_DELAY));
        assert_eq!(throttle.check("bob", "10.0.0.1"), Err(FIRST_DELAY));
        assert_eq!(throttle.check("bob", "10.0.0.2"), Ok(()));
        let mut expected = vec![];
        for _ in 0..12 {
            throttle.failed("alice", "10.0.0.1");
            expected.push(throttle.check("alice", "10.0.0.1").unwrap_err());
        }
        let seconds: Vec<u64> = expected.iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
        // Waiting it out allows one more attempt.
        *now.lock().unwrap() += chrono::Duration::seconds(901);
        assert_eq!(throttle.check("alice", "10.0.0.1"), Ok(()));
        throttle.succeeded("alice", "10.0.0.1");
        throttle.failed("alice", "10.0.0.1");
        assert_eq!(
            throttle.check("alice", "10.0.0.1"),
            Ok(()),
            "reset by success"
        );
    }
}

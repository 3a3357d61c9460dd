//! Sending again after a failure that may pass, a bounded number of times.
//!
//! Default: 3 attempts, pauses of 10 s then 30 s, each attempt limited to 10 s: a channel
//! that never answers is given up after at most 70 s, so a notification is never days late
//! and a broken channel costs the daemon one task for about a minute. Failures that will
//! not pass (HTTP 4xx, SMTP 5xx, an unreadable secret) are not retried.

use std::future::Future;
use std::time::Duration;

use super::clock::Clock;
use super::error::DeliveryError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// The pause after the first failure; each later pause is `factor` times the one before.
    pub first_delay: Duration,
    pub factor: u32,
    /// How long one attempt (connect, send, answer) may take.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_secs(10),
            factor: 3,
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// One attempt: `cairn notify test` shows the first answer at once instead of hiding the
    /// error behind a minute of retries.
    pub fn once() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The pause before attempt `attempt + 1` (after `attempt` failures, from 1).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        self.first_delay
            .saturating_mul(self.factor.saturating_pow(attempt.saturating_sub(1)))
    }
}

/// How a delivery went after its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted<T> {
    pub attempts: u32,
    pub result: Result<T, DeliveryError>,
}

/// Runs `attempt` until it succeeds, fails for good, or the policy's attempts are used up.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    mut attempt: F,
) -> Attempted<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DeliveryError>>,
{
    let attempts_max = policy.attempts.max(1);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = attempt().await;
        match &result {
            Err(error) if error.is_retryable() && attempts < attempts_max => {
                tracing::info!(
                    "notification not delivered (attempt {attempts} of {attempts_max}): {error}"
                );
                clock.sleep(policy.delay_after(attempts)).await;
            }
            _ => return Attempted { attempts, result },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_by_the_factor() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_after(1), Duration::from_secs(10));
        assert_eq!(policy.delay_after(2), Duration::from_secs(30));
        assert_eq!(
            policy.attempts as u64 * policy.attempt_timeout.as_secs()
                + policy.delay_after(1).as_secs()
                + policy.delay_after(2).as_secs(),
            70
        );
    }
}

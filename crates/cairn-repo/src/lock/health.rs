//! Whether a held lock still protects its holder, and what the engine does when it stops.
//!
//! A lock is honoured by other processes only while it is fresh: one older than 30 minutes is
//! stale, and another host may then remove it and prune data this process is still writing.
//! So a lock that cannot be refreshed (the store unreachable, its file removed by someone
//! else) is not held "on paper": once the last successful refresh is older than
//! [`LockTimings::lost_after`], well under the stale age, the lock is *lost* for good and
//! every later write of the operation fails (see [`super::guarded_store`]). Already written
//! packs stay (no index names them, prune removes them); nothing new is committed.
//!
//! Time is measured twice: by the monotonic clock, and by the wall clock that other hosts
//! judge staleness by (a suspended machine's monotonic clock stands still while the wall
//! clock, and so the lock's age, moves on). The larger of the two counts.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

/// How often a held lock is refreshed, and when it counts as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTimings {
    /// A fresh lock file is written this often (restic: 5 minutes).
    pub refresh_every: Duration,
    /// After a failed refresh, the next attempt comes this much sooner than `refresh_every`.
    pub retry_every: Duration,
    /// The lock is lost when its last successful refresh is older than this. Must stay well
    /// under the 30-minute stale age so that the holder stops before anyone else may treat
    /// its lock as stale.
    pub lost_after: Duration,
}

impl Default for LockTimings {
    fn default() -> LockTimings {
        LockTimings {
            refresh_every: Duration::from_secs(5 * 60),
            retry_every: Duration::from_secs(30),
            lost_after: Duration::from_secs(15 * 60),
        }
    }
}

/// The health of one held lock, shared by its refresher and every write of the operation.
#[derive(Debug)]
pub(crate) struct LockHealth {
    lost_after: Duration,
    state: Mutex<HealthState>,
}

#[derive(Debug)]
struct HealthState {
    refreshed: Instant,
    refreshed_wall: SystemTime,
    /// The last refresh failure since the last success, for the message when the lock is lost.
    last_error: Option<String>,
    /// Why the lock was lost; once set it stays set.
    lost: Option<String>,
}

impl LockHealth {
    pub(crate) fn new(lost_after: Duration) -> LockHealth {
        LockHealth {
            lost_after,
            state: Mutex::new(HealthState {
                refreshed: Instant::now(),
                refreshed_wall: SystemTime::now(),
                last_error: None,
                lost: None,
            }),
        }
    }

    /// Records a successful refresh that started at `started` (wall clock), unless the lock
    /// was already lost or went longer than the bound without one: a refresh that arrives
    /// too late cannot undo a gap during which others may have judged the lock stale.
    pub(crate) fn refreshed(&self, started: Instant, started_wall: SystemTime) {
        let mut state = self.state.lock().expect("lock health");
        if state.lost.is_some() || Self::overdue(&state, self.lost_after).is_some() {
            return;
        }
        state.refreshed = started;
        state.refreshed_wall = started_wall;
        state.last_error = None;
    }

    /// Records a failed refresh; the lock is still held until the bound passes.
    pub(crate) fn refresh_failed(&self, error: String) {
        self.state.lock().expect("lock health").last_error = Some(error);
    }

    /// Marks the lock lost with a reason (the first reason stays).
    pub(crate) fn lose(&self, reason: String) {
        let mut state = self.state.lock().expect("lock health");
        state.lost.get_or_insert(reason);
    }

    /// `None` while the lock protects its holder; otherwise why it no longer does. A lock
    /// overdue for refresh is marked lost here, so the answer never goes back to `None`.
    pub(crate) fn lost(&self) -> Option<String> {
        let mut state = self.state.lock().expect("lock health");
        if state.lost.is_none() {
            if let Some(age) = Self::overdue(&state, self.lost_after) {
                let cause = (state.last_error.as_ref())
                    .map(|e| format!(" (last attempt: {e})"))
                    .unwrap_or_default();
                state.lost = Some(format!(
                    "the repository lock was last refreshed {} ago{cause}, longer than the \
                     {} after which it is given up",
                    format_duration(age),
                    format_duration(self.lost_after)
                ));
            }
        }
        state.lost.clone()
    }

    /// How long since the last refresh, if that is longer than `bound`.
    fn overdue(state: &HealthState, bound: Duration) -> Option<Duration> {
        let monotonic = state.refreshed.elapsed();
        let wall = SystemTime::now()
            .duration_since(state.refreshed_wall)
            .unwrap_or_default();
        let age = monotonic.max(wall);
        (age > bound).then_some(age)
    }
}

/// Every lock a repository handle (and its clones) holds, for the writes to consult.
///
/// Weak references: a lock released (its guard dropped) simply stops counting.
#[derive(Debug, Default)]
pub(crate) struct HeldLocks {
    held: Mutex<Vec<Weak<LockHealth>>>,
}

impl HeldLocks {
    pub(crate) fn add(&self, health: &Arc<LockHealth>) {
        let mut held = self.held.lock().expect("held locks");
        held.retain(|h| h.strong_count() > 0);
        held.push(Arc::downgrade(health));
    }

    /// `Err(why)` when any lock this handle holds is lost.
    pub(crate) fn ensure_held(&self) -> Result<(), String> {
        let held = self.held.lock().expect("held locks");
        match held.iter().filter_map(Weak::upgrade).find_map(|h| h.lost()) {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }
}

/// `15m`, `1m30s`, `4s`, `250ms`.
pub(crate) fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => format!("{}ms", duration.as_millis()),
        1..=59 => format!("{secs}s"),
        _ if secs.is_multiple_of(60) => format!("{}m", secs / 60),
        _ => format!("{}m{}s", secs / 60, secs % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_overdue_for_refresh_is_lost_for_good() {
        let health = LockHealth::new(Duration::from_millis(50));
        assert_eq!(health.lost(), None);
        health.refresh_failed("connection refused".into());
        std::thread::sleep(Duration::from_millis(80));
        let reason = health.lost().unwrap();
        assert!(reason.contains("connection refused"), "{reason}");
        // A refresh that succeeds after the gap does not bring it back.
        health.refreshed(Instant::now(), SystemTime::now());
        assert!(health.lost().is_some());
    }

    #[test]
    fn refreshes_keep_a_lock_held() {
        let health = LockHealth::new(Duration::from_millis(100));
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(40));
            health.refreshed(Instant::now(), SystemTime::now());
            assert_eq!(health.lost(), None);
        }
    }

    #[test]
    fn a_wall_clock_jump_counts_as_time_without_refresh() {
        // A machine that slept: the monotonic clock says nothing passed, the wall clock does.
        let health = LockHealth::new(Duration::from_secs(60));
        health.state.lock().unwrap().refreshed_wall = SystemTime::now() - Duration::from_secs(3600);
        assert!(health.lost().unwrap().contains("60m ago"));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(4)), "4s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}

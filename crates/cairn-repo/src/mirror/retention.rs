//! A mirror under Object Lock: every object the mirror holds for the repository is kept by the
//! store until a retention date, so whoever holds the mirror's key (an attacker on the host)
//! can hide objects behind delete markers or newer versions but cannot remove the versions a
//! restore needs (`mirror restore --at`) before that date.
//!
//! Each upload carries `now + days`. Each sync moves the date of every object the repository
//! still uses to `now + days` once less than half of `days` remains, so a repository synced
//! at least every `days / 2` is always protected for at least half the period; objects the
//! repository no longer uses are not extended and age out (their grace deletion only puts a
//! delete marker on them).
//!
//! The dates are kept in the sidecar `cairn-mirror-retention` (JSON of `kind/name` → date)
//! because a HEAD per object on every sync costs minutes for thousands of objects; an object
//! it does not know (a mirror locked after the fact, a lost sidecar) is asked for once with a
//! HEAD. A date later than any this policy can set (`now + days`, a day of slack for clocks)
//! cannot be one cairn wrote and is asked for again, so a tampered sidecar cannot make the
//! sync skip extensions indefinitely. The sidecars themselves (`cairn-mirror-state`,
//! `cairn-mirror-retention`, `cairn-manifest`) are written without a retention: they are
//! rewritten on every change and rebuilt by the next sync, so locking each version would only
//! pile up versions nobody may delete.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use cairn_storage::{FileKind, Retention, RetentionMode, Storage};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::pending::object_key;
use crate::error::{RepoError, Result};

pub const RETENTION_NAME: &str = "cairn-mirror-retention";

/// The Object Lock a mirror keeps: mode and period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    pub mode: RetentionMode,
    /// At least 1.
    pub days: u32,
}

impl LockPolicy {
    fn period(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.days))
    }

    /// The retention an object written or extended at `now` gets.
    pub fn retention_at(&self, now: DateTime<Utc>) -> Retention {
        Retention {
            mode: self.mode,
            retain_until: now + self.period(),
        }
    }

    /// Whether an object kept until `until` (as far as is known) must be extended at `now`:
    /// unknown, or less than half the period left.
    pub fn needs_extension(&self, until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        until.is_none_or(|until| until - now < self.period() / 2)
    }

    /// Whether a recorded date can be one this policy set (not after `now + days`, with a day
    /// of slack for clocks that disagree).
    fn is_plausible(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        until <= now + self.period() + TimeDelta::days(1)
    }
}

/// The retention dates the mirror's objects were given, kept beside the mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionDates {
    pub version: u32,
    /// `kind/name` → the retain-until date of the object's current version.
    pub retain_until: BTreeMap<String, DateTime<Utc>>,
}

impl RetentionDates {
    /// The dates stored at `dest`, or none if there are none (or they cannot be read: they are
    /// a cache of what the store knows, asked for again object by object).
    pub fn load(dest: &dyn Storage) -> Result<RetentionDates> {
        match dest.get(FileKind::Sidecar, RETENTION_NAME) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    "{}/{RETENTION_NAME} is unreadable ({e}); the retention of each object is \
                     read from the store again",
                    dest.location()
                );
                RetentionDates::empty()
            })),
            Err(e) if e.is_not_found() => Ok(RetentionDates::empty()),
            Err(e) => Err(e.into()),
        }
    }

    fn empty() -> RetentionDates {
        RetentionDates {
            version: 1,
            retain_until: BTreeMap::new(),
        }
    }

    pub fn save(&self, dest: &dyn Storage) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("dates serialize");
        dest.put(FileKind::Sidecar, RETENTION_NAME, &json)?;
        Ok(())
    }

    /// The recorded date of an object, if it is one `policy` can have set.
    fn known(&self, key: &str, policy: &LockPolicy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.retain_until
            .get(key)
            .copied()
            .filter(|until| policy.is_plausible(*until, now))
    }
}

/// What keeping the retention of used objects did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionCount {
    /// Objects whose date was unknown and was read from the store.
    pub read: u64,
    /// Objects whose retention was moved to `now + days`.
    pub extended: u64,
}

/// Whether every object in `used` has a known date with at least half the period left: then
/// a sync has no retention to keep (for `nothing_to_do`).
pub fn all_protected(
    dates: &RetentionDates,
    used: &[(FileKind, String)],
    policy: &LockPolicy,
    now: DateTime<Utc>,
) -> bool {
    used.iter().all(|(kind, name)| {
        let known = dates.known(&object_key(*kind, name), policy, now);
        !policy.needs_extension(known, now)
    })
}

/// Extends the retention of every object in `used` (present at `dest`) that needs it, with
/// `workers` requests at once; records every date learnt or set in `dates`. Objects of
/// `dates` not in `used` or `uploaded` are forgotten (deleted, or no longer the repository's).
pub fn keep_retention(
    dest: &dyn Storage,
    dates: &mut RetentionDates,
    used: &[(FileKind, String)],
    policy: &LockPolicy,
    now: DateTime<Utc>,
    workers: usize,
) -> Result<ExtensionCount> {
    let keep: HashSet<String> = used
        .iter()
        .map(|(kind, name)| object_key(*kind, name))
        .collect();
    dates.retain_until.retain(|key, _| keep.contains(key));
    let todo: Vec<(FileKind, &str, Option<DateTime<Utc>>)> = used
        .iter()
        .filter_map(|(kind, name)| {
            let known = dates.known(&object_key(*kind, name), policy, now);
            policy
                .needs_extension(known, now)
                .then_some((*kind, name.as_str(), known))
        })
        .collect();
    let learnt: Mutex<Vec<(String, DateTime<Utc>)>> = Mutex::new(Vec::new());
    let read = AtomicU64::new(0);
    let extended = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<RepoError>> = Mutex::new(None);
    let next = Mutex::new(todo.iter());
    let target = policy.retention_at(now);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1).min(todo.len().max(1)) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Acquire) {
                    return;
                }
                let Some(&(kind, name, known)) = next.lock().expect("queue").next() else {
                    return;
                };
                let outcome = extend_one(dest, kind, name, known, policy, &target, now);
                match outcome {
                    Ok((until, was_read, was_extended)) => {
                        read.fetch_add(u64::from(was_read), Ordering::Relaxed);
                        extended.fetch_add(u64::from(was_extended), Ordering::Relaxed);
                        learnt
                            .lock()
                            .expect("dates")
                            .push((object_key(kind, name), until));
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Release);
                        first_error.lock().expect("error slot").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    // What was learnt is recorded even when a later object failed: it is true either way.
    for (key, until) in learnt.into_inner().expect("dates") {
        dates.retain_until.insert(key, until);
    }
    if let Some(e) = first_error.into_inner().expect("error slot") {
        return Err(e);
    }
    Ok(ExtensionCount {
        read: read.into_inner(),
        extended: extended.into_inner(),
    })
}

/// One object: its date read if unknown, extended if short. Returns the date it now has and
/// whether it was read and extended.
fn extend_one(
    dest: &dyn Storage,
    kind: FileKind,
    name: &str,
    known: Option<DateTime<Utc>>,
    policy: &LockPolicy,
    target: &Retention,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, bool, bool)> {
    let (current, was_read) = match known {
        Some(until) => (Some(until), false),
        None => (dest.retention(kind, name)?.map(|r| r.retain_until), true),
    };
    if !policy.needs_extension(current, now) {
        return Ok((current.unwrap_or(target.retain_until), was_read, false));
    }
    dest.extend_retention(kind, name, target)?;
    Ok((target.retain_until, was_read, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LockPolicy {
        LockPolicy {
            mode: RetentionMode::Governance,
            days: 30,
        }
    }

    #[test]
    fn extends_below_half_the_period_or_when_unknown() {
        let now = Utc::now();
        let policy = policy();
        assert!(policy.needs_extension(None, now));
        assert!(policy.needs_extension(Some(now + TimeDelta::days(14)), now));
        assert!(!policy.needs_extension(Some(now + TimeDelta::days(16)), now));
        assert_eq!(
            policy.retention_at(now).retain_until,
            now + TimeDelta::days(30)
        );
    }

    #[test]
    fn dates_no_sync_could_have_set_are_not_trusted() {
        let now = Utc::now();
        let policy = policy();
        let mut dates = RetentionDates::empty();
        dates
            .retain_until
            .insert("pack/a".into(), now + TimeDelta::days(20));
        dates
            .retain_until
            .insert("pack/b".into(), now + TimeDelta::days(3650));
        assert!(dates.known("pack/a", &policy, now).is_some());
        assert!(dates.known("pack/b", &policy, now).is_none());
        let used = [(FileKind::Pack, "a".to_string())];
        assert!(all_protected(&dates, &used, &policy, now));
        let used = [(FileKind::Pack, "b".to_string())];
        assert!(!all_protected(&dates, &used, &policy, now));
    }
}

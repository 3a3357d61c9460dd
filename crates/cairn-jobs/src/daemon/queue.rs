//! Which queued jobs start now: at most one job per repository at a time (the others wait in
//! order), at most `max_concurrent` in all, manual jobs before scheduled ones, and a retry not
//! before its backoff has passed.
//!
//! The repository lock enforces one writer too; the queue keeps jobs from meeting it at all.

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_state::JobRecord;
use chrono::{DateTime, Utc};

/// The jobs to start, in order, from `queued` (as [`cairn_state::StateStore::queued_jobs`]
/// orders them: manual first, then oldest), given the repositories busy with running jobs.
pub fn runnable<'q>(
    queued: &'q [JobRecord],
    busy_repositories: &BTreeSet<String>,
    running: usize,
    max_concurrent: usize,
    now: DateTime<Utc>,
) -> Vec<&'q JobRecord> {
    let mut busy = busy_repositories.clone();
    let mut free = max_concurrent.saturating_sub(running);
    let mut start = Vec::new();
    for job in queued {
        if free == 0 {
            break;
        }
        if job.not_before.is_some_and(|at| at > now) {
            continue;
        }
        let repository = job.repository.clone().unwrap_or_default();
        // A repository is taken by the first job in order that wants it; later jobs of the
        // same repository wait, even if they could start, so order is kept per repository.
        if !busy.insert(repository) {
            continue;
        }
        start.push(job);
        free -= 1;
    }
    start
}

/// The pause before retry number `attempt` (2 is the first retry): 1, 5, then 15 minutes.
pub fn retry_backoff(attempt: u32) -> Duration {
    match attempt {
        0..=2 => Duration::from_secs(60),
        3 => Duration::from_secs(5 * 60),
        _ => Duration::from_secs(15 * 60),
    }
}

#[cfg(test)]
mod tests {
    use cairn_state::{JobKind, JobState, Trigger};
    use chrono::TimeZone;

    use super::*;

    fn job(id: i64, repository: &str, trigger: Trigger, not_before: Option<i64>) -> JobRecord {
        let at = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
        JobRecord {
            id,
            kind: JobKind::Backup,
            plan: Some(format!("plan-{id}")),
            repository: Some(repository.into()),
            state: JobState::Queued,
            trigger,
            dry_run: false,
            created_at: at(id),
            started_at: None,
            finished_at: None,
            snapshot: None,
            bytes_added: None,
            error: None,
            attempt: 1,
            retry_of: None,
            not_before: not_before.map(at),
            progress: None,
            request: None,
        }
    }

    fn ids(jobs: Vec<&JobRecord>) -> Vec<i64> {
        jobs.into_iter().map(|j| j.id).collect()
    }

    #[test]
    fn one_job_per_repository_and_a_global_cap() {
        let now = Utc.timestamp_opt(1_800_000_100, 0).unwrap();
        let queued = vec![
            job(1, "a", Trigger::Manual, None),
            job(2, "a", Trigger::Manual, None),
            job(3, "b", Trigger::Schedule, None),
            job(4, "c", Trigger::Schedule, None),
        ];
        assert_eq!(ids(runnable(&queued, &BTreeSet::new(), 0, 2, now)), [1, 3]);
        assert_eq!(
            ids(runnable(&queued, &BTreeSet::new(), 0, 10, now)),
            [1, 3, 4]
        );
        let busy: BTreeSet<String> = ["b".to_string()].into();
        assert_eq!(ids(runnable(&queued, &busy, 1, 3, now)), [1, 4]);
        assert_eq!(
            ids(runnable(&queued, &BTreeSet::new(), 2, 2, now)),
            Vec::<i64>::new()
        );
    }

    #[test]
    fn a_retry_waits_out_its_backoff_without_holding_up_others() {
        let now = Utc.timestamp_opt(1_800_000_100, 0).unwrap();
        let queued = vec![
            job(1, "a", Trigger::Retry, Some(500)),
            job(2, "b", Trigger::Schedule, None),
        ];
        assert_eq!(ids(runnable(&queued, &BTreeSet::new(), 0, 2, now)), [2]);
        let later = Utc.timestamp_opt(1_800_000_600, 0).unwrap();
        assert_eq!(
            ids(runnable(&queued, &BTreeSet::new(), 0, 2, later)),
            [1, 2]
        );
        assert!(retry_backoff(2) < retry_backoff(3) && retry_backoff(3) < retry_backoff(4));
    }
}

//! What a notification is about: the event and the job, plan and repository it concerns.
//!
//! [`Event`] is also the webhook's wire format: its JSON (`version` 1) is the body receivers
//! parse, so fields are only ever added, never renamed or removed.

use std::fmt;

use cairn_config::NotifyEvent;
use cairn_state::{JobId, JobKind, JobRecord, LogLine};
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

/// The version of the webhook body; raised only if a field changes meaning.
pub const EVENT_VERSION: u32 = 1;

/// Lines of a job's log an event carries (the healthchecks failure body, the mail).
pub const LOG_TAIL_LINES: usize = 20;

/// A log line longer than this is cut (hooks may print long lines).
const LOG_LINE_CHARS_MAX: usize = 400;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventName {
    /// One of the events `[[notify]] on` chooses from.
    Notify(NotifyEvent),
    /// A job started: only healthchecks channels hear it (their `/start` ping).
    Started,
    /// `cairn notify test`: sent to the one channel named, whatever its `on`.
    Test,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Notify(event) => event.as_str(),
            EventName::Started => "start",
            EventName::Test => "test",
        }
    }

    /// Whether someone must act (a failure, a stale backup, a failed drill).
    pub fn is_alarm(self) -> bool {
        matches!(
            self,
            EventName::Notify(
                NotifyEvent::Failure
                    | NotifyEvent::Stale
                    | NotifyEvent::DrillFailed
                    | NotifyEvent::OffsiteStale
            )
        )
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl From<NotifyEvent> for EventName {
    fn from(event: NotifyEvent) -> EventName {
        EventName::Notify(event)
    }
}

/// One notification's content, the same for every channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// [`EVENT_VERSION`].
    pub version: u32,
    pub event: EventName,
    /// The host cairn runs on (several hosts may notify one channel).
    pub host: String,
    /// When the event was raised.
    pub at: DateTime<Utc>,
    pub plan: Option<String>,
    pub repository: Option<String>,
    pub job: Option<JobId>,
    pub job_kind: Option<JobKind>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// The snapshot a backup wrote.
    pub snapshot: Option<String>,
    pub bytes_added: Option<u64>,
    /// The job's last log lines (`source: line`), oldest first; empty when not useful.
    pub log_tail: Vec<String>,
}

impl Event {
    /// An event about no job in particular (`stale`, `offsite_stale`); set `plan` and
    /// `repository` as they apply.
    pub fn new(event: impl Into<EventName>, at: DateTime<Utc>) -> Event {
        Event {
            version: EVENT_VERSION,
            event: event.into(),
            host: cairn_repo::system::hostname(),
            at,
            plan: None,
            repository: None,
            job: None,
            job_kind: None,
            started_at: None,
            finished_at: None,
            error: None,
            snapshot: None,
            bytes_added: None,
            log_tail: Vec::new(),
        }
    }

    /// An event about `job`, with the tail of its `log` when the job failed (the log of a
    /// success says nothing anyone must read).
    pub fn for_job(
        event: impl Into<EventName>,
        job: &JobRecord,
        log: &[LogLine],
        at: DateTime<Utc>,
    ) -> Event {
        let event = event.into();
        let with_log = event.is_alarm() || job.error.is_some();
        Event {
            plan: job.plan.clone(),
            repository: job.repository.clone(),
            job: Some(job.id),
            job_kind: Some(job.kind),
            started_at: job.started_at,
            finished_at: job.finished_at,
            error: job.error.clone(),
            snapshot: job.snapshot.clone(),
            bytes_added: job.bytes_added,
            log_tail: if with_log { log_tail(log) } else { Vec::new() },
            ..Event::new(event, at)
        }
    }

    /// The event `cairn notify test` sends.
    pub fn test(at: DateTime<Utc>) -> Event {
        Event::new(EventName::Test, at)
    }
}

/// The last [`LOG_TAIL_LINES`] lines of `log`, each `source: line`, long lines cut.
pub fn log_tail(log: &[LogLine]) -> Vec<String> {
    let start = log.len().saturating_sub(LOG_TAIL_LINES);
    log[start..]
        .iter()
        .map(|line| {
            let text = format!("{}: {}", line.source, line.line);
            match text.char_indices().nth(LOG_LINE_CHARS_MAX) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use cairn_state::{JobState, Trigger};
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_failed_job_carries_its_log_tail_and_serialises_with_the_event_name() {
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let job = JobRecord {
            id: 12,
            kind: JobKind::Backup,
            plan: Some("web".into()),
            repository: Some("main".into()),
            state: JobState::Failed,
            trigger: Trigger::Schedule,
            dry_run: false,
            created_at: at,
            started_at: Some(at),
            finished_at: Some(at),
            snapshot: None,
            bytes_added: None,
            error: Some("backup: /srv is missing".into()),
            attempt: 1,
            retry_of: None,
            not_before: None,
            progress: None,
            request: None,
        };
        let log: Vec<LogLine> = (0..30)
            .map(|i| LogLine {
                seq: i,
                at,
                source: "cairn".into(),
                line: if i == 29 {
                    "x".repeat(1000)
                } else {
                    format!("line {i}")
                },
            })
            .collect();
        let event = Event::for_job(NotifyEvent::Failure, &job, &log, at);
        assert_eq!(event.log_tail.len(), LOG_TAIL_LINES);
        assert_eq!(event.log_tail[0], "cairn: line 10");
        assert_eq!(
            event.log_tail[LOG_TAIL_LINES - 1].chars().count(),
            LOG_LINE_CHARS_MAX + 1
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "failure");
        assert_eq!(json["version"], 1);
        assert_eq!(json["job"], 12);
        assert_eq!(json["job_kind"], "backup");
        assert_eq!(json["error"], "backup: /srv is missing");

        let success = Event::for_job(
            NotifyEvent::Success,
            &JobRecord { error: None, ..job },
            &log,
            at,
        );
        assert!(success.log_tail.is_empty());
    }
}

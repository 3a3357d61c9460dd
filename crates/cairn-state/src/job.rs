//! The job model: one set of types for a plan run, a prune, a mirror, a drill, a remote command,
//! whoever started it (`cairn run`, the scheduler, the web UI, a peer).
//!
//! A job has a kind, a state, a trigger and times; its steps record the chain a plan run goes
//! through (hooks, dumps, backup, forget, prune, check, mirror), and its log lines what was said
//! along the way (cairn's own lines and the hooks' output).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::StateError;

pub type JobId = i64;

/// Declares an enum stored as (and serialised to) its lower-case name.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StateError;

            fn from_str(text: &str) -> Result<$name, StateError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(StateError::BadValue {
                        column: stringify!($name),
                        value: other.to_string(),
                    }),
                }
            }
        }
    };
}

named_enum! {
    /// What a job does.
    JobKind {
        /// A plan's whole chain (hooks, dumps, backup, retention, check, offsite).
        Backup => "backup",
        Forget => "forget",
        Prune => "prune",
        Check => "check",
        Mirror => "mirror",
        /// An offsite mirror compared with its repository (a sample read back).
        MirrorVerify => "mirror-verify",
        /// A repository restored from its offsite mirror (in place, or as a copy).
        MirrorRestore => "mirror-restore",
        Restore => "restore",
        RestoreDb => "restore-db",
        Drill => "drill",
        /// The server's own state archived to its `[server_backup]` destination.
        ServerBackup => "server-backup",
    }
}

named_enum! {
    /// Where a job is in its life.
    JobState {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
        /// Found running when the process that ran it was gone (a crash, a kill).
        Interrupted => "interrupted",
    }
}

impl JobState {
    /// Whether the job has ended (it will not change again).
    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

named_enum! {
    /// Who started a job.
    Trigger {
        Schedule => "schedule",
        Manual => "manual",
        Retry => "retry",
        CatchUp => "catch-up",
    }
}

named_enum! {
    /// How a step of a job went.
    StepState {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// Not needed this time (a check not yet due, a prune after a forget that removed
        /// nothing) or not reached (a step after a failure).
        Skipped => "skipped",
    }
}

/// What a caller knows when it creates a job.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    pub plan: Option<String>,
    pub repository: Option<String>,
    pub trigger: Trigger,
    pub dry_run: bool,
    pub created_at: DateTime<Utc>,
    /// 1 for a first try; a retry counts on.
    pub attempt: u32,
    /// The job this one tries again.
    pub retry_of: Option<JobId>,
    /// A queued job waits until then (a retry's backoff).
    pub not_before: Option<DateTime<Utc>>,
    /// What the job was asked to do beyond its kind, plan and repository (a restore's
    /// snapshot, path, target and patterns), as the job kind's runner reads it.
    pub request: Option<serde_json::Value>,
}

impl NewJob {
    /// A first try of `kind` for `plan`, created now.
    pub fn first(
        kind: JobKind,
        plan: Option<String>,
        repository: Option<String>,
        trigger: Trigger,
        created_at: DateTime<Utc>,
    ) -> NewJob {
        NewJob {
            kind,
            plan,
            repository,
            trigger,
            dry_run: false,
            created_at,
            attempt: 1,
            retry_of: None,
            not_before: None,
            request: None,
        }
    }
}

/// A job as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: JobKind,
    pub plan: Option<String>,
    pub repository: Option<String>,
    pub state: JobState,
    pub trigger: Trigger,
    pub dry_run: bool,
    #[serde(rename = "created")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "started")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(rename = "finished")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The snapshot a backup wrote.
    pub snapshot: Option<String>,
    /// Bytes a backup added to the repository (after deduplication and compression).
    pub bytes_added: Option<u64>,
    pub error: Option<String>,
    pub attempt: u32,
    pub retry_of: Option<JobId>,
    pub not_before: Option<DateTime<Utc>>,
    /// The latest progress the job reported (a JSON object), while it runs and after.
    pub progress: Option<serde_json::Value>,
    /// What the job was asked to do ([`NewJob::request`]).
    pub request: Option<serde_json::Value>,
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub job: JobId,
    /// Position in the job, from 0.
    pub seq: u32,
    /// `before_backup`, `dump postgresql app`, `backup`, `forget`, ...
    pub name: String,
    pub state: StepState,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the step did, for people (`removed 3 snapshots`, `not due until ...`).
    pub detail: Option<String>,
    pub error: Option<String>,
}

/// One line of a job's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// Position in the job's log, from 0.
    pub seq: u32,
    pub at: DateTime<Utc>,
    /// `cairn`, or the step whose command printed it (`hook before_backup`).
    pub source: String,
    pub line: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in JobKind::ALL {
            assert_eq!(kind.as_str().parse::<JobKind>().unwrap(), *kind);
        }
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().unwrap(), *state);
        }
        for trigger in Trigger::ALL {
            assert_eq!(trigger.as_str().parse::<Trigger>().unwrap(), *trigger);
        }
        assert_eq!(
            serde_json::to_string(&JobKind::RestoreDb).unwrap(),
            "\"restore-db\""
        );
        assert!("sometimes".parse::<JobState>().is_err());
    }
}

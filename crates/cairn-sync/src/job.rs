//! The job record as it travels: the fields `cairn jobs --json` prints (same names), which the
//! state crate maps its `JobRecord` to and from. Kinds, states and triggers travel as their
//! text so that a newer client's new kind does not make an older server refuse the batch.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::permission::job_resource;

/// A job's id on the client that ran it (unique per client incarnation).
pub type JobId = i64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    pub id: JobId,
    /// `backup`, `forget`, `prune`, `check`, `mirror`, `restore`, ...
    pub kind: String,
    pub plan: Option<String>,
    pub repository: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, `interrupted`.
    pub state: String,
    /// `schedule`, `manual`, `retry`, `catch-up`.
    pub trigger: String,
    pub dry_run: bool,
    pub created: DateTime<Utc>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// The snapshot a backup wrote.
    pub snapshot: Option<String>,
    /// Bytes a backup added to the repository.
    pub bytes_added: Option<u64>,
    pub error: Option<String>,
    pub attempt: u32,
}

/// One numbered change of the client's job records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobChange {
    /// The client's `change_seq`: strictly increasing per incarnation, never reused.
    pub seq: u64,
    pub job_id: JobId,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// The record as it is now (inserted or updated).
    Upsert(SyncJob),
    /// The record was deleted. Plan and repository stay so scopes can be checked.
    Tombstone {
        plan: Option<String>,
        repository: Option<String>,
    },
}

impl JobChange {
    pub fn plan(&self) -> Option<&str> {
        match &self.kind {
            ChangeKind::Upsert(job) => job.plan.as_deref(),
            ChangeKind::Tombstone { plan, .. } => plan.as_deref(),
        }
    }

    pub fn repository(&self) -> Option<&str> {
        match &self.kind {
            ChangeKind::Upsert(job) => job.repository.as_deref(),
            ChangeKind::Tombstone { repository, .. } => repository.as_deref(),
        }
    }

    /// What scopes judge this change by.
    pub fn resource(&self) -> cairn_access::Resource<'_> {
        job_resource(self.plan(), self.repository())
    }
}

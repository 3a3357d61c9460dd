//! The client's half: which changes to send, and when.

use std::collections::{BTreeMap, VecDeque};

use cairn_access::Resource;

use super::{ChangeLog, Incarnation};
use crate::error::StoreError;
use crate::job::{ChangeKind, JobChange, JobId, SyncJob};
use crate::message::Message;
use crate::permission::{PeerGrant, PeerPermission};

/// Limits of the client's sending.
#[derive(Debug, Clone, Copy)]
pub struct SendLimits {
    /// Changes per `OpsBatch` (a job record is ~150 bytes; 200 stay well inside a frame).
    pub batch_changes_max: usize,
    /// Batches sent and not yet acknowledged.
    pub batches_in_flight_max: usize,
    /// Without an ack for this long, unacknowledged batches are sent again from the last ack.
    pub resend_after_ms: u64,
}

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits {
            batch_changes_max: 200,
            batches_in_flight_max: 4,
            resend_after_ms: 60_000,
        }
    }
}

/// The client's reconciliation state for one session.
#[derive(Debug)]
pub struct ClientSync {
    incarnation: Incarnation,
    limits: SendLimits,
    /// Set once the server said what it has (`OpsSince`): until then nothing is sent.
    streaming: bool,
    /// The server's high-water mark as last acknowledged.
    acked: u64,
    /// Every change up to here was sent in this session (or acknowledged).
    sent_upto: u64,
    /// `upto` of each batch sent and not yet acknowledged, oldest first.
    in_flight: VecDeque<u64>,
    last_progress_ms: u64,
    /// Changes sent in this session (for tests and metrics).
    pub changes_sent: u64,
}

impl ClientSync {
    pub fn new(incarnation: Incarnation, limits: SendLimits) -> ClientSync {
        ClientSync {
            incarnation,
            limits,
            streaming: false,
            acked: 0,
            sent_upto: 0,
            in_flight: VecDeque::new(),
            last_progress_ms: 0,
            changes_sent: 0,
        }
    }

    pub fn incarnation(&self) -> &Incarnation {
        &self.incarnation
    }

    /// The server's high-water mark as last acknowledged.
    pub fn acknowledged(&self) -> u64 {
        self.acked
    }

    /// `OpsSince`: start (or restart) sending from the server's high-water mark.
    pub fn on_ops_since(
        &mut self,
        high_water: u64,
        now_ms: u64,
        log: &dyn ChangeLog,
        grant: &PeerGrant,
    ) -> Result<Vec<Message>, StoreError> {
        self.streaming = true;
        self.acked = high_water;
        self.sent_upto = high_water;
        self.in_flight.clear();
        self.last_progress_ms = now_ms;
        self.pump(log, grant)
    }

    /// `OpsAck`: the server holds everything up to `upto`.
    pub fn on_ops_ack(
        &mut self,
        upto: u64,
        now_ms: u64,
        log: &dyn ChangeLog,
        grant: &PeerGrant,
    ) -> Result<Vec<Message>, StoreError> {
        if upto > self.acked {
            self.acked = upto;
            self.last_progress_ms = now_ms;
        }
        self.sent_upto = self.sent_upto.max(self.acked);
        while self
            .in_flight
            .front()
            .is_some_and(|&sent| sent <= self.acked)
        {
            self.in_flight.pop_front();
        }
        self.pump(log, grant)
    }

    /// The log has new changes: send them if the window allows.
    pub fn on_local_change(
        &mut self,
        log: &dyn ChangeLog,
        grant: &PeerGrant,
    ) -> Result<Vec<Message>, StoreError> {
        self.pump(log, grant)
    }

    /// Time passes: batches unacknowledged for too long are sent again from the last ack.
    pub fn on_tick(
        &mut self,
        now_ms: u64,
        log: &dyn ChangeLog,
        grant: &PeerGrant,
    ) -> Result<Vec<Message>, StoreError> {
        let stalled = now_ms.saturating_sub(self.last_progress_ms) >= self.limits.resend_after_ms;
        if self.streaming && !self.in_flight.is_empty() && stalled {
            self.sent_upto = self.acked;
            self.in_flight.clear();
            self.last_progress_ms = now_ms;
        }
        self.pump(log, grant)
    }

    fn pump(&mut self, log: &dyn ChangeLog, grant: &PeerGrant) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::new();
        if !self.streaming {
            return Ok(out);
        }
        while self.in_flight.len() < self.limits.batches_in_flight_max {
            let batch = log.changes_after(self.sent_upto, self.limits.batch_changes_max)?;
            let Some(upto) = batch.last().map(|c| c.seq) else {
                break;
            };
            // Changes outside the grant are never sent; `upto` still passes them, so the
            // server's high water moves on and they are not asked for again.
            let changes: Vec<JobChange> = batch
                .into_iter()
                .filter(|c| grant.allows(PeerPermission::OpsRead, c.resource()))
                .collect();
            self.changes_sent += changes.len() as u64;
            out.push(Message::OpsBatch {
                incarnation: self.incarnation.clone(),
                after: self.sent_upto,
                changes,
                upto,
            });
            self.in_flight.push_back(upto);
            self.sent_upto = upto;
        }
        Ok(out)
    }
}

/// An in-memory [`ChangeLog`]: the reference the state crate's table must match.
#[derive(Debug, Clone)]
pub struct MemoryChangeLog {
    incarnation: Incarnation,
    last_seq: u64,
    by_seq: BTreeMap<u64, JobId>,
    by_job: BTreeMap<JobId, (u64, ChangeKind)>,
}

impl MemoryChangeLog {
    pub fn new(incarnation: Incarnation) -> MemoryChangeLog {
        MemoryChangeLog {
            incarnation,
            last_seq: 0,
            by_seq: BTreeMap::new(),
            by_job: BTreeMap::new(),
        }
    }

    fn record(&mut self, job_id: JobId, kind: ChangeKind) -> u64 {
        self.last_seq += 1;
        if let Some((old_seq, _)) = self.by_job.insert(job_id, (self.last_seq, kind)) {
            self.by_seq.remove(&old_seq);
        }
        self.by_seq.insert(self.last_seq, job_id);
        self.last_seq
    }

    /// Records an inserted or updated job; returns its change seq.
    pub fn upsert(&mut self, job: SyncJob) -> u64 {
        self.record(job.id, ChangeKind::Upsert(job))
    }

    /// Records a deletion as a tombstone; `None` when there is no live record.
    pub fn delete(&mut self, job_id: JobId) -> Option<u64> {
        let (plan, repository) = match self.by_job.get(&job_id) {
            Some((_, ChangeKind::Upsert(job))) => (job.plan.clone(), job.repository.clone()),
            _ => return None,
        };
        Some(self.record(job_id, ChangeKind::Tombstone { plan, repository }))
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Starts numbering as a restored, older copy of this log would (tests).
    pub fn rewind_to(&mut self, last_seq: u64) {
        self.last_seq = self.last_seq.min(last_seq);
        let dropped: Vec<u64> = self.by_seq.range(last_seq + 1..).map(|(s, _)| *s).collect();
        for seq in dropped {
            if let Some(job_id) = self.by_seq.remove(&seq) {
                self.by_job.remove(&job_id);
            }
        }
    }

    /// The live records (tombstones left out).
    pub fn live_records(&self) -> BTreeMap<JobId, SyncJob> {
        self.by_job
            .iter()
            .filter_map(|(id, (_, kind))| match kind {
                ChangeKind::Upsert(job) => Some((*id, job.clone())),
                ChangeKind::Tombstone { .. } => None,
            })
            .collect()
    }

    /// Live records the grant lets the server see.
    pub fn live_records_within(&self, grant: &PeerGrant) -> BTreeMap<JobId, SyncJob> {
        self.live_records()
            .into_iter()
            .filter(|(_, job)| {
                let resource: Resource<'_> =
                    crate::permission::job_resource(job.plan.as_deref(), job.repository.as_deref());
                grant.allows(PeerPermission::OpsRead, resource)
            })
            .collect()
    }
}

impl ChangeLog for MemoryChangeLog {
    fn incarnation(&self) -> Incarnation {
        self.incarnation.clone()
    }

    fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<JobChange>, StoreError> {
        Ok(self
            .by_seq
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(&seq, job_id)| JobChange {
                seq,
                job_id: *job_id,
                kind: self.by_job[job_id].1.clone(),
            })
            .collect())
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        Ok(self.last_seq)
    }
}

//! The server's half: the high-water mark per (peer, incarnation) and the idempotent apply.

use std::collections::BTreeMap;

use super::{Incarnation, ReplicaStore};
use crate::error::StoreError;
use crate::identity::InstanceId;
use crate::job::{ChangeKind, JobChange, JobId, SyncJob};
use crate::message::Message;

/// A job in a replica: its latest seq, and the record (`None`: a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaEntry {
    pub seq: u64,
    pub job: Option<SyncJob>,
}

/// The one apply rule: a change replaces what the replica holds only when its seq is above
/// the held one's. Returns the new entry, or `None` when the change is old news (a
/// duplicate, or overtaken by a later change already applied). A tombstone keeps its seq, so
/// an older update delivered late cannot bring the record back.
pub fn apply_rule(existing: Option<&ReplicaEntry>, change: &JobChange) -> Option<ReplicaEntry> {
    if existing.is_some_and(|entry| entry.seq >= change.seq) {
        return None;
    }
    Some(ReplicaEntry {
        seq: change.seq,
        job: match &change.kind {
            ChangeKind::Upsert(job) => Some(job.clone()),
            ChangeKind::Tombstone { .. } => None,
        },
    })
}

/// The server's reconciliation state for one session.
#[derive(Debug)]
pub struct ServerSync {
    peer: InstanceId,
    incarnation: Incarnation,
    high_water: u64,
    /// The high water an `OpsSince` was last sent for after a gap, so a run of batches after
    /// one lost batch asks once, not once per batch.
    resync_sent_at: Option<u64>,
    /// Batches applied in this session (for tests and metrics).
    pub batches_applied: u64,
}

impl ServerSync {
    /// Starts reconciliation for the client's incarnation: returns the `OpsSince` to send.
    pub fn start(
        peer: InstanceId,
        incarnation: Incarnation,
        replica: &dyn ReplicaStore,
    ) -> Result<(ServerSync, Message), StoreError> {
        let high_water = replica.high_water(&peer, &incarnation)?;
        let message = Message::OpsSince {
            incarnation: incarnation.clone(),
            high_water,
        };
        Ok((
            ServerSync {
                peer,
                incarnation,
                high_water,
                resync_sent_at: None,
                batches_applied: 0,
            },
            message,
        ))
    }

    pub fn incarnation(&self) -> &Incarnation {
        &self.incarnation
    }

    pub fn high_water(&self) -> u64 {
        self.high_water
    }

    /// An `OpsBatch` whose changes the caller already checked against the grant. Returns the
    /// answer: `OpsAck` after applying, `OpsSince` after a gap (once per gap), or nothing.
    pub fn on_batch(
        &mut self,
        after: u64,
        changes: &[JobChange],
        upto: u64,
        replica: &mut dyn ReplicaStore,
    ) -> Result<Option<Message>, StoreError> {
        if after > self.high_water {
            // A batch before this one never arrived: applying this one and raising the high
            // water would skip those changes for good.
            if self.resync_sent_at == Some(self.high_water) {
                return Ok(None);
            }
            self.resync_sent_at = Some(self.high_water);
            return Ok(Some(Message::OpsSince {
                incarnation: self.incarnation.clone(),
                high_water: self.high_water,
            }));
        }
        self.high_water = replica.apply_batch(&self.peer, &self.incarnation, changes, upto)?;
        self.batches_applied += 1;
        self.resync_sent_at = None;
        Ok(Some(Message::OpsAck {
            incarnation: self.incarnation.clone(),
            upto: self.high_water,
        }))
    }
}

/// One replica: a client incarnation's job records as the server holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    pub high_water: u64,
    pub entries: BTreeMap<JobId, ReplicaEntry>,
}

impl Replica {
    /// The live records (tombstones left out).
    pub fn live_records(&self) -> BTreeMap<JobId, SyncJob> {
        self.entries
            .iter()
            .filter_map(|(id, entry)| entry.job.clone().map(|job| (*id, job)))
            .collect()
    }
}

/// An in-memory [`ReplicaStore`]: the reference the state crate's tables must match.
#[derive(Debug, Clone, Default)]
pub struct MemoryReplica {
    pub replicas: BTreeMap<(InstanceId, Incarnation), Replica>,
}

impl MemoryReplica {
    pub fn replica(&self, peer: &InstanceId, incarnation: &Incarnation) -> Option<&Replica> {
        self.replicas.get(&(peer.clone(), incarnation.clone()))
    }
}

impl ReplicaStore for MemoryReplica {
    fn high_water(&self, peer: &InstanceId, incarnation: &Incarnation) -> Result<u64, StoreError> {
        Ok(self
            .replica(peer, incarnation)
            .map_or(0, |replica| replica.high_water))
    }

    fn apply_batch(
        &mut self,
        peer: &InstanceId,
        incarnation: &Incarnation,
        changes: &[JobChange],
        upto: u64,
    ) -> Result<u64, StoreError> {
        let replica = self
            .replicas
            .entry((peer.clone(), incarnation.clone()))
            .or_default();
        for change in changes {
            if let Some(entry) = apply_rule(replica.entries.get(&change.job_id), change) {
                replica.entries.insert(change.job_id, entry);
            }
        }
        replica.high_water = replica.high_water.max(upto);
        Ok(replica.high_water)
    }
}

//! Reconciliation of operation history: the client's job records flow to the server,
//! incrementally, idempotently, O(changes) per connection.
//!
//! - The client numbers every change of its job records (insert, update, delete) with a
//!   `change_seq`, strictly increasing within its [`Incarnation`]. Its [`ChangeLog`] holds the
//!   latest change per job (a job changed twice is listed once, with the later seq); a
//!   deletion stays as a tombstone.
//! - The server keeps, per (peer, incarnation), a replica and a high-water mark: every change
//!   with seq <= high water is in the replica ([`ReplicaStore`]).
//! - On connect the server sends `OpsSince {incarnation, high_water}`; the client sends its
//!   changes with seq > high water in batches (`OpsBatch {after, changes, upto}`, a few in
//!   flight); the server applies a batch only when `after <= high water` (else there is a
//!   gap: it answers `OpsSince` again), upserts by job id ignoring any change whose seq is not
//!   above the record's, raises the high water to `upto` and answers `OpsAck`.
//! - A wiped client starts a new incarnation: the server starts a new replica at 0 and keeps
//!   the old one. A client whose state went back in time (restored from an older copy) sees
//!   a high-water mark above its last seq: its numbers would be reused for other changes, so
//!   it must start a new incarnation too ([`crate::SessionEvent::IncarnationBehind`]).
//!
//! [`ClientSync`] and [`ServerSync`] are the two state machines; the session drives them.

mod client;
mod server;

use std::fmt;
use std::sync::{Arc, Mutex};

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

pub use client::{ClientSync, MemoryChangeLog, SendLimits};
pub use server::{apply_rule, MemoryReplica, ReplicaEntry, ServerSync};

use crate::error::StoreError;
use crate::identity::{base32_lower, InstanceId};
use crate::job::JobChange;

/// The random id of a client's state directory: 26 base32 characters (128 bits), made once
/// when the state directory is created.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Incarnation(String);

impl Incarnation {
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Incarnation {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Incarnation(base32_lower(&bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Incarnation {
    type Error = crate::SyncError;

    fn try_from(text: String) -> Result<Incarnation, crate::SyncError> {
        let valid = text.len() == 26
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        if valid {
            Ok(Incarnation(text))
        } else {
            Err(crate::SyncError::protocol(format!(
                "{text:?} is not an incarnation id (26 base32 characters)"
            )))
        }
    }
}

impl From<Incarnation> for String {
    fn from(incarnation: Incarnation) -> String {
        incarnation.0
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The client's persistent change log (the state database implements it).
pub trait ChangeLog {
    fn incarnation(&self) -> Incarnation;

    /// Changes with `seq > after`, in seq order, at most `limit`; each job at most once
    /// (its latest change).
    fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<JobChange>, StoreError>;

    /// The highest change seq ever given out in this incarnation (0 if none).
    fn last_seq(&self) -> Result<u64, StoreError>;
}

/// The server's persistent replicas (the state database implements it).
pub trait ReplicaStore {
    /// The high-water mark of (peer, incarnation); 0 for one never seen.
    fn high_water(&self, peer: &InstanceId, incarnation: &Incarnation) -> Result<u64, StoreError>;

    /// In one transaction: apply every change by [`apply_rule`] and set the high-water mark
    /// to `max(high water, upto)`. Returns the new high-water mark.
    fn apply_batch(
        &mut self,
        peer: &InstanceId,
        incarnation: &Incarnation,
        changes: &[JobChange],
        upto: u64,
    ) -> Result<u64, StoreError>;
}

/// Shared handles work as stores, so a caller can keep changing the log while a session
/// reads it (the tests do; the state crate may use its own handle type instead).
impl<T: ChangeLog> ChangeLog for Arc<Mutex<T>> {
    fn incarnation(&self) -> Incarnation {
        self.lock().expect("change log lock").incarnation()
    }

    fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<JobChange>, StoreError> {
        self.lock()
            .expect("change log lock")
            .changes_after(after, limit)
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        self.lock().expect("change log lock").last_seq()
    }
}

impl<T: ReplicaStore> ReplicaStore for Arc<Mutex<T>> {
    fn high_water(&self, peer: &InstanceId, incarnation: &Incarnation) -> Result<u64, StoreError> {
        self.lock()
            .expect("replica lock")
            .high_water(peer, incarnation)
    }

    fn apply_batch(
        &mut self,
        peer: &InstanceId,
        incarnation: &Incarnation,
        changes: &[JobChange],
        upto: u64,
    ) -> Result<u64, StoreError> {
        self.lock()
            .expect("replica lock")
            .apply_batch(peer, incarnation, changes, upto)
    }
}

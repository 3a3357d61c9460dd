//! The sync crate's persistence traits on the state database: [`StatePairings`] (a server's
//! tokens and peers), [`StateChangeLog`] (a client's change log), [`StateReplicas`] (a
//! server's replicas). They live here because `cairn-state` sits below `cairn-sync`; the
//! tables and their transactions are the state crate's.

use std::sync::Arc;

use cairn_access::Scopes;
use cairn_state::{
    JobRecord, NewPeer, PeerRole, RedeemRefusal, ReplicaChange, StateStore, StoredPeer,
};
use cairn_sync::job::{ChangeKind, JobChange, SyncJob};
use cairn_sync::{
    ChangeLog, Incarnation, InstanceId, KnownPeer, PairingAuthority, PairingClaim, PairingRefusal,
    PeerGrant, ReplicaStore, StoreError,
};
use chrono::{DateTime, Utc};

fn store_error(error: impl std::fmt::Display) -> StoreError {
    StoreError(error.to_string())
}

/// A grant as the `peers` and `pairing_tokens` tables hold it: permission names joined by
/// commas, scopes as a JSON list.
pub fn grant_columns(grant: &PeerGrant) -> (String, String) {
    let permissions: Vec<&str> = grant.permissions.iter().map(|p| p.as_str()).collect();
    let scopes = serde_json::to_string(&grant.scopes).expect("scopes serialize");
    (permissions.join(","), scopes)
}

pub fn grant_from_columns(permissions: &str, scopes: &str) -> Result<PeerGrant, StoreError> {
    let permissions = PeerGrant::parse_permissions(permissions).map_err(store_error)?;
    let scopes: Scopes = serde_json::from_str(scopes).map_err(store_error)?;
    Ok(PeerGrant::new(permissions, scopes))
}

/// A stored peer's grant.
pub fn peer_grant(peer: &StoredPeer) -> Result<PeerGrant, StoreError> {
    grant_from_columns(&peer.permissions, &peer.scopes)
}

/// A job record as it travels (the fields of `cairn jobs --json`).
pub fn sync_job(record: &JobRecord) -> SyncJob {
    SyncJob {
        id: record.id,
        kind: record.kind.as_str().to_string(),
        plan: record.plan.clone(),
        repository: record.repository.clone(),
        state: record.state.as_str().to_string(),
        trigger: record.trigger.as_str().to_string(),
        dry_run: record.dry_run,
        created: record.created_at,
        started: record.started_at,
        finished: record.finished_at,
        snapshot: record.snapshot.clone(),
        bytes_added: record.bytes_added,
        error: record.error.clone(),
        attempt: record.attempt,
    }
}

/// A server's pairing state (a newly paired peer is named by its token's label).
pub struct StatePairings {
    pub state: Arc<StateStore>,
}

impl PairingAuthority for StatePairings {
    fn known_peer(&mut self, peer: &InstanceId) -> Result<Option<KnownPeer>, StoreError> {
        let Some(stored) = self.state.peer(peer.as_str()).map_err(store_error)? else {
            return Ok(None);
        };
        if stored.role != PeerRole::Client {
            return Ok(None);
        }
        if stored.revoked_at.is_some() {
            return Ok(Some(KnownPeer::Revoked));
        }
        Ok(Some(KnownPeer::Active(peer_grant(&stored)?)))
    }

    fn redeem(
        &mut self,
        peer: &InstanceId,
        claim: &PairingClaim,
        now: DateTime<Utc>,
    ) -> Result<Result<PeerGrant, PairingRefusal>, StoreError> {
        let new_peer = NewPeer {
            id: peer.as_str(),
            label: "",
            permissions: "",
            scopes: "[]",
            role: PeerRole::Client,
            urls: None,
            fingerprint: None,
            token: None,
            paired_at: now,
        };
        let redeemed = self
            .state
            .redeem_pairing_token(claim.token_id.as_str(), &new_peer, now, |stored| {
                let Ok(hash) = <[u8; 32]>::try_from(stored) else {
                    return false;
                };
                claim.verify(&cairn_sync::token::SecretHash(hash))
            })
            .map_err(store_error)?;
        Ok(match redeemed {
            Ok(token) => Ok(grant_from_columns(&token.permissions, &token.scopes)?),
            Err(RedeemRefusal::Unknown) => Err(PairingRefusal::UnknownToken),
            Err(RedeemRefusal::WrongSecret) => Err(PairingRefusal::ProofMismatch),
            Err(RedeemRefusal::Revoked) => Err(PairingRefusal::Revoked),
            Err(RedeemRefusal::Expired) => Err(PairingRefusal::Expired),
            Err(RedeemRefusal::UsedUp) => Err(PairingRefusal::UsedUp),
        })
    }
}

/// A client's change log, in its incarnation.
pub struct StateChangeLog {
    pub state: Arc<StateStore>,
    pub incarnation: Incarnation,
}

impl StateChangeLog {
    /// The log of this state directory, making its incarnation the first time.
    pub fn open(state: Arc<StateStore>) -> Result<StateChangeLog, StoreError> {
        let text = state
            .sync_incarnation(|| Incarnation::generate(&mut rand::rngs::OsRng).to_string())
            .map_err(store_error)?;
        let incarnation = Incarnation::try_from(text).map_err(store_error)?;
        Ok(StateChangeLog { state, incarnation })
    }
}

impl ChangeLog for StateChangeLog {
    fn incarnation(&self) -> Incarnation {
        self.incarnation.clone()
    }

    fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<JobChange>, StoreError> {
        let changes = self
            .state
            .changes_after(after, limit)
            .map_err(store_error)?;
        Ok(changes
            .into_iter()
            .map(|change| JobChange {
                seq: change.seq,
                job_id: change.job,
                kind: match &change.record {
                    Some(record) => ChangeKind::Upsert(sync_job(record)),
                    None => ChangeKind::Tombstone {
                        plan: change.plan,
                        repository: change.repository,
                    },
                },
            })
            .collect())
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        self.state.last_change_seq().map_err(store_error)
    }
}

/// A server's replicas of its clients' histories.
pub struct StateReplicas {
    pub state: Arc<StateStore>,
}

impl ReplicaStore for StateReplicas {
    fn high_water(&self, peer: &InstanceId, incarnation: &Incarnation) -> Result<u64, StoreError> {
        self.state
            .replica_high_water(peer.as_str(), incarnation.as_str())
            .map_err(store_error)
    }

    fn apply_batch(
        &mut self,
        peer: &InstanceId,
        incarnation: &Incarnation,
        changes: &[JobChange],
        upto: u64,
    ) -> Result<u64, StoreError> {
        let rows: Vec<ReplicaChange> = changes
            .iter()
            .map(|change| ReplicaChange {
                seq: change.seq,
                job: change.job_id,
                record: match &change.kind {
                    ChangeKind::Upsert(job) => {
                        Some(serde_json::to_string(job).expect("a job record serializes"))
                    }
                    ChangeKind::Tombstone { .. } => None,
                },
            })
            .collect();
        self.state
            .apply_replica_batch(peer.as_str(), incarnation.as_str(), &rows, upto)
            .map_err(store_error)
    }
}

//! Shared helpers: identities, job records, and a pair of sessions joined by queues.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cairn_sync::authorize::NoLocalResources;
use cairn_sync::reconcile::{MemoryChangeLog, MemoryReplica};
use cairn_sync::{
    Hello, Identity, Incarnation, InstanceId, LocalResources, Message, PeerGrant, Session,
    SessionConfig, SyncJob,
};
use chrono::{TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub fn instance(seed: u64) -> InstanceId {
    Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed)).instance_id()
}

pub fn hello(id: &InstanceId) -> Hello {
    Hello {
        instance_id: id.clone(),
        label: "test".into(),
        incarnation: None,
        capabilities: Vec::new(),
        grant: None,
    }
}

pub fn job(id: i64, plan: &str, repository: &str, state: &str) -> SyncJob {
    SyncJob {
        id,
        kind: "backup".into(),
        plan: Some(plan.into()),
        repository: Some(repository.into()),
        state: state.into(),
        trigger: "schedule".into(),
        dry_run: false,
        created: Utc.timestamp_opt(1_800_000_000 + id, 0).unwrap(),
        started: None,
        finished: None,
        snapshot: None,
        bytes_added: None,
        error: None,
        attempt: 1,
    }
}

pub fn incarnation(seed: u64) -> Incarnation {
    Incarnation::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

/// A client and a server session with the message queues between them.
pub struct Link {
    pub client: Session,
    pub server: Session,
    pub to_server: VecDeque<Message>,
    pub to_client: VecDeque<Message>,
}

pub struct Ends {
    pub client_id: InstanceId,
    pub server_id: InstanceId,
    pub grant: PeerGrant,
    pub log: Arc<Mutex<MemoryChangeLog>>,
    pub replica: Arc<Mutex<MemoryReplica>>,
}

impl Ends {
    pub fn connect(&self, now_ms: u64) -> Link {
        self.connect_with(now_ms, Box::new(NoLocalResources))
    }

    pub fn connect_with(&self, now_ms: u64, local: Box<dyn LocalResources + Send>) -> Link {
        let client = Session::client(
            SessionConfig::default(),
            hello(&self.client_id),
            self.server_id.clone(),
            Some(self.grant.clone()),
            Box::new(self.log.clone()),
            local,
            now_ms,
        );
        let server = Session::server(
            SessionConfig::default(),
            hello(&self.server_id),
            self.client_id.clone(),
            self.grant.clone(),
            Box::new(self.replica.clone()),
            now_ms,
        );
        let mut link = Link {
            client,
            server,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
        };
        link.collect();
        link
    }
}

impl Link {
    /// Moves what each session wants to send into the queues.
    pub fn collect(&mut self) {
        while let Some(m) = self.client.poll_message() {
            self.to_server.push_back(m);
        }
        while let Some(m) = self.server.poll_message() {
            self.to_client.push_back(m);
        }
    }

    /// Delivers everything in order until both queues are empty. Returns false when a
    /// session failed.
    pub fn run_clean(&mut self, now_ms: u64) -> bool {
        for _ in 0..10_000 {
            self.collect();
            if let Some(m) = self.to_server.pop_front() {
                if self.server.handle_message(m, now_ms).is_err() {
                    return false;
                }
            } else if let Some(m) = self.to_client.pop_front() {
                if self.client.handle_message(m, now_ms).is_err() {
                    return false;
                }
            } else {
                return true;
            }
        }
        panic!("the sessions never went quiet");
    }
}

pub fn seeded(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn coin(rng: &mut ChaCha20Rng, percent: u32) -> bool {
    rng.gen_range(0..100) < percent
}

//! Reconciliation over a transport that drops, duplicates, reorders and disconnects at
//! random while the client keeps changing its records. After the faults stop and one clean
//! sync, the server's replica equals the client's records; a reconnect without changes then
//! sends nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cairn_access::Scopes;
use cairn_sync::reconcile::{MemoryChangeLog, MemoryReplica};
use cairn_sync::{Message, PeerGrant, PeerPermission};
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::common::{coin, incarnation, instance, job, seeded, Ends, Link};

const REPOSITORIES: &[&str] = &["main", "offsite", "secret"];
const STATES: &[&str] = &["queued", "running", "succeeded", "failed"];

/// One random change of the client's records.
fn mutate(rng: &mut ChaCha20Rng, log: &mut MemoryChangeLog, next_id: &mut i64) {
    let live: Vec<i64> = log.live_records().keys().copied().collect();
    match rng.gen_range(0..10) {
        0..=3 => {
            *next_id += 1;
            let repository = REPOSITORIES[rng.gen_range(0..REPOSITORIES.len())];
            log.upsert(job(
                *next_id,
                &format!("plan-{repository}"),
                repository,
                "queued",
            ));
        }
        4..=7 if !live.is_empty() => {
            let id = live[rng.gen_range(0..live.len())];
            let mut record = log.live_records()[&id].clone();
            record.state = STATES[rng.gen_range(0..STATES.len())].into();
            record.bytes_added = Some(rng.gen_range(0..1_000_000));
            log.upsert(record);
        }
        _ if !live.is_empty() => {
            let id = live[rng.gen_range(0..live.len())];
            log.delete(id);
        }
        _ => {}
    }
}

/// Takes one message off `queue` with faults: reordered (one of the first three), dropped,
/// or duplicated (delivered and kept).
fn take_faulty(rng: &mut ChaCha20Rng, queue: &mut VecDeque<Message>) -> Option<Message> {
    if queue.is_empty() {
        return None;
    }
    let index = rng.gen_range(0..queue.len().min(3));
    if coin(rng, 10) {
        queue.remove(index);
        return None;
    }
    if coin(rng, 10) {
        return queue.get(index).cloned();
    }
    queue.remove(index)
}

fn simulate(seed: u64, steps: usize, grant: PeerGrant) {
    let mut rng = seeded(seed);
    let ends = Ends {
        client_id: instance(seed.wrapping_add(1)),
        server_id: instance(seed.wrapping_add(2)),
        grant,
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(seed)))),
        replica: Arc::new(Mutex::new(MemoryReplica::default())),
    };
    let mut next_id = 0;
    let mut now_ms = 0u64;
    let mut link = ends.connect(now_ms);
    for _ in 0..steps {
        match rng.gen_range(0..20) {
            0..=5 => {
                mutate(&mut rng, &mut ends.log.lock().unwrap(), &mut next_id);
                let _ = link.client.changes_recorded();
            }
            6 => {
                // The connection drops (kill -9, network cut): both ends start afresh.
                link = ends.connect(now_ms);
            }
            7 => {
                now_ms += rng.gen_range(0..30_000);
                let _ = link.client.tick(now_ms);
                let _ = link.server.tick(now_ms);
            }
            8..=13 => {
                if let Some(m) = take_faulty(&mut rng, &mut link.to_server) {
                    if link.server.handle_message(m, now_ms).is_err() {
                        link = ends.connect(now_ms);
                    }
                }
            }
            _ => {
                if let Some(m) = take_faulty(&mut rng, &mut link.to_client) {
                    if link.client.handle_message(m, now_ms).is_err() {
                        link = ends.connect(now_ms);
                    }
                }
            }
        }
        link.collect();
        if link.client.is_closed() || link.server.is_closed() {
            link = ends.connect(now_ms);
        }
    }

    // The faults stop: one clean sync.
    now_ms += 1;
    let mut link = ends.connect(now_ms);
    assert!(link.run_clean(now_ms), "seed {seed}: the clean sync failed");
    let log = ends.log.lock().unwrap().clone();
    let replica = ends.replica.lock().unwrap().clone();
    let incarnation = cairn_sync::ChangeLog::incarnation(&log);
    let held = replica
        .replica(&ends.client_id, &incarnation)
        .map(|r| r.live_records())
        .unwrap_or_default();
    assert_eq!(
        held,
        log.live_records_within(&ends.grant),
        "seed {seed}: the replica differs from the client's records"
    );
    let high_water = replica
        .replica(&ends.client_id, &incarnation)
        .map_or(0, |r| r.high_water);
    assert_eq!(high_water, log.last_seq(), "seed {seed}");

    // A reconnect after no change sends no change.
    let mut again: Link = ends.connect(now_ms + 1);
    assert!(again.run_clean(now_ms + 1), "seed {seed}");
    assert_eq!(again.client.changes_sent(), 0, "seed {seed}");
}

fn full_grant() -> PeerGrant {
    PeerGrant::new([PeerPermission::OpsRead], Scopes::all())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_after_random_faults(seed in any::<u64>()) {
        simulate(seed, 400, full_grant());
    }

    #[test]
    fn scoped_replicas_converge_without_the_denied_repository(seed in any::<u64>()) {
        let grant = PeerGrant::new(
            [PeerPermission::OpsRead],
            Scopes::parse_all(["*", "!repo:secret"]).unwrap(),
        );
        simulate(seed, 300, grant);
    }
}

#[test]
fn a_fixed_seed_converges_too() {
    // A regression anchor that runs the same path every time.
    simulate(20261129, 600, full_grant());
}

#[test]
fn a_wiped_client_starts_a_new_incarnation_and_the_server_keeps_the_old_copy() {
    let replica = Arc::new(Mutex::new(MemoryReplica::default()));
    let client_id = instance(100);
    let first = Ends {
        client_id: client_id.clone(),
        server_id: instance(101),
        grant: full_grant(),
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(1)))),
        replica: replica.clone(),
    };
    for id in 1..=5 {
        first
            .log
            .lock()
            .unwrap()
            .upsert(job(id, "web", "main", "succeeded"));
    }
    assert!(first.connect(0).run_clean(0));
    let wiped = Ends {
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(2)))),
        ..first
    };
    wiped
        .log
        .lock()
        .unwrap()
        .upsert(job(1, "web", "main", "running"));
    let mut link = wiped.connect(10);
    assert!(link.run_clean(10));
    let replica = replica.lock().unwrap();
    let old = replica.replica(&client_id, &incarnation(1)).unwrap();
    let new = replica.replica(&client_id, &incarnation(2)).unwrap();
    assert_eq!(old.live_records().len(), 5, "the old copy is kept whole");
    assert_eq!(new.live_records().len(), 1);
    assert_eq!(new.live_records()[&1].state, "running");
}

#[test]
fn a_long_history_goes_in_bounded_batches() {
    let ends = Ends {
        client_id: instance(200),
        server_id: instance(201),
        grant: full_grant(),
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(3)))),
        replica: Arc::new(Mutex::new(MemoryReplica::default())),
    };
    for id in 1..=2_000 {
        ends.log
            .lock()
            .unwrap()
            .upsert(job(id, "web", "main", "succeeded"));
    }
    let mut link = ends.connect(0);
    let mut largest_batch = 0;
    let mut in_flight_max = 0;
    for _ in 0..10_000 {
        link.collect();
        in_flight_max = in_flight_max.max(link.to_server.len());
        if let Some(m) = link.to_server.pop_front() {
            if let Message::OpsBatch { changes, .. } = &m {
                largest_batch = largest_batch.max(changes.len());
                cairn_sync::frame::encode_plaintext(&m).expect("a batch fits one frame");
            }
            link.server.handle_message(m, 0).unwrap();
        } else if let Some(m) = link.to_client.pop_front() {
            link.client.handle_message(m, 0).unwrap();
        } else {
            break;
        }
    }
    assert_eq!(largest_batch, 200);
    assert!(
        in_flight_max <= 5,
        "at most 4 batches (+ Hello) wait: {in_flight_max}"
    );
    let replica = ends.replica.lock().unwrap();
    let incarnation = incarnation(3);
    assert_eq!(
        replica
            .replica(&ends.client_id, &incarnation)
            .unwrap()
            .live_records()
            .len(),
        2_000
    );
}

#[test]
fn a_client_restored_from_an_older_copy_is_told_to_start_a_new_incarnation() {
    let ends = Ends {
        client_id: instance(210),
        server_id: instance(211),
        grant: full_grant(),
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(4)))),
        replica: Arc::new(Mutex::new(MemoryReplica::default())),
    };
    for id in 1..=10 {
        ends.log
            .lock()
            .unwrap()
            .upsert(job(id, "web", "main", "succeeded"));
    }
    assert!(ends.connect(0).run_clean(0));
    // The state directory comes back from a backup taken after change 6.
    ends.log.lock().unwrap().rewind_to(6);
    let mut link = ends.connect(1);
    link.run_clean(1);
    let events: Vec<_> = std::iter::from_fn(|| link.client.poll_event()).collect();
    assert!(
        events.contains(&cairn_sync::SessionEvent::IncarnationBehind {
            server_high_water: 10,
            last_seq: 6
        }),
        "{events:?}"
    );
    assert!(link.client.is_closed());
    assert_eq!(link.client.changes_sent(), 0);
}

//! Session life: heartbeats, round trips, the dead-peer timeout, and the order of hellos.

use std::sync::{Arc, Mutex};

use cairn_access::Scopes;
use cairn_sync::reconcile::{MemoryChangeLog, MemoryReplica};
use cairn_sync::{ByeReason, Message, PeerGrant, PeerPermission, SessionEvent};

use crate::common::{incarnation, instance, Ends};

fn ends() -> Ends {
    Ends {
        client_id: instance(400),
        server_id: instance(401),
        grant: PeerGrant::new([PeerPermission::OpsRead], Scopes::all()),
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(40)))),
        replica: Arc::new(Mutex::new(MemoryReplica::default())),
    }
}

#[test]
fn heartbeats_every_20_seconds_measure_the_round_trip() {
    let mut link = ends().connect(0);
    assert!(link.run_clean(0));
    link.client.tick(19_999).unwrap();
    assert!(link.client.poll_message().is_none(), "not before 20 s");
    link.client.tick(20_000).unwrap();
    let heartbeat = link.client.poll_message().unwrap();
    assert_eq!(
        heartbeat,
        Message::Heartbeat {
            seq: 1,
            sent_at_ms: 20_000,
            log_end: 0,
        }
    );
    link.server.handle_message(heartbeat, 20_040).unwrap();
    let ack = link.server.poll_message().unwrap();
    link.client.handle_message(ack, 20_085).unwrap();
    let events: Vec<_> = std::iter::from_fn(|| link.client.poll_event()).collect();
    assert!(
        events.contains(&SessionEvent::RoundTrip { rtt_ms: 85 }),
        "{events:?}"
    );
    assert_eq!(link.client.last_rtt_ms(), Some(85));
}

#[test]
fn a_peer_silent_for_three_intervals_is_dead() {
    let mut link = ends().connect(0);
    assert!(link.run_clean(1_000));
    // The server keeps sending heartbeats; the client answers none of them.
    for now in [20_000, 40_000, 60_000] {
        link.server.tick(now).unwrap();
        assert!(!link.server.is_closed(), "alive at {now} ms");
    }
    link.server.tick(61_000).unwrap();
    assert!(link.server.is_closed());
    let sent: Vec<_> = std::iter::from_fn(|| link.server.poll_message()).collect();
    assert_eq!(
        sent.last(),
        Some(&Message::Bye {
            reason: ByeReason::Timeout
        })
    );
    let events: Vec<_> = std::iter::from_fn(|| link.server.poll_event()).collect();
    assert!(events.contains(&SessionEvent::Closed {
        reason: ByeReason::Timeout,
        by_peer: false
    }));
}

#[test]
fn nothing_but_hello_is_accepted_first() {
    let mut link = ends().connect(0);
    // The server's Hello is still queued; a heartbeat arrives at the client first.
    let error = link
        .client
        .handle_message(
            Message::Heartbeat {
                seq: 1,
                sent_at_ms: 0,
                log_end: 0,
            },
            1,
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("before the peer's Hello"),
        "{error}"
    );
    assert!(link.client.is_closed());

    // A Hello that names another instance than the handshake's identity ends the session.
    let mut link = ends().connect(0);
    let mut forged = crate::common::hello(&instance(999));
    forged.incarnation = Some(incarnation(40));
    let error = link
        .server
        .handle_message(Message::Hello(forged), 1)
        .unwrap_err();
    assert!(error.to_string().contains("but its key is"), "{error}");
}

#[test]
fn the_server_learns_its_replicas_lag_from_the_clients_heartbeat() {
    let ends = ends();
    let mut link = ends.connect(0);
    assert!(link.run_clean(0));
    // Three changes the session has not been told of yet: the replica is three behind.
    for id in 1..=3 {
        ends.log
            .lock()
            .unwrap()
            .upsert(crate::common::job(id, "web", "main", "succeeded"));
    }
    link.client.tick(20_000).unwrap();
    let heartbeat = link.client.poll_message().unwrap();
    assert!(
        matches!(heartbeat, Message::Heartbeat { log_end: 3, .. }),
        "{heartbeat:?}"
    );
    link.server.handle_message(heartbeat, 20_010).unwrap();
    let events: Vec<_> = std::iter::from_fn(|| link.server.poll_event()).collect();
    assert!(
        events.contains(&SessionEvent::Lag { changes: 3 }),
        "{events:?}"
    );
    // Once the batches are in, the lag is 0.
    link.client.tick(20_020).unwrap();
    assert!(link.run_clean(20_030));
    let events: Vec<_> = std::iter::from_fn(|| link.server.poll_event()).collect();
    assert_eq!(
        events.iter().rev().find_map(|e| match e {
            SessionEvent::Lag { changes } => Some(*changes),
            _ => None,
        }),
        Some(0),
        "{events:?}"
    );
}

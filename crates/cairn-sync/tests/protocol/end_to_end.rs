//! Pairing, admission, reconciliation and a chunked command answer over real handshakes and
//! encrypted frames, as the server endpoint and the client dialer will drive them.

use std::sync::{Arc, Mutex};

use cairn_access::Scopes;
use cairn_sync::reconcile::{MemoryChangeLog, MemoryReplica};
use cairn_sync::{
    admit, ClientHandshake, CommandKind, Connection, Identity, KnownPeer, MemoryPairings, Message,
    NoLocalResources, Output, PairingRefusal, PeerGrant, PeerPermission, ServerExpectation,
    ServerHandshake, Session, SessionConfig, SessionEvent,
};
use chrono::{TimeZone, Utc};
use rand_chacha::ChaCha20Rng;

use crate::common::{hello, incarnation, job, seeded};

struct Server {
    identity: Identity,
    pairings: MemoryPairings,
    replica: Arc<Mutex<MemoryReplica>>,
}

struct Client {
    identity: Identity,
    log: Arc<Mutex<MemoryChangeLog>>,
    grant: Option<PeerGrant>,
}

/// One connection: handshake, admission, sessions. Returns both connections, or the
/// refusal the client saw.
fn connect(
    rng: &mut ChaCha20Rng,
    server: &mut Server,
    client: &mut Client,
    expectation: ServerExpectation,
) -> Result<(Connection, Connection), PairingRefusal> {
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
    let (client_state, m1) = ClientHandshake::start(&client.identity, expectation, rng).unwrap();
    let (server_state, m2) = ServerHandshake::respond(&server.identity, &m1, rng).unwrap();
    let (m3, client_end) = client_state.finish(&client.identity, &m2).unwrap();
    let server_end = server_state.unwrap().finish(&m3).unwrap();
    let peer = server_end.peer.instance_id();
    assert_eq!(peer, client.identity.instance_id());
    let client_session = Session::client(
        SessionConfig::default(),
        hello(&client.identity.instance_id()),
        client_end.peer.instance_id(),
        client.grant.clone(),
        Box::new(client.log.clone()),
        Box::new(NoLocalResources),
        0,
    );
    let mut client_conn = Connection::new(client_end.channel, client_session);
    let decision = admit(&mut server.pairings, &peer, server_end.claim.as_ref(), now).unwrap();
    let mut server_channel = server_end.channel;
    let grant = match decision {
        Ok(grant) => grant,
        Err(reason) => {
            for message in Session::refusal(reason) {
                let frame = server_channel.seal(&message).unwrap();
                client_conn.handle_frame(&frame, 0).unwrap();
            }
            let refused = std::iter::from_fn(|| client_conn.poll_event()).find_map(|e| match e {
                SessionEvent::PairingRefused(reason) => Some(reason),
                _ => None,
            });
            return Err(refused.expect("the client learns why"));
        }
    };
    let server_session = Session::server(
        SessionConfig::default(),
        hello(&server.identity.instance_id()),
        peer,
        grant,
        Box::new(server.replica.clone()),
        0,
    );
    Ok((client_conn, Connection::new(server_channel, server_session)))
}

/// Carries frames both ways until both are quiet; returns the events of each side.
fn pump(
    client: &mut Connection,
    server: &mut Connection,
) -> (Vec<SessionEvent>, Vec<SessionEvent>) {
    let (mut client_events, mut server_events) = (Vec::new(), Vec::new());
    loop {
        let mut moved = false;
        while let Some(output) = client.poll_output() {
            match output.unwrap() {
                Output::Frame(frame) => {
                    server.handle_frame(&frame, 0).unwrap();
                    moved = true;
                }
                Output::Event(event) => client_events.push(event),
            }
        }
        while let Some(output) = server.poll_output() {
            match output.unwrap() {
                Output::Frame(frame) => {
                    client.handle_frame(&frame, 0).unwrap();
                    moved = true;
                }
                Output::Event(event) => server_events.push(event),
            }
        }
        if !moved {
            client_events.extend(std::iter::from_fn(|| client.poll_event()));
            server_events.extend(std::iter::from_fn(|| server.poll_event()));
            return (client_events, server_events);
        }
    }
}

#[test]
fn pair_sync_command_reconnect_and_revoke() {
    let mut rng = seeded(500);
    let mut server = Server {
        identity: Identity::generate(&mut rng),
        pairings: MemoryPairings::default(),
        replica: Arc::new(Mutex::new(MemoryReplica::default())),
    };
    let mut client = Client {
        identity: Identity::generate(&mut rng),
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(50)))),
        grant: None,
    };
    let grant = PeerGrant::new(
        [PeerPermission::OpsRead, PeerPermission::LogsRead],
        Scopes::all(),
    );
    let token = server.pairings.issue(
        &mut rng,
        vec!["https://127.0.0.1:8443".into()],
        server.identity.public().fingerprint(),
        grant.clone(),
        Utc.with_ymd_and_hms(2026, 11, 29, 13, 0, 0).unwrap(),
        1,
    );
    // The token travels as text.
    let token = cairn_sync::PairingToken::parse(&token.to_text()).unwrap();
    for id in 1..=300 {
        client
            .log
            .lock()
            .unwrap()
            .upsert(job(id, "web", "main", "succeeded"));
    }

    // 1. Pairing: the client learns its grant and its history reaches the server.
    let (mut c, mut s) = connect(
        &mut rng,
        &mut server,
        &mut client,
        ServerExpectation::Token(token.clone()),
    )
    .unwrap();
    let (client_events, server_events) = pump(&mut c, &mut s);
    assert!(client_events.contains(&SessionEvent::GrantAnnounced(grant.clone())));
    assert!(server_events.iter().any(
        |e| matches!(e, SessionEvent::PeerHello(h) if h.incarnation == Some(incarnation(50)))
    ));
    client.grant = Some(grant.clone());
    let held = server
        .replica
        .lock()
        .unwrap()
        .replica(&client.identity.instance_id(), &incarnation(50))
        .unwrap()
        .live_records();
    assert_eq!(held, client.log.lock().unwrap().live_records());

    // 2. A command whose answer (a 150 kB log) needs several frames.
    let id = s
        .session_mut()
        .send_command(CommandKind::FetchLog { job_id: 3 })
        .unwrap();
    let (client_events, _) = pump(&mut c, &mut s);
    assert!(client_events.iter().any(|e| matches!(e,
        SessionEvent::Received(Message::Command(command)) if command.id == id)));
    let log_text: Vec<u8> = (0..150_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    c.session_mut()
        .send_command_result(id, Ok(log_text.clone()));
    let (_, server_events) = pump(&mut c, &mut s);
    assert!(server_events.contains(&SessionEvent::CommandAnswered {
        id,
        outcome: Ok(log_text)
    }));

    // 3. The token is used up; the paired client reconnects with its pinned fingerprint and
    //    sends only what changed.
    let mut stranger = Client {
        identity: Identity::generate(&mut rng),
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(51)))),
        grant: None,
    };
    let refused = connect(
        &mut rng,
        &mut server,
        &mut stranger,
        ServerExpectation::Token(token),
    )
    .err();
    assert_eq!(refused, Some(PairingRefusal::UsedUp));
    client.log.lock().unwrap().delete(7);
    let pinned = ServerExpectation::Pinned(server.identity.public().fingerprint());
    let (mut c, mut s) = connect(&mut rng, &mut server, &mut client, pinned.clone()).unwrap();
    pump(&mut c, &mut s);
    assert_eq!(c.session().changes_sent(), 1, "only the tombstone travels");
    let held = server
        .replica
        .lock()
        .unwrap()
        .replica(&client.identity.instance_id(), &incarnation(50))
        .unwrap()
        .live_records();
    assert!(!held.contains_key(&7));
    assert_eq!(held.len(), 299);

    // 4. Revoked: the next connection is refused with the reason.
    server
        .pairings
        .peers
        .insert(client.identity.instance_id(), KnownPeer::Revoked);
    let refused = connect(&mut rng, &mut server, &mut client, pinned).err();
    assert_eq!(refused, Some(PairingRefusal::PeerRevoked));
}

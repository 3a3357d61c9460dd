//! The handshake between real identities, with honest and dishonest parties.

use chrono::{Duration, TimeZone, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::message::{ByeReason, Hello, Message};
use crate::permission::{PeerGrant, PeerPermission};
use crate::session::Session;
use crate::token::{admit, MemoryPairings, PairingRefusal, PairingToken, TokenSecret};
use crate::{Connection, ErrorKind, Identity};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

struct World {
    rng: ChaCha20Rng,
    server: Identity,
    client: Identity,
    pairings: MemoryPairings,
    seed: u64,
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        World {
            server: Identity::generate(&mut rng),
            client: Identity::generate(&mut rng),
            pairings: MemoryPairings::default(),
            rng,
            seed,
        }
    }

    fn token(&mut self, expires_in: Duration, uses_max: u32) -> PairingToken {
        let fingerprint = self.server.public().fingerprint();
        self.pairings.issue(
            &mut self.rng,
            vec!["https://127.0.0.1:8443".into()],
            fingerprint,
            PeerGrant::new([PeerPermission::OpsRead], Default::default()),
            now() + expires_in,
            uses_max,
        )
    }

    /// Runs the three messages between `client` and `server`.
    fn handshake(
        &mut self,
        expectation: ServerExpectation,
    ) -> Result<(Established, Established), SyncError> {
        let (client_state, message1) =
            ClientHandshake::start(&self.client, expectation, &mut self.rng)?;
        let (server_state, message2) =
            ServerHandshake::respond(&self.server, &message1, &mut self.rng)?;
        let (message3, client) = client_state.finish(&self.client, &message2)?;
        let server = server_state.expect("a shared version").finish(&message3)?;
        Ok((client, server))
    }
}

fn hello(identity: &Identity) -> Hello {
    Hello {
        instance_id: identity.instance_id(),
        label: "test".into(),
        incarnation: None,
        capabilities: Vec::new(),
        grant: None,
    }
}

#[test]
fn client_and_server_complete_and_keys_differ_per_run() {
    let mut hashes = Vec::new();
    for seed in [1, 2] {
        let mut world = World::new(seed);
        let token = world.token(Duration::hours(1), 1);
        let (client, server) = world
            .handshake(ServerExpectation::Token(token))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(client.peer, world.server.public(), "seed {seed}");
        assert_eq!(server.peer, world.client.public(), "seed {seed}");
        assert_eq!(client.version, 1);
        assert_eq!(
            client.channel.handshake_hash(),
            server.channel.handshake_hash()
        );
        let claim = server.claim.as_ref().expect("the client brought a token");
        let grant = admit(
            &mut world.pairings,
            &world.client.instance_id(),
            Some(claim),
            now(),
        )
        .unwrap();
        assert!(grant.is_ok(), "seed {seed}: {grant:?}");
        hashes.push(*client.channel.handshake_hash());
    }
    assert_ne!(
        hashes[0], hashes[1],
        "two runs derive different session keys"
    );

    // The same identities twice with different randomness: different keys too.
    let mut world = World::new(3);
    let pinned = ServerExpectation::Pinned(world.server.public().fingerprint());
    let (mut first, _) = world.handshake(pinned.clone()).unwrap();
    let (mut second, _) = world.handshake(pinned).unwrap();
    let probe = Message::Heartbeat {
        seq: 1,
        sent_at_ms: 0,
        log_end: 0,
    };
    assert_ne!(
        first.channel.seal(&probe).unwrap(),
        second.channel.seal(&probe).unwrap()
    );
}

/// Drives the server's admission and its first frames to the client; returns what the
/// client session reports.
fn admission(
    world: &mut World,
    client: Established,
    server: Established,
) -> Vec<crate::SessionEvent> {
    let decision = admit(
        &mut world.pairings,
        &world.client.instance_id(),
        server.claim.as_ref(),
        now(),
    )
    .unwrap();
    let mut server_channel = server.channel;
    let frames: Vec<Vec<u8>> = match decision {
        Ok(grant) => {
            let mut session = Session::server(
                Default::default(),
                hello(&world.server),
                world.client.instance_id(),
                grant,
                Box::new(crate::reconcile::MemoryReplica::default()),
                0,
            );
            std::iter::from_fn(|| session.poll_message())
                .map(|m| server_channel.seal(&m).unwrap())
                .collect()
        }
        Err(reason) => Session::refusal(reason)
            .iter()
            .map(|m| server_channel.seal(m).unwrap())
            .collect(),
    };
    let log = crate::reconcile::MemoryChangeLog::new(crate::Incarnation::generate(&mut world.rng));
    let session = Session::client(
        Default::default(),
        hello(&world.client),
        world.server.instance_id(),
        None,
        Box::new(log),
        Box::new(crate::NoLocalResources),
        0,
    );
    let mut connection = Connection::new(client.channel, session);
    for frame in frames {
        connection.handle_frame(&frame, 1).unwrap();
    }
    std::iter::from_fn(|| connection.poll_event()).collect()
}

#[test]
fn a_wrong_secret_is_refused_and_the_client_learns_why() {
    let mut world = World::new(10);
    let mut token = world.token(Duration::hours(1), 1);
    token.secret = TokenSecret::from_bytes([0x55; 32]);
    let (client, server) = world.handshake(ServerExpectation::Token(token)).unwrap();
    let events = admission(&mut world, client, server);
    assert!(
        events.contains(&crate::SessionEvent::PairingRefused(
            PairingRefusal::ProofMismatch
        )),
        "seed {}: {events:?}",
        world.seed
    );
    assert_eq!(world.pairings.tokens.values().next().unwrap().uses, 0);
}

#[test]
fn an_expired_token_is_refused() {
    let mut world = World::new(11);
    let token = world.token(Duration::seconds(-1), 1);
    let (client, server) = world.handshake(ServerExpectation::Token(token)).unwrap();
    let events = admission(&mut world, client, server);
    assert!(
        events.contains(&crate::SessionEvent::PairingRefused(
            PairingRefusal::Expired
        )),
        "{events:?}"
    );
}

#[test]
fn a_token_is_used_at_most_its_max_uses() {
    let mut world = World::new(12);
    let token = world.token(Duration::hours(1), 2);
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        // Each attempt is a new instance (a wiped or another client).
        world.client = Identity::generate(&mut world.rng);
        let (client, server) = world
            .handshake(ServerExpectation::Token(token.clone()))
            .unwrap();
        let events = admission(&mut world, client, server);
        outcomes.push(
            !events
                .iter()
                .any(|e| matches!(e, crate::SessionEvent::PairingRefused(_))),
        );
    }
    assert_eq!(outcomes, [true, true, false, false]);
}

#[test]
fn a_token_for_another_server_is_refused_before_the_proof_is_sent() {
    let mut world = World::new(13);
    let mut token = world.token(Duration::hours(1), 1);
    let other = Identity::generate(&mut world.rng);
    token.server_fingerprint = other.public().fingerprint();
    let (client_state, message1) = ClientHandshake::start(
        &world.client,
        ServerExpectation::Token(token),
        &mut world.rng,
    )
    .unwrap();
    let (_, message2) = ServerHandshake::respond(&world.server, &message1, &mut world.rng).unwrap();
    // `finish` fails instead of returning message 3: no proof leaves the client.
    let error = client_state
        .finish(&world.client, &message2)
        .err()
        .expect("refused");
    assert_eq!(error.kind(), ErrorKind::Auth);
    let text = error.to_string();
    assert!(
        text.contains("another server") && text.contains(&other.public().fingerprint().to_string()),
        "{text}"
    );
}

/// Mallory sits between client and server and runs a handshake with each, using her own
/// key. Towards the client she fails the fingerprint check. If she lures a client into
/// trusting her (a doctored token), the proof she collects is bound to her handshake with
/// the client and is refused in her handshake with the server.
#[test]
fn a_man_in_the_middle_fails_on_both_sides() {
    let mut world = World::new(14);
    let token = world.token(Duration::hours(1), 1);
    let mallory = Identity::generate(&mut world.rng);

    // 1. An honest token: the client refuses Mallory's identity.
    let (client_state, message1) = ClientHandshake::start(
        &world.client,
        ServerExpectation::Token(token.clone()),
        &mut world.rng,
    )
    .unwrap();
    let (_, message2) = ServerHandshake::respond(&mallory, &message1, &mut world.rng).unwrap();
    let error = client_state.finish(&world.client, &message2).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Auth);

    // 1b. Mallory claiming the server's ed25519 key over her own Noise key: refused too
    // (the Montgomery form differs from the Noise static, and she cannot sign as it).
    let (client_state, message1) = ClientHandshake::start(
        &world.client,
        ServerExpectation::Token(token.clone()),
        &mut world.rng,
    )
    .unwrap();
    let forged = message2_claiming(&mallory, &world.server, &message1, &mut world.rng);
    let error = client_state.finish(&world.client, &forged).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Auth, "{error}");

    // 2. A doctored token that names Mallory: the client proves to her...
    let mut doctored = token.clone();
    doctored.server_fingerprint = mallory.public().fingerprint();
    let (client_state, message1) = ClientHandshake::start(
        &world.client,
        ServerExpectation::Token(doctored),
        &mut world.rng,
    )
    .unwrap();
    let (mallory_server, message2) =
        ServerHandshake::respond(&mallory, &message1, &mut world.rng).unwrap();
    let (message3, _) = client_state.finish(&world.client, &message2).unwrap();
    let stolen = mallory_server
        .unwrap()
        .finish(&message3)
        .unwrap()
        .claim
        .unwrap();

    // ...and Mallory relays that proof in her own handshake with the real server.
    let (mallory_client, message1) = ClientHandshake::start(
        &mallory,
        ServerExpectation::Pinned(world.server.public().fingerprint()),
        &mut world.rng,
    )
    .unwrap();
    let (server_state, message2) =
        ServerHandshake::respond(&world.server, &message1, &mut world.rng).unwrap();
    let relayed = (stolen.token_id.clone(), stolen.proof.clone());
    let (message3, _) = mallory_client
        .finish_with(&mallory, &message2, |_| Some(relayed))
        .unwrap();
    let established = server_state.unwrap().finish(&message3).unwrap();
    let decision = admit(
        &mut world.pairings,
        &mallory.instance_id(),
        established.claim.as_ref(),
        now(),
    )
    .unwrap();
    assert_eq!(decision, Err(PairingRefusal::ProofMismatch));
    assert!(world.pairings.peers.is_empty(), "nobody was paired");
}

/// A message 2 in which `mallory` (her Noise static) presents `victim`'s ed25519 key.
fn message2_claiming(
    mallory: &Identity,
    victim: &Identity,
    message1: &[u8],
    rng: &mut ChaCha20Rng,
) -> Vec<u8> {
    use ml_kem::kem::Encapsulate;
    use ml_kem::{Encoded, EncodedSizeUser, KemCore, MlKem768};
    type Ek = <MlKem768 as KemCore>::EncapsulationKey;
    let private_key = mallory.noise_private_key();
    let mut noise = noise_builder(rng)
        .local_private_key(private_key.as_slice())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_responder()
        .unwrap();
    let mut payload = vec![0u8; NOISE_MESSAGE_LEN_MAX];
    let len = noise.read_message(message1, &mut payload).unwrap();
    let offer = payload::ClientOffer::decode(&payload[..len]).unwrap();
    let ek = Ek::from_bytes(&Encoded::<Ek>::try_from(offer.encapsulation_key.as_slice()).unwrap());
    let (ciphertext, _) = ek.encapsulate(rng).unwrap();
    let h1 = hash32(noise.get_handshake_hash());
    let answer = payload::ServerAnswer::Accepted {
        version: 1,
        public_key: victim.public().to_bytes(),
        // Mallory signs with her key: the best she can do without the victim's.
        signature: mallory.sign(&signed_message(SERVER_SIGNATURE_CONTEXT, &h1)),
        ciphertext: ciphertext.to_vec(),
    };
    let mut message = vec![0u8; NOISE_MESSAGE_LEN_MAX];
    let len = noise.write_message(&answer.encode(), &mut message).unwrap();
    message.truncate(len);
    message
}

#[test]
fn tampered_replayed_and_reordered_frames_are_refused() {
    let mut world = World::new(20);
    let pinned = ServerExpectation::Pinned(world.server.public().fingerprint());
    let heartbeat = |seq| Message::Heartbeat {
        seq,
        sent_at_ms: seq,
        log_end: 0,
    };

    // Tampered: one flipped bit anywhere fails authentication, and the channel stays broken.
    let (mut client, mut server) = world.handshake(pinned.clone()).unwrap();
    let mut frame = client.channel.seal(&heartbeat(1)).unwrap();
    let middle = frame.len() / 2;
    frame[middle] ^= 0x01;
    assert_eq!(
        server.channel.open(&frame).unwrap_err().kind(),
        ErrorKind::Protocol
    );
    let next = client.channel.seal(&heartbeat(2)).unwrap();
    assert!(
        server.channel.open(&next).is_err(),
        "a broken channel stays broken"
    );

    // Replayed: the same frame twice.
    let (mut client, mut server) = world.handshake(pinned.clone()).unwrap();
    let frame = client.channel.seal(&heartbeat(1)).unwrap();
    assert_eq!(server.channel.open(&frame).unwrap(), heartbeat(1));
    assert!(server.channel.open(&frame).is_err());

    // Reordered: frame 2 before frame 1.
    let (mut client, mut server) = world.handshake(pinned.clone()).unwrap();
    let first = client.channel.seal(&heartbeat(1)).unwrap();
    let second = client.channel.seal(&heartbeat(2)).unwrap();
    assert!(server.channel.open(&second).is_err());
    let _ = first;

    // A frame from another session: refused.
    let (mut client, _) = world.handshake(pinned.clone()).unwrap();
    let (_, mut other_server) = world.handshake(pinned).unwrap();
    let frame = client.channel.seal(&heartbeat(1)).unwrap();
    assert!(other_server.channel.open(&frame).is_err());

    // Through a Connection, a bad frame closes the session.
    let mut world = World::new(21);
    let pinned = ServerExpectation::Pinned(world.server.public().fingerprint());
    let (mut client, server) = world.handshake(pinned).unwrap();
    let session = Session::server(
        Default::default(),
        hello(&world.server),
        world.client.instance_id(),
        PeerGrant::default(),
        Box::new(crate::reconcile::MemoryReplica::default()),
        0,
    );
    let mut connection = Connection::new(server.channel, session);
    let mut frame = client.channel.seal(&heartbeat(1)).unwrap();
    frame[0] ^= 0x80;
    assert!(connection.handle_frame(&frame, 5).is_err());
    assert!(connection.session().is_closed());
    let events: Vec<_> = std::iter::from_fn(|| connection.poll_event()).collect();
    assert!(events.contains(&crate::SessionEvent::Closed {
        reason: ByeReason::ProtocolError,
        by_peer: false
    }));
}

#[test]
fn a_message_too_large_for_a_frame_is_refused_before_sealing() {
    let mut world = World::new(22);
    let pinned = ServerExpectation::Pinned(world.server.public().fingerprint());
    let (mut client, _) = world.handshake(pinned).unwrap();
    let huge = Message::ConfigReport {
        plans: vec![crate::ConfigItem {
            name: "big".into(),
            repository: None,
            toml: "x".repeat(70_000),
        }],
        repositories: Vec::new(),
    };
    let error = client.channel.seal(&huge).unwrap_err().to_string();
    assert!(error.contains("split it into chunks"), "{error}");
}

#[test]
fn a_client_without_a_shared_version_learns_the_servers_versions() {
    let mut world = World::new(23);
    let pinned = ServerExpectation::Pinned(world.server.public().fingerprint());
    let (client_state, message1) =
        ClientHandshake::start_offering(&world.client, pinned, &[7, 8], &mut world.rng).unwrap();
    let (state, message2) =
        ServerHandshake::respond(&world.server, &message1, &mut world.rng).unwrap();
    assert!(state.is_none(), "the server goes no further");
    let error = client_state.finish(&world.client, &message2).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Refused);
    let text = error.to_string();
    assert!(text.contains("[1]") && text.contains("[7, 8]"), "{text}");
}

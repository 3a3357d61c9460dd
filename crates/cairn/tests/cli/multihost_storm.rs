//! 100 clients reconnecting after a server restart come back spread out, not in a storm
//! (issue 14, "Faults"). The server is a real `cairn daemon`, killed with -9 and started
//! again on the same port and state. The clients are in-process [`Multihost`]s (hub and
//! dialer, each with its own state directory; pairing and heartbeats need no daemon). Each
//! dialer's backoff has a fixed seed, so when every client dials again is known beforehand:
//! the test checks each reconnection against its own backoff, then the spread of the fleet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_server::sync::{Multihost, MultihostSettings};
use cairn_sync::Backoff;

use crate::daemon::DaemonSetup;
use crate::multihost::{peers, token, wait};

const CLIENTS: usize = 100;
/// How long the server stays down after the kill.
const DOWN: Duration = Duration::from_secs(3);
/// How late after its successful dial a client may be seen connected: TCP, WebSocket and
/// Noise handshake while the server admits up to 100 clients on 2 shared cores, plus the
/// poll's own period.
const ADMIT_SLACK: Duration = Duration::from_secs(3);
const BUCKET_MS: u64 = 250;
const POLL: Duration = Duration::from_millis(20);

/// The seed of client `n`'s backoff (the daemon draws it from the OS; fixed here, so the
/// run can be replayed and each reconnection predicted).
fn seed(n: usize) -> u64 {
    20_261_130 ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The times a client dials after losing its server at time 0, up to the first at or after
/// `until`: the running sums of its backoff's delays (each dial while the server is down
/// fails at once, with connection refused, and costs no time worth counting).
fn dials(seed: u64, until: Duration) -> Vec<Duration> {
    let mut backoff = Backoff::new(seed);
    let mut dial = Duration::ZERO;
    let mut out = Vec::new();
    while dial < until || out.is_empty() {
        dial += backoff.next_delay();
        out.push(dial);
    }
    out
}

/// When a client first dials at or after `at`.
fn first_dial_after(seed: u64, at: Duration) -> Duration {
    *dials(seed, at).last().expect("at least one dial")
}

fn client_state(hub: &Multihost) -> String {
    let listed = hub.peers().expect("the client's peers");
    assert!(listed.len() <= 1, "a client lists {listed:?}");
    listed
        .first()
        .map(|p| p.state.to_string())
        .unwrap_or_default()
}

/// The largest number of reconnections within any `BUCKET_MS` window (sorted input).
fn densest_window(sorted_ms: &[u64]) -> usize {
    sorted_ms
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            sorted_ms[i..]
                .iter()
                .take_while(|&&at| at < start + BUCKET_MS)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_hundred_clients_reconnect_spread_out_after_a_server_restart() {
    // A fixed port: the clients' pairings name the server's address.
    let port = crate::multihost::free_port();
    let server = DaemonSetup::new(&[], &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    let mut server_daemon = server.start();
    let pairing = token(&server, "storm", "1h", CLIENTS as u32, &[]);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hubs: Vec<Arc<Multihost>> = (0..CLIENTS)
        .map(|n| {
            Multihost::open(MultihostSettings {
                state_dir: server.scratch.path(&format!("client-{n:03}")),
                label: format!("storm-{n:03}"),
                backoff_seed: Some(seed(n)),
                ..Default::default()
            })
            .expect("a client's multihost state")
        })
        .collect();
    let _dialers: Vec<_> = {
        let _entered = runtime.enter();
        hubs.iter().map(|hub| hub.start_dialer()).collect()
    };
    let paired = runtime.block_on(futures::future::join_all(
        hubs.iter().map(|hub| hub.pair(&pairing)),
    ));
    for (n, outcome) in paired.iter().enumerate() {
        assert!(outcome.is_ok(), "client {n} did not pair: {outcome:?}");
    }
    wait(
        "the server to list 100 connected clients",
        Duration::from_secs(30),
        || {
            let listed = peers(&server);
            (listed.len() == CLIENTS && listed.iter().all(|p| p["state"] == "connected"))
                .then_some(())
        },
    );

    // The server dies at `killed`; every client sees its session end at once.
    let killed = Instant::now();
    server_daemon.signal(libc::SIGKILL);
    server_daemon.wait(Duration::from_secs(10));
    std::thread::sleep(DOWN.saturating_sub(killed.elapsed()));
    for (n, hub) in hubs.iter().enumerate() {
        assert_eq!(
            client_state(hub),
            "disconnected",
            "client {n}, {DOWN:?} after the kill"
        );
    }
    // Back on the same port and state. A dial before `spawned` fails; one after the port
    // accepts (`listening`) reaches the server.
    let spawned = killed.elapsed();
    let _server_daemon = server.start();
    wait("the server's port", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(drop)
    });
    let listening = killed.elapsed();

    // Each client's window: from its first dial after the spawn to its first dial after the
    // port accepted, plus the admission.
    let windows: Vec<(Duration, Duration)> = (0..CLIENTS)
        .map(|n| {
            (
                first_dial_after(seed(n), spawned),
                first_dial_after(seed(n), listening) + ADMIT_SLACK,
            )
        })
        .collect();
    // With these seeds the last dial that finds the server is at 23.9 s after the kill
    // whenever it listens again within 7 s (36.2 s within 10 s).
    let bound = windows.iter().map(|(_, latest)| *latest).max().unwrap();
    println!(
        "server down {spawned:?} (listening again at {listening:?}); every client is back by \
         its first backoff dial after that plus {ADMIT_SLACK:?}: {bound:?} after the kill at most"
    );

    // When each client is connected again, by its own view (set when the server admits it).
    let mut back: Vec<Option<Duration>> = vec![None; CLIENTS];
    let deadline = killed + bound + Duration::from_secs(1);
    while back.iter().any(Option::is_none) {
        for (n, hub) in hubs.iter().enumerate() {
            if back[n].is_none() && client_state(hub) == "connected" {
                back[n] = Some(killed.elapsed());
            }
        }
        if Instant::now() > deadline {
            let missing: Vec<usize> = (0..CLIENTS).filter(|&n| back[n].is_none()).collect();
            panic!(
                "clients {missing:?} not back {:?} after the kill (bound {bound:?})",
                killed.elapsed()
            );
        }
        std::thread::sleep(POLL);
    }
    let back: Vec<Duration> = back.into_iter().map(Option::unwrap).collect();

    let mut histogram = std::collections::BTreeMap::<u64, usize>::new();
    for at in &back {
        *histogram
            .entry(at.as_millis() as u64 / BUCKET_MS * BUCKET_MS)
            .or_default() += 1;
    }
    println!("reconnections per {BUCKET_MS} ms after the kill:");
    for (start, count) in &histogram {
        println!(
            "  {:>6.2} s  {count:>3}  {}",
            *start as f64 / 1000.0,
            "#".repeat(*count)
        );
    }

    // Each client came back when its backoff said, not earlier (no dial outside the
    // backoff) and not later than its dial after the restart plus the admission.
    for (n, (at, (earliest, latest))) in back.iter().zip(&windows).enumerate() {
        assert!(
            earliest <= at && at <= latest,
            "client {n} back at {at:?}, its backoff says {earliest:?}..{latest:?} (dials at {:?})",
            dials(seed(n), *latest)
        );
    }
    let slowest = back
        .iter()
        .zip(&windows)
        .map(|(at, (_, latest))| at.saturating_sub(*latest - ADMIT_SLACK))
        .max()
        .unwrap();
    println!("slowest admission after the client's last possible dial: {slowest:?}");
    // Spread: no 250 ms window holds a third of the fleet, first to last at least 1 s.
    let mut sorted: Vec<u64> = back.iter().map(|d| d.as_millis() as u64).collect();
    sorted.sort_unstable();
    let densest = densest_window(&sorted);
    let spread = sorted[CLIENTS - 1] - sorted[0];
    println!(
        "first {} ms, last {} ms, spread {spread} ms, densest {BUCKET_MS} ms window {densest}",
        sorted[0],
        sorted[CLIENTS - 1]
    );
    assert!(
        densest <= CLIENTS / 3,
        "{densest} clients in one {BUCKET_MS} ms window: {histogram:?}"
    );
    assert!(spread >= 1000, "all back within {spread} ms: {histogram:?}");

    // One session each: the server lists exactly the 100 clients, all connected.
    let listed = peers(&server);
    let mut ids: Vec<String> = listed
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = hubs.iter().map(|h| h.instance_id().to_string()).collect();
    expected.sort();
    assert_eq!(ids, expected, "the server's peers are the 100 clients");
    assert!(
        listed.iter().all(|p| p["state"] == "connected"),
        "{listed:#?}"
    );
    assert!(hubs.iter().all(|hub| client_state(hub) == "connected"));
    runtime.shutdown_timeout(Duration::from_secs(2));
}

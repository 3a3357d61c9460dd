//! Remote commands between real daemons (restore, cancel, log, each judged by the client
//! against its grant), and the session through an intercepting relay written here: a
//! TLS-terminating proxy with its own CA (which the client trusts) that re-opens TLS to the
//! real server. Carrying the stream, it sees neither the token's secret nor any operation
//! data; posing as the server, it is refused before the client proves anything; flipping a
//! byte, it ends the session, and the client comes back without a duplicate record.

mod relay;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::{Daemon, DaemonSetup};
use crate::multihost::{append, pair, peer_jobs, peers, run_plan, state_of, summary, wait};
use crate::support::{run_fail, run_ok, stderr, stdout};

use relay::{Mode, Relay};

/// A one-use token valid for an hour.
fn token_for(server: &DaemonSetup, label: &str, permissions: &str, scopes: &[&str]) -> String {
    crate::multihost::token_for(server, label, "1h", 1, permissions, scopes)
}

/// The id the server knows its one new client by, once it is connected.
fn connected_client(server: &DaemonSetup, known: &[String]) -> String {
    wait(
        "the server to see the client connected",
        Duration::from_secs(15),
        || {
            peers(server)
                .iter()
                .filter(|p| p["state"] == "connected")
                .filter_map(|p| p["id"].as_str().map(String::from))
                .find(|id| !known.contains(id))
        },
    )
}

/// Deterministic bytes that are not text (so "byte-identical" means something).
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn the_server_restores_cancels_and_reads_logs_on_a_client_within_its_grant() {
    let server = DaemonSetup::new(&[], "[server]\nlisten = \"127.0.0.1:0\"\n");
    let _server_daemon = server.start();

    // The client: `web` (with a binary file, a note, and a hook chatty enough that its log
    // travels in several chunks), `slow` (a hook that sleeps 30 s), and a repository
    // `secret` outside the grant.
    let client = DaemonSetup::new(
        &[
            (
                "web",
                "[plans.web.hooks]\nbefore_backup = [\"for i in $(seq 1 2500); do echo chatty-line-$i-with-some-padding-to-make-it-longer; done\"]\n",
            ),
            ("slow", "[plans.slow.hooks]\nbefore_backup = [\"sleep 30\"]\n"),
        ],
        "",
    );
    let data = pseudo_random(300_000, 0x5eed_cafe);
    std::fs::write(client.source("web").join("data.bin"), &data).unwrap();
    std::fs::write(client.source("web").join("note.txt"), "not restored\n").unwrap();
    let secret_repo = client.scratch.init_repo("secret-repo");
    append(
        &client.config,
        &format!(
            "\n[repositories.secret]\nlocation = \"{}\"\npassword_file = \"{}\"\n\n\
             [plans.hidden]\nrepository = \"secret\"\nsources = [\"{}\"]\n",
            secret_repo.display(),
            client.scratch.password_file.display(),
            client.source("web").display()
        ),
    );
    let _client_daemon = client.start();
    pair(
        &client,
        &token_for(
            &server,
            "client",
            "ops.read,cmd.run,cmd.restore,logs.read",
            &["*", "!repo:secret"],
        ),
    );
    let client_id = connected_client(&server, &[]);

    // A second client whose grant lacks cmd.restore and logs.read.
    let lesser = DaemonSetup::new(&[("web", "")], "");
    let _lesser_daemon = lesser.start();
    pair(
        &lesser,
        &token_for(&server, "lesser", "ops.read,cmd.run", &[]),
    );
    let lesser_id = connected_client(&server, std::slice::from_ref(&client_id));
    let lesser_job = run_plan(&lesser, "web");

    let backup = run_plan(&client, "web");
    let hidden = run_plan(&client, "hidden");

    // Restore from the server: a job on the client, into the client's restore root, only
    // what `--include` names, byte-identical.
    let target = client.state_dir().join("restores").join("from-server");
    let output = run_ok(server.cairn().args([
        "peer",
        "restore",
        &client_id,
        "latest",
        "--repository",
        "main",
        "--target",
        target.to_str().unwrap(),
        "--include",
        "*.bin",
        "--json",
    ]));
    let queued: Value = serde_json::from_slice(&output.stdout).expect("peer restore --json");
    assert_eq!(queued["kind"], "restore", "{queued}");
    assert_eq!(queued["repository"], "main", "{queued}");
    let restore = queued["id"].as_i64().expect("the restore job's id");
    client.wait_for("the remote restore", Duration::from_secs(60), |jobs| {
        jobs.iter()
            .any(|j| j["id"] == restore && j["state"] == "succeeded")
    });
    let restored = target.join(client.source("web").strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read(restored.join("data.bin")).unwrap(),
        data,
        "the restored file differs"
    );
    assert!(
        !restored.join("note.txt").exists(),
        "--include *.bin restored note.txt"
    );
    wait(
        "the restore job in the server's copy",
        Duration::from_secs(10),
        || {
            peer_jobs(&server, &client_id)
                .iter()
                .any(|j| j["id"] == restore && j["state"] == "succeeded")
                .then_some(())
        },
    );

    // Targets are the client's, judged by the client: relative ones and ones outside its
    // restore root are refused, and nothing is queued.
    let jobs_before = client.jobs().len();
    for (bad, reason) in [
        ("restores/relative", "relative"),
        (
            "/tmp/cairn-peer-restore-elsewhere",
            "outside the restore root",
        ),
    ] {
        let output = run_fail(server.cairn().args([
            "peer",
            "restore",
            &client_id,
            "latest",
            "--repository",
            "main",
            "--target",
            bad,
        ]));
        let error = stderr(&output);
        assert!(error.contains(reason), "{bad}: {error}");
        assert_eq!(error.trim().lines().count(), 1, "one line: {error}");
    }
    assert!(!Path::new("/tmp/cairn-peer-restore-elsewhere").exists());

    // Refusals: a grant without cmd.restore; a repository the scopes exclude.
    let output = run_fail(server.cairn().args([
        "peer",
        "restore",
        &lesser_id,
        "latest",
        "--repository",
        "main",
        "--target",
        lesser.state_dir().join("restores/x").to_str().unwrap(),
    ]));
    let error = stderr(&output);
    assert!(
        error.contains("cmd.restore") && error.contains("not granted"),
        "{error}"
    );
    assert!(!lesser.state_dir().join("restores/x").exists());
    let output = run_fail(server.cairn().args([
        "peer",
        "restore",
        &client_id,
        "latest",
        "--repository",
        "secret",
        "--target",
        target.join("secret").to_str().unwrap(),
    ]));
    let error = stderr(&output);
    assert!(
        error.contains("secret") && error.contains("not granted"),
        "{error}"
    );
    assert_eq!(
        client.jobs().len(),
        jobs_before,
        "a refused restore queued a job"
    );

    // The backup's log, fetched from the server (in chunks: it is larger than a frame), is
    // the log the client shows itself.
    let local = stdout(&run_ok(client.cairn().args([
        "jobs",
        "log",
        &backup.to_string(),
    ])));
    assert!(local.contains("chatty-line-2500"), "{local}");
    assert!(local.len() > 150_000, "the log is {} bytes", local.len());
    let remote = stdout(&run_ok(server.cairn().args([
        "peer",
        "log",
        &client_id,
        &backup.to_string(),
    ])));
    assert_eq!(remote, local, "the remote log differs from the local one");

    // Jobs are judged by the client's own record of them: the log and the cancel of a job
    // of the excluded repository are refused; a grant without logs.read gets no log.
    for command in ["log", "cancel"] {
        let output =
            run_fail(
                server
                    .cairn()
                    .args(["peer", command, &client_id, &hidden.to_string()]),
            );
        let error = stderr(&output);
        assert!(
            error.contains("hidden") && error.contains("not granted"),
            "peer {command}: {error}"
        );
    }
    let output =
        run_fail(
            server
                .cairn()
                .args(["peer", "log", &lesser_id, &lesser_job.to_string()]),
        );
    let error = stderr(&output);
    assert!(
        error.contains("logs.read") && error.contains("not granted"),
        "{error}"
    );
    assert_eq!(error.trim().lines().count(), 1, "one line: {error}");

    // Cancel: a job stuck in a 30 s hook ends as cancelled, long before the hook would.
    let output = run_ok(client.cairn().args(["jobs", "start", "slow", "--json"]));
    let slow = serde_json::from_slice::<Value>(&output.stdout).unwrap()["id"]
        .as_i64()
        .unwrap();
    client.wait_for("the slow job to run", Duration::from_secs(30), |jobs| {
        jobs.iter()
            .any(|j| j["id"] == slow && j["state"] == "running")
    });
    let asked = Instant::now();
    let output = run_ok(
        server
            .cairn()
            .args(["peer", "cancel", &client_id, &slow.to_string()]),
    );
    assert!(
        stdout(&output).contains(&format!("job {slow} on {client_id}")),
        "{}",
        stdout(&output)
    );
    client.wait_for(
        "the slow job to be cancelled",
        Duration::from_secs(15),
        |jobs| {
            jobs.iter()
                .any(|j| j["id"] == slow && j["state"] == "cancelled")
        },
    );
    assert!(asked.elapsed() < Duration::from_secs(15));
    wait(
        "the cancelled job in the server's copy",
        Duration::from_secs(10),
        || {
            peer_jobs(&server, &client_id)
                .iter()
                .any(|j| j["id"] == slow && j["state"] == "cancelled")
                .then_some(())
        },
    );
    // A job that has ended cannot be cancelled; the client says why.
    let output = run_fail(
        server
            .cairn()
            .args(["peer", "cancel", &client_id, &backup.to_string()]),
    );
    assert!(
        stderr(&output).contains("only queued or running jobs"),
        "{}",
        stderr(&output)
    );
}

/// A server on HTTPS whose tokens name the relay's address, and the relay in front of it.
struct Fronted {
    server: DaemonSetup,
    _server_daemon: Daemon,
    relay: Relay,
}

fn fronted_server(mode: Mode) -> Fronted {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = DaemonSetup::new(&[], "");
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let cert = server.scratch.path("cert.pem");
    let key = server.scratch.path("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let relay = Relay::start(mode, port, certified.cert.der().clone());
    append(
        &server.config,
        &format!(
            "\n[server]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\npublic_url = \"https://127.0.0.1:{}\"\n",
            cert.display(),
            key.display(),
            relay.port
        ),
    );
    let server_daemon = server.start();
    Fronted {
        server,
        _server_daemon: server_daemon,
        relay,
    }
}

/// A client that trusts only the relay's CA.
fn client_behind(relay: &Relay, plans: &[(&str, &str)]) -> DaemonSetup {
    let client = DaemonSetup::new(plans, "");
    let ca = client.scratch.path("relay-ca.pem");
    std::fs::write(&ca, &relay.ca_pem).unwrap();
    append(
        &client.config,
        &format!("\n[multihost]\nca_file = \"{}\"\n", ca.display()),
    );
    client
}

/// Every form of the token's secret worth looking for in a capture.
fn secret_forms(token: &str) -> Vec<(String, Vec<u8>)> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    let parsed = cairn_sync::PairingToken::parse(token).unwrap();
    let body = URL_SAFE_NO_PAD
        .decode(token.strip_prefix("cairn-pair-v1:").unwrap())
        .unwrap();
    // The body is postcard: ... token id (length, bytes), then the 32 secret bytes.
    let id = parsed.token_id.as_str().as_bytes();
    let at = body
        .windows(id.len())
        .position(|w| w == id)
        .expect("the token id in the token body")
        + id.len();
    let secret = body[at..at + 32].to_vec();
    // The secret found is the one the token carries: changing it changes exactly there.
    let mut altered = parsed.clone();
    altered.secret = cairn_sync::TokenSecret::from_bytes([0; 32]);
    let altered_body = URL_SAFE_NO_PAD
        .decode(altered.to_text().strip_prefix("cairn-pair-v1:").unwrap())
        .unwrap();
    assert_eq!(altered_body[..at], body[..at]);
    assert_eq!(altered_body[at..at + 32], [0; 32]);
    let mut forms = vec![
        ("secret bytes".to_string(), secret.clone()),
        ("the whole token".to_string(), token.as_bytes().to_vec()),
        ("hex".to_string(), hex::encode(&secret).into_bytes()),
    ];
    for (name, engine) in [
        ("base64", &STANDARD),
        ("base64 no pad", &STANDARD_NO_PAD),
        ("base64url", &URL_SAFE),
        ("base64url no pad", &URL_SAFE_NO_PAD),
    ] {
        forms.push((name.to_string(), engine.encode(&secret).into_bytes()));
    }
    forms
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_relay_carries_the_session_blind_and_a_flipped_byte_only_costs_a_reconnect() {
    let Fronted {
        server,
        _server_daemon,
        relay,
    } = fronted_server(Mode::Forward);
    // Names that cannot turn up by chance in ciphertext or HTTP headers.
    let plan = "ledger-nightly-q7x";
    let client = client_behind(&relay, &[(plan, "")]);
    let vault = client.scratch.init_repo("vault-repo");
    let file_name = "quarterly-ledger-zq8.txt";
    std::fs::write(client.source(plan).join(file_name), "ledger\n").unwrap();
    append(
        &client.config,
        &format!(
            "\n[repositories.vault-kv93]\nlocation = \"{}\"\npassword_file = \"{}\"\n\n\
             [plans.archive-fm2]\nrepository = \"vault-kv93\"\nsources = [\"{}\"]\n",
            vault.display(),
            client.scratch.password_file.display(),
            client.source(plan).display()
        ),
    );
    let _client_daemon = client.start();

    // Pairing and the session work through the relay.
    let token = token_for(&server, "relayed", "ops.read,cmd.run,snapshots.browse", &[]);
    pair(&client, &token);
    let client_id = connected_client(&server, &[]);
    assert!(relay.connections() >= 1, "the client bypassed the relay");

    let first = run_plan(&client, plan);
    let archived = run_plan(&client, "archive-fm2");
    // The server runs a plan and browses a snapshot through the relay too.
    let output = run_ok(
        server
            .cairn()
            .args(["peer", "run", &client_id, "archive-fm2", "--json"]),
    );
    let remote: Value = serde_json::from_slice(&output.stdout).unwrap();
    let remote_id = remote["id"].as_i64().unwrap();
    client.wait_for("the remote run", Duration::from_secs(60), |jobs| {
        jobs.iter()
            .any(|j| j["id"] == remote_id && j["state"] == "succeeded")
    });
    let source = client.source(plan);
    let listing = stdout(&run_ok(server.cairn().args([
        "peer",
        "ls",
        &client_id,
        "latest",
        source.to_str().unwrap(),
        "--repository",
        "vault-kv93",
    ])));
    assert!(listing.contains(file_name), "{listing}");
    let expected = client.jobs();
    wait("the history on the server", Duration::from_secs(15), || {
        (summary(&peer_jobs(&server, &client_id)) == summary(&client.jobs())).then_some(())
    });

    // What the relay saw: the WebSocket upgrade and ciphertext. Not the secret in any
    // form, and none of the operation data.
    let capture = relay.capture();
    assert!(
        capture.len() > 1000,
        "the relay captured {} bytes",
        capture.len()
    );
    assert!(
        contains(&capture, b"/sync/v1"),
        "the capture is the plaintext the relay forwards"
    );
    for (form, bytes) in secret_forms(&token) {
        assert!(
            !contains(&capture, &bytes),
            "the relay saw the secret ({form})"
        );
    }
    let mut data: Vec<(String, Vec<u8>)> = vec![
        ("plan".into(), plan.into()),
        ("plan".into(), "archive-fm2".into()),
        ("repository".into(), "vault-kv93".into()),
        ("source path".into(), source.to_str().unwrap().into()),
        ("file name".into(), file_name.into()),
    ];
    for job in &expected {
        if let Some(snapshot) = job["snapshot"].as_str() {
            data.push(("snapshot id".into(), snapshot.into()));
            data.push(("short snapshot id".into(), snapshot[..8].into()));
        }
    }
    assert!(data.iter().any(|(what, _)| what == "snapshot id"));
    for (what, bytes) in &data {
        assert!(
            !contains(&capture, bytes),
            "the relay saw a {what}: {}",
            String::from_utf8_lossy(bytes)
        );
    }

    // Tamper: one flipped bit in the next frame the client sends. The session ends, the
    // client dials again (through the relay), and the server's copy equals the client's
    // history: no duplicate, no gap.
    let connections = relay.connections();
    relay.arm_tamper();
    let after = run_plan(&client, plan);
    wait("the relay to flip a byte", Duration::from_secs(30), || {
        (relay.tampered() == 1).then_some(())
    });
    wait("the client to dial again", Duration::from_secs(30), || {
        (relay.connections() > connections).then_some(())
    });
    let copied = wait(
        "the histories to converge after the tampering",
        Duration::from_secs(30),
        || {
            let copied = peer_jobs(&server, &client_id);
            (summary(&copied) == summary(&client.jobs())).then_some(copied)
        },
    );
    let mut ids: Vec<i64> = copied.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), copied.len(), "a duplicate: {copied:#?}");
    for id in [first, archived, remote_id, after] {
        assert!(ids.contains(&id), "job {id} missing: {copied:#?}");
    }
    assert_eq!(state_of(&peers(&server), &client_id), "connected");
}

#[test]
fn a_relay_posing_as_the_server_is_refused_before_the_client_proves_anything() {
    let Fronted {
        server,
        _server_daemon,
        relay,
    } = fronted_server(Mode::Impersonate);
    let client = client_behind(&relay, &[]);
    let _client_daemon = client.start();
    let token = token_for(&server, "victim", "ops.read", &[]);

    let output = run_fail(client.cairn().args(["peer", "pair", &token]));
    let error = stderr(&output);
    assert!(
        error.contains("another server") && error.contains("nothing was sent"),
        "the client says why: {error}"
    );
    assert!(
        relay.answered() >= 1,
        "the relay never answered the handshake"
    );
    // The relay's side ends when the client closes (or after 10 s of silence).
    wait("the relay to be done", Duration::from_secs(15), || {
        (relay.finished() >= 1).then_some(())
    });
    assert_eq!(
        relay.frames_after_answer(),
        0,
        "the client sent something (a proof?) to the impostor"
    );
    for (form, bytes) in secret_forms(&token) {
        assert!(
            !contains(&relay.capture(), &bytes),
            "the relay saw the secret ({form})"
        );
    }
    assert!(peers(&client).is_empty(), "{:?}", peers(&client));
    assert!(peers(&server).is_empty(), "{:?}", peers(&server));
    let output = run_ok(server.cairn().args(["peer", "token", "list", "--json"]));
    let tokens: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(tokens[0]["uses"], 0, "{tokens:?}");
}

#[test]
fn a_server_stopped_for_five_seconds_loses_nothing_and_duplicates_nothing() {
    let server = DaemonSetup::new(&[], "[server]\nlisten = \"127.0.0.1:0\"\n");
    let server_daemon = server.start();
    let client = DaemonSetup::new(&[("web", "")], "");
    let _client_daemon = client.start();
    pair(&client, &token_for(&server, "client", "ops.read", &[]));
    let client_id = connected_client(&server, &[]);
    let before = run_plan(&client, "web");
    wait(
        "the first job on the server",
        Duration::from_secs(10),
        || {
            peer_jobs(&server, &client_id)
                .iter()
                .any(|j| j["id"] == before && j["state"] == "succeeded")
                .then_some(())
        },
    );

    // Jobs made while the server is frozen wait in the client's log (or the socket).
    server_daemon.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    let during = run_plan(&client, "web");
    std::thread::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed()));
    server_daemon.signal(libc::SIGCONT);
    let after = run_plan(&client, "web");

    let copied = wait("the histories to agree", Duration::from_secs(30), || {
        let copied = peer_jobs(&server, &client_id);
        (summary(&copied) == summary(&client.jobs())).then_some(copied)
    });
    let mut ids: Vec<i64> = copied.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), copied.len(), "a duplicate: {copied:#?}");
    for id in [before, during, after] {
        assert!(ids.contains(&id), "job {id} missing: {copied:#?}");
    }
    wait("the session to be up", Duration::from_secs(30), || {
        (state_of(&peers(&server), &client_id) == "connected").then_some(())
    });
}

/// The other side frozen: a client stopped for five seconds. A command the server sends
/// meanwhile is answered once the client runs again (or fails with a reason, never hangs),
/// and a job the client made just before the freeze reaches the server with no duplicate.
#[test]
fn a_client_stopped_for_five_seconds_answers_afterwards_and_loses_nothing() {
    let server = DaemonSetup::new(&[], "[server]\nlisten = \"127.0.0.1:0\"\n");
    let _server_daemon = server.start();
    let client = DaemonSetup::new(&[("web", "")], "");
    let client_daemon = client.start();
    pair(
        &client,
        &token_for(&server, "client", "ops.read,cmd.run", &[]),
    );
    let client_id = connected_client(&server, &[]);
    let before = run_plan(&client, "web");

    client_daemon.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    // `peer run` while the client cannot answer: it waits, bounded, and ends either way.
    let mut run = server.cairn();
    run.args(["peer", "run", &client_id, "web", "--json"]);
    let waiting = std::thread::spawn(move || run.output().expect("cairn peer run"));
    std::thread::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed()));
    client_daemon.signal(libc::SIGCONT);
    let answered = waiting.join().unwrap();
    assert!(
        answered.status.success() || !stderr(&answered).trim().is_empty(),
        "a refused or failed command says why"
    );
    let remote = answered.status.success().then(|| {
        serde_json::from_slice::<Value>(&answered.stdout).unwrap()["id"]
            .as_i64()
            .unwrap()
    });
    let after = run_plan(&client, "web");

    let copied = wait("the histories to agree", Duration::from_secs(30), || {
        let copied = peer_jobs(&server, &client_id);
        (summary(&copied) == summary(&client.jobs())).then_some(copied)
    });
    let mut ids: Vec<i64> = copied.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), copied.len(), "a duplicate: {copied:#?}");
    for id in [Some(before), remote, Some(after)].into_iter().flatten() {
        assert!(ids.contains(&id), "job {id} missing: {copied:#?}");
    }
    assert_eq!(state_of(&peers(&server), &client_id), "connected");
}

/// One HTTP/1.1 request to the server's web listener with an API token; (status, Location
/// header, body).
fn web_request(
    base: &str,
    method: &str,
    path: &str,
    bearer: &str,
    form: &str,
) -> (u16, String, String) {
    use std::io::Read;
    let address = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the web listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .unwrap_or("")
        .to_string();
    (status, location, body.to_string())
}

/// The web UI's peer pages act on a client through the same remote commands as `cairn peer`:
/// the client's plans and jobs, a snapshot's directory, a job's log, a restore to a directory
/// on the client (and a relative target refused by the client, its reason shown).
#[test]
fn the_peer_pages_browse_restore_and_read_logs_on_a_client() {
    let server = DaemonSetup::new(&[], "[server]\nlisten = \"127.0.0.1:0\"\n");
    let _server_daemon = server.start();
    let client = DaemonSetup::new(&[("web", "")], "");
    std::fs::write(client.source("web").join("page.txt"), "served to the UI\n").unwrap();
    let _client_daemon = client.start();
    let token = token_for(
        &server,
        "ui-client",
        "ops.read,config.read,cmd.run,cmd.restore,logs.read,snapshots.browse",
        &[],
    );
    pair(&client, &token);
    let client_id = connected_client(&server, &[]);
    let job = run_plan(&client, "web");
    wait("the job on the server", Duration::from_secs(10), || {
        peer_jobs(&server, &client_id)
            .iter()
            .any(|j| j["id"] == job && j["state"] == "succeeded")
            .then_some(())
    });
    // Until a user exists the server answers only its setup link.
    run_ok(
        server
            .cairn()
            .args(["user", "add", "admin", "--role", "admin", "--password-file"])
            .arg(&server.scratch.password_file),
    );
    let bearer = stdout(&run_ok(
        server
            .cairn()
            .args(["token", "create", "ui", "--role", "admin"]),
    ))
    .trim()
    .to_string();
    let base = cairn_sync::PairingToken::parse(&token).unwrap().server_urls[0].clone();
    let web =
        |method: &str, path: &str, form: &str| web_request(&base, method, path, &bearer, form);
    let encode = |text: &str| text.replace('/', "%2F");

    let (status, _, page) = web("GET", &format!("/peers/{client_id}"), "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("data-job=\"{job}\"")), "{page}");
    assert!(page.contains("Browse or restore"), "{page}");
    let source = client.source("web");
    let (status, _, listing) = web(
        "GET",
        &format!(
            "/peers/{client_id}/browse?repository=main&snapshot=latest&path={}",
            encode(source.to_str().unwrap())
        ),
        "",
    );
    assert_eq!(status, 200, "{listing}");
    assert!(listing.contains("page.txt"), "{listing}");
    let (status, _, log) = web("GET", &format!("/peers/{client_id}/jobs/{job}/log"), "");
    assert_eq!(status, 200, "{log}");
    assert!(log.contains("<pre"), "{log}");

    let target = client.state_dir().join("restores").join("from-the-ui");
    let (status, location, _) = web(
        "POST",
        &format!("/peers/{client_id}/restore"),
        &format!(
            "repository=main&snapshot=latest&target={}&include=",
            encode(target.to_str().unwrap())
        ),
    );
    assert_eq!(status, 303);
    assert!(location.contains("ok="), "{location}");
    let restored = target
        .join(source.strip_prefix("/").unwrap())
        .join("page.txt");
    wait("the restored file", Duration::from_secs(60), || {
        std::fs::read(&restored).ok()
    });
    assert_eq!(std::fs::read(&restored).unwrap(), b"served to the UI\n");
    let (status, location, _) = web(
        "POST",
        &format!("/peers/{client_id}/restore"),
        "repository=main&snapshot=latest&target=relative&include=",
    );
    assert_eq!(status, 303);
    assert!(
        location.contains("error=") && location.contains("relative"),
        "{location}"
    );
}

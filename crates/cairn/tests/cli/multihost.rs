//! Multihost between real processes on loopback: a server daemon and two client daemons
//! pair with tokens, the clients' job records reach the server (never those a scope
//! excludes), revocation cuts a session within a second, a client killed with -9 and
//! restarted leaves no duplicate and no gap, and bad tokens are refused with their reason.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::{Daemon, DaemonSetup};
use crate::support::{run_fail, run_ok, stderr, stdout};

pub(crate) fn server() -> (DaemonSetup, Daemon) {
    let setup = DaemonSetup::new(&[], "[server]\nlisten = \"127.0.0.1:0\"\n");
    let daemon = setup.start();
    (setup, daemon)
}

pub(crate) fn token(
    server: &DaemonSetup,
    label: &str,
    ttl: &str,
    max_uses: u32,
    scopes: &[&str],
) -> String {
    token_for(server, label, ttl, max_uses, "ops.read", scopes)
}

pub(crate) fn token_for(
    server: &DaemonSetup,
    label: &str,
    ttl: &str,
    max_uses: u32,
    permissions: &str,
    scopes: &[&str],
) -> String {
    let max_uses = max_uses.to_string();
    let mut command = server.cairn();
    command.args([
        "peer",
        "token",
        "create",
        "--label",
        label,
        "--ttl",
        ttl,
        "--max-uses",
        &max_uses,
        "--permissions",
        permissions,
    ]);
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    let output = run_ok(&mut command);
    let text = stdout(&output).trim().to_string();
    assert!(text.starts_with("cairn-pair-v1:"), "{text}");
    text
}

pub(crate) fn peers(setup: &DaemonSetup) -> Vec<Value> {
    let output = run_ok(setup.cairn().args(["peer", "list", "--json"]));
    serde_json::from_slice(&output.stdout).expect("peer list --json")
}

pub(crate) fn peer_jobs(server: &DaemonSetup, peer: &str) -> Vec<Value> {
    let output = run_ok(server.cairn().args(["peer", "jobs", peer, "--json"]));
    serde_json::from_slice(&output.stdout).expect("peer jobs --json")
}

/// A free loopback port (bound, then released) for a server that must come back on the same
/// address: clients' pairings name it.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Appends `text` and a newline to a config file.
pub(crate) fn append(config: &std::path::Path, text: &str) {
    writeln!(
        std::fs::OpenOptions::new()
            .append(true)
            .open(config)
            .unwrap(),
        "{text}"
    )
    .unwrap();
}

/// Polls `check` every 100 ms until it gives a value, or panics after `limit`.
pub(crate) fn wait<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn state_of(peers: &[Value], id: &str) -> String {
    peers
        .iter()
        .find(|p| p["id"] == id)
        .map(|p| p["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Pairs `client` with the token; returns the server's instance id as the client sees it.
pub(crate) fn pair(client: &DaemonSetup, token: &str) -> String {
    let output = run_ok(client.cairn().args(["peer", "pair", token, "--json"]));
    let peer: Value = serde_json::from_slice(&output.stdout).expect("peer pair --json");
    assert_eq!(peer["role"], "server", "{peer}");
    peer["id"].as_str().unwrap().to_string()
}

/// The id the server knows `client` by: the one of its peers not yet in `known`.
fn new_client_id(server: &DaemonSetup, known: &[String]) -> String {
    wait(
        "the server to list the new client",
        Duration::from_secs(10),
        || {
            peers(server)
                .iter()
                .filter_map(|p| p["id"].as_str().map(String::from))
                .find(|id| !known.contains(id))
        },
    )
}

/// (id, state, snapshot) of jobs, sorted: what must agree on both sides.
pub(crate) fn summary(jobs: &[Value]) -> Vec<(i64, String, Value)> {
    let mut out: Vec<(i64, String, Value)> = jobs
        .iter()
        .map(|j| {
            (
                j["id"].as_i64().unwrap(),
                j["state"].as_str().unwrap().to_string(),
                j["snapshot"].clone(),
            )
        })
        .collect();
    out.sort_by_key(|(id, _, _)| *id);
    out
}

pub(crate) fn run_plan(client: &DaemonSetup, plan: &str) -> i64 {
    let output = run_ok(client.cairn().args(["jobs", "start", plan, "--json"]));
    let job: Value = serde_json::from_slice(&output.stdout).expect("jobs start --json");
    let id = job["id"].as_i64().expect("job id");
    client.wait_for(&format!("job {id}"), Duration::from_secs(60), |jobs| {
        jobs.iter()
            .any(|j| j["id"] == id && j["state"] == "succeeded")
    });
    id
}

#[test]
fn clients_pair_send_their_history_and_lose_it_on_revocation() {
    let (server, server_daemon) = server();

    // Client A: everything it runs reaches the server.
    let alpha = DaemonSetup::new(&[("web", "")], "");
    let alpha_daemon = alpha.start();
    let server_id = pair(&alpha, &token(&server, "alpha", "1h", 1, &[]));
    let alpha_id = new_client_id(&server, &[]);

    // Client B: its repository `secret` is outside the grant.
    let beta = DaemonSetup::new(&[("web", "")], "");
    let secret_repo = beta.scratch.init_repo("secret-repo");
    let source = beta.scratch.path("src-hidden");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("private.txt"), "private\n").unwrap();
    writeln!(
        std::fs::OpenOptions::new()
            .append(true)
            .open(&beta.config)
            .unwrap(),
        "\n[repositories.secret]\nlocation = \"{}\"\npassword_file = \"{}\"\n\n\
         [plans.hidden]\nrepository = \"secret\"\nsources = [\"{}\"]\n",
        secret_repo.display(),
        beta.scratch.password_file.display(),
        source.display()
    )
    .unwrap();
    let mut beta_daemon = beta.start();
    let beta_token = token_for(
        &server,
        "beta",
        "1h",
        1,
        "ops.read,cmd.run,snapshots.browse",
        &["*", "!repo:secret"],
    );
    assert_eq!(pair(&beta, &beta_token), server_id);
    let beta_id = new_client_id(&server, std::slice::from_ref(&alpha_id));

    // A second pairing while paired is refused with what to do.
    let output = run_fail(alpha.cairn().args(["peer", "pair", &beta_token]));
    assert!(
        stderr(&output).contains("peer revoke"),
        "{}",
        stderr(&output)
    );

    // Both sides see the sessions.
    wait(
        "both clients connected on the server",
        Duration::from_secs(10),
        || {
            let listed = peers(&server);
            (state_of(&listed, &alpha_id) == "connected"
                && state_of(&listed, &beta_id) == "connected")
                .then_some(())
        },
    );
    for client in [&alpha, &beta] {
        let listed = peers(client);
        assert_eq!(state_of(&listed, &server_id), "connected", "{listed:?}");
        let server_entry = listed.iter().find(|p| p["id"] == server_id).unwrap();
        let granted = server_entry["permissions"].as_array().unwrap();
        assert!(granted.contains(&"ops.read".into()), "{server_entry}");
    }

    // A backup on A shows up in the server's copy of A's history, as A records it.
    let alpha_job = run_plan(&alpha, "web");
    let alpha_jobs = alpha.jobs();
    let copied = wait(
        "alpha's backup on the server",
        Duration::from_secs(10),
        || {
            let copied = peer_jobs(&server, &alpha_id);
            (summary(&copied) == summary(&alpha_jobs)).then_some(copied)
        },
    );
    let backup = copied.iter().find(|j| j["id"] == alpha_job).unwrap();
    assert_eq!(backup["plan"], "web");
    assert_eq!(backup["kind"], "backup");
    assert!(backup["snapshot"].is_string(), "{backup}");
    assert_eq!(
        backup["incarnation"].as_str().map(str::len),
        Some(26),
        "{backup}"
    );

    // B's job on `secret` never reaches the server; its job on `main`, made after, does
    // (changes travel in order, so the earlier one was passed over, not delayed).
    let hidden_job = run_plan(&beta, "hidden");
    let web_job = run_plan(&beta, "web");
    let copied = wait(
        "beta's web backup on the server",
        Duration::from_secs(10),
        || {
            let copied = peer_jobs(&server, &beta_id);
            copied
                .iter()
                .any(|j| j["id"] == web_job && j["state"] == "succeeded")
                .then_some(copied)
        },
    );
    assert!(
        copied
            .iter()
            .all(|j| j["id"] != hidden_job && j["repository"] != "secret"),
        "{copied:#?}"
    );

    // The server runs B's plan remotely; the job comes back in B's history. A plan of the
    // excluded repository is refused by B itself (the server cannot know its repository),
    // and A, without cmd.run, refuses any.
    let output = run_ok(
        server
            .cairn()
            .args(["peer", "run", &beta_id, "web", "--json"]),
    );
    let remote: Value = serde_json::from_slice(&output.stdout).expect("peer run --json");
    let remote_id = remote["id"].as_i64().expect("the queued job's id");
    assert_eq!(remote["plan"], "web");
    beta.wait_for("the remote run", Duration::from_secs(60), |jobs| {
        jobs.iter()
            .any(|j| j["id"] == remote_id && j["state"] == "succeeded" && j["trigger"] == "manual")
    });
    wait(
        "the remote run on the server",
        Duration::from_secs(10),
        || {
            peer_jobs(&server, &beta_id)
                .iter()
                .any(|j| j["id"] == remote_id && j["state"] == "succeeded")
                .then_some(())
        },
    );
    let output = run_fail(server.cairn().args(["peer", "run", &beta_id, "hidden"]));
    assert!(stderr(&output).contains("refused"), "{}", stderr(&output));
    let output = run_fail(server.cairn().args(["peer", "run", &alpha_id, "web"]));
    assert!(stderr(&output).contains("cmd.run"), "{}", stderr(&output));
    assert_eq!(
        beta.jobs().iter().filter(|j| j["plan"] == "hidden").count(),
        1,
        "the refused run queued nothing"
    );

    // The server lists B's snapshot remotely; the excluded repository is refused.
    let source = beta.source("web");
    let output = run_ok(server.cairn().args([
        "peer",
        "ls",
        &beta_id,
        "latest",
        source.to_str().unwrap(),
        "--repository",
        "main",
        "--json",
    ]));
    let listing: Value = serde_json::from_slice(&output.stdout).expect("peer ls --json");
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["file.txt"], "{listing}");
    let output =
        run_fail(
            server
                .cairn()
                .args(["peer", "ls", &beta_id, "latest", "--repository", "secret"]),
        );
    assert!(
        stderr(&output).contains("not granted"),
        "{}",
        stderr(&output)
    );

    // Revocation ends A's session within a second, and A cannot come back.
    run_ok(server.cairn().args(["peer", "revoke", &alpha_id]));
    let revoked_at = Instant::now();
    wait("alpha's session to end", Duration::from_secs(5), || {
        (state_of(&peers(&alpha), &server_id) != "connected").then_some(())
    });
    assert!(
        revoked_at.elapsed() <= Duration::from_secs(1),
        "alpha's session lasted {:?} after revocation",
        revoked_at.elapsed()
    );
    assert_eq!(state_of(&peers(&server), &alpha_id), "revoked");
    wait(
        "alpha to learn it is revoked",
        Duration::from_secs(15),
        || (state_of(&peers(&alpha), &server_id) == "revoked").then_some(()),
    );
    assert!(
        server_daemon.log_text().contains("refused"),
        "the server logs the refused reconnection:\n{}",
        server_daemon.log_text()
    );
    drop(alpha_daemon);

    // kill -9 B, restart it, run again: the server's copy equals B's own history (scope
    // applied), without a duplicate or a gap.
    beta_daemon.signal(libc::SIGKILL);
    beta_daemon.wait(Duration::from_secs(10));
    let _beta_daemon = beta.start();
    run_plan(&beta, "web");
    let expected: Vec<Value> = beta
        .jobs()
        .into_iter()
        .filter(|j| j["repository"] != "secret")
        .collect();
    let copied = wait(
        "beta's history to converge",
        Duration::from_secs(15),
        || {
            let copied = peer_jobs(&server, &beta_id);
            (summary(&copied) == summary(&expected)).then_some(copied)
        },
    );
    let mut ids: Vec<i64> = copied.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), copied.len(), "a duplicate: {copied:#?}");
    assert_eq!(state_of(&peers(&server), &beta_id), "connected");
}

#[test]
fn bad_tokens_are_refused_with_their_reason() {
    let (server, _server_daemon) = server();
    let client = DaemonSetup::new(&[], "");
    let _client_daemon = client.start();
    let refused = |token: &str| -> String {
        let output = run_fail(client.cairn().args(["peer", "pair", token]));
        stderr(&output)
    };

    // Used up: max uses 1, used by another client first.
    let once = token(&server, "once", "1h", 1, &[]);
    let other = DaemonSetup::new(&[], "");
    let _other_daemon = other.start();
    pair(&other, &once);
    let error = refused(&once);
    assert!(
        error.contains("already used as often as it allows"),
        "{error}"
    );

    // A wrong secret: the server refuses the proof.
    let mut wrong =
        cairn_sync::PairingToken::parse(&token(&server, "wrong", "1h", 1, &[])).unwrap();
    wrong.secret = cairn_sync::TokenSecret::from_bytes([7; 32]);
    let error = refused(&wrong.to_text());
    assert!(error.contains("secret does not match"), "{error}");

    // A token for another server: the fingerprint does not match, nothing is sent.
    let mut elsewhere =
        cairn_sync::PairingToken::parse(&token(&server, "elsewhere", "1h", 1, &[])).unwrap();
    elsewhere.server_fingerprint = cairn_sync::Fingerprint::from_bytes([9; 32]);
    let error = refused(&elsewhere.to_text());
    assert!(error.contains("another server"), "{error}");

    // Expired.
    let short = token(&server, "short", "1s", 1, &[]);
    std::thread::sleep(Duration::from_millis(1100));
    let error = refused(&short);
    assert!(error.contains("expired"), "{error}");

    // Nothing was paired by the refusals; the listed uses say what happened.
    let listed = peers(&client);
    assert!(listed.is_empty(), "{listed:?}");
    let output = run_ok(server.cairn().args(["peer", "token", "list", "--json"]));
    let tokens: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let uses = |label: &str| tokens.iter().find(|t| t["label"] == label).unwrap()["uses"].clone();
    assert_eq!(uses("once"), 1);
    assert_eq!(uses("wrong"), 0);
    assert_eq!(uses("elsewhere"), 0);
    assert!(!String::from_utf8_lossy(&output.stdout).contains("secret_hash"));
}

#[test]
fn a_client_pairs_from_its_config_over_https_trusting_only_its_ca_file() {
    let server = DaemonSetup::new(&[], "");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = server.scratch.path("cert.pem");
    let key = server.scratch.path("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    writeln!(
        std::fs::OpenOptions::new()
            .append(true)
            .open(&server.config)
            .unwrap(),
        "\n[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    )
    .unwrap();
    let _server_daemon = server.start();
    let token_text = token(&server, "tls", "1h", 2, &[]);
    assert!(
        cairn_sync::PairingToken::parse(&token_text)
            .unwrap()
            .server_urls[0]
            .starts_with("https://"),
        "the token names the HTTPS listener"
    );

    // Trusting the system's roots, the self-signed server is not reached: nothing pairs.
    let untrusting = DaemonSetup::new(&[], &format!("[multihost]\nserver = \"{token_text}\"\n"));
    let untrusting_daemon = untrusting.start();
    // With the server's certificate as its CA, the client pairs at start, from its config.
    let client = DaemonSetup::new(
        &[("web", "")],
        &format!(
            "[multihost]\nserver = \"{token_text}\"\nca_file = \"{}\"\nlabel = \"tls-client\"\n",
            cert.display()
        ),
    );
    let _client_daemon = client.start();
    let server_id = wait(
        "the client to pair from its config",
        // Pairing from the config is retried with the dialer's backoff (1 s, 2 s, 4 s, …): on
        // a loaded machine a first attempt that times out costs seconds, not a failure.
        Duration::from_secs(60),
        || {
            peers(&client)
                .into_iter()
                .find(|p| p["state"] == "connected")
                .map(|p| p["id"].as_str().unwrap().to_string())
        },
    );
    let client_id = new_client_id(&server, &[]);
    let job = run_plan(&client, "web");
    wait("the job on the server", Duration::from_secs(10), || {
        peer_jobs(&server, &client_id)
            .iter()
            .any(|j| j["id"] == job && j["state"] == "succeeded")
            .then_some(())
    });
    assert!(!server_id.is_empty());
    assert!(peers(&untrusting).is_empty(), "{:?}", peers(&untrusting));
    let log = untrusting_daemon.log_text();
    assert!(
        log.contains("TLS"),
        "the refused certificate is logged:\n{log}"
    );
    assert_eq!(peers(&server).len(), 1);
}

#[test]
fn a_client_dials_again_after_the_server_is_killed_and_history_resumes() {
    // A fixed port: the client's pairing names the server's address.
    let port = free_port();
    let server = DaemonSetup::new(&[], &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    let mut server_daemon = server.start();
    let client = DaemonSetup::new(&[("web", "")], "");
    let _client_daemon = client.start();
    let server_id = pair(&client, &token(&server, "client", "1h", 1, &[]));
    let client_id = new_client_id(&server, &[]);
    let first = run_plan(&client, "web");
    wait(
        "the first job on the server",
        Duration::from_secs(10),
        || {
            peer_jobs(&server, &client_id)
                .iter()
                .any(|j| j["id"] == first && j["state"] == "succeeded")
                .then_some(())
        },
    );

    server_daemon.signal(libc::SIGKILL);
    server_daemon.wait(Duration::from_secs(10));
    wait(
        "the client to see the server gone",
        Duration::from_secs(10),
        || (state_of(&peers(&client), &server_id) == "disconnected").then_some(()),
    );
    // Jobs made while the server is away are sent once it is back.
    let offline = run_plan(&client, "web");
    let _server_daemon = server.start();
    wait("the client to dial again", Duration::from_secs(30), || {
        (state_of(&peers(&server), &client_id) == "connected").then_some(())
    });
    let expected = client.jobs();
    let copied = wait("the histories to agree", Duration::from_secs(10), || {
        let copied = peer_jobs(&server, &client_id);
        (summary(&copied) == summary(&expected)).then_some(copied)
    });
    assert!(copied.iter().any(|j| j["id"] == offline), "{copied:#?}");
}

//! Multihost config between real daemons on loopback: a server pushes plans to a client (it
//! runs them, their jobs come back to the server), a bad push is refused with the reason
//! reported back while the client keeps its old config, a push outside the grant's scopes is
//! refused on the server, `peer config show` carries no secret, and a repository the server
//! shares is usable on the client for backups while forget and prune are refused there.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::daemon::DaemonSetup;
use crate::multihost::{append, run_plan, server, wait};
use crate::support::{restic, run_fail, run_ok, stderr, stdout};

/// Pairs `client` with a token of `server` granting `permissions` (scopes: `scopes`);
/// returns the id the server knows the client by.
fn pair(server: &DaemonSetup, client: &DaemonSetup, permissions: &str, scopes: &[&str]) -> String {
    let mut command = server.cairn();
    command.args([
        "peer",
        "token",
        "create",
        "--label",
        "client",
        "--ttl",
        "1h",
        "--permissions",
        permissions,
    ]);
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    let token = stdout(&run_ok(&mut command)).trim().to_string();
    run_ok(client.cairn().args(["peer", "pair", &token]));
    wait("the client connected", Duration::from_secs(10), || {
        let output = run_ok(server.cairn().args(["peer", "list", "--json"]));
        let peers: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        peers
            .iter()
            .find(|p| p["state"] == "connected")
            .and_then(|p| p["id"].as_str().map(String::from))
    })
}

fn push(server: &DaemonSetup, peer: &str, name: &str, fragment: &str) -> std::process::Output {
    let file = server.scratch.path(name);
    std::fs::write(&file, fragment).unwrap();
    server
        .cairn()
        .args(["peer", "config", "push", peer])
        .arg(&file)
        .output()
        .unwrap()
}

fn show(server: &DaemonSetup, peer: &str) -> Value {
    let output = run_ok(
        server
            .cairn()
            .args(["peer", "config", "show", peer, "--json"]),
    );
    serde_json::from_slice(&output.stdout).expect("peer config show --json")
}

/// Waits until the client acknowledged `generation`; returns the shown config.
fn acked(server: &DaemonSetup, peer: &str, generation: u64) -> Value {
    wait(
        &format!("generation {generation} acknowledged"),
        Duration::from_secs(20),
        || {
            let shown = show(server, peer);
            (shown["acked_generation"].as_u64() == Some(generation)).then_some(shown)
        },
    )
}

fn source(dir: &Path, text: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("file.txt"), text).unwrap();
    dir.display().to_string()
}

#[test]
fn pushed_plans_run_bad_pushes_are_refused_and_secrets_stay_home() {
    let (server, _server_daemon) = server();
    let client = DaemonSetup::new(&[("web", "")], "");
    // A repository whose password command holds a secret: its text must never be reported.
    append(
        &client.config,
        &format!(
            "\n[repositories.vault]\nlocation = \"{}\"\npassword_command = \"echo hunter2-marker\"\n",
            client.scratch.path("vault").display()
        ),
    );
    let client_daemon = client.start();
    let peer = pair(
        &server,
        &client,
        "ops.read,config.read,config.write",
        &["*", "!repo:private"],
    );

    // A pushed plan is applied, runs on the client, and its job reaches the server.
    let pushed_source = source(&client.scratch.path("src-pushed"), "pushed\n");
    let fragment =
        format!("[plans.pushed]\nrepository = \"main\"\nsources = [\"{pushed_source}\"]\n");
    let output = push(&server, &peer, "good.toml", &fragment);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = acked(&server, &peer, 1);
    assert!(shown["ack_error"].is_null(), "{shown}");
    let job = run_plan(&client, "pushed");
    wait(
        "the pushed plan's job on the server",
        Duration::from_secs(20),
        || {
            let output = run_ok(server.cairn().args(["peer", "jobs", &peer, "--json"]));
            let jobs: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
            jobs.iter()
                .any(|j| j["id"] == job && j["plan"] == "pushed" && j["state"] == "succeeded")
                .then_some(())
        },
    );
    let managed = std::fs::read_to_string(client.state.join("managed.toml")).unwrap();
    assert!(managed.contains("[plans.pushed]"), "{managed}");

    // A bad push: the client refuses it, says why, and keeps running generation 1.
    let bad = format!(
        "[plans.broken]\nrepository = \"nowhere\"\nsources = [\"{pushed_source}\"]\n\n\
         [repositories.main]\nlocation = \"/tmp/x\"\npassword_file = \"/tmp/x.pass\"\n"
    );
    let output = push(&server, &peer, "bad.toml", &bad);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = acked(&server, &peer, 2);
    let error = shown["ack_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("nowhere"), "{shown}");
    assert!(error.contains("already"), "{shown}");
    let human = stdout(&run_ok(
        server.cairn().args(["peer", "config", "show", &peer]),
    ));
    assert!(human.contains("refused by the client"), "{human}");
    assert_eq!(
        std::fs::read_to_string(client.state.join("managed.toml")).unwrap(),
        managed,
        "a refused push must leave the managed file alone"
    );
    run_plan(&client, "pushed");

    // Outside the grant's scopes: refused on the server, nothing stored.
    let output = push(
        &server,
        &peer,
        "private.toml",
        "[repositories.private]\nlocation = \"/srv/private\"\npassword_file = \"/etc/p.pass\"\n",
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("config.write on repository \"private\" is not granted"),
        "{}",
        stderr(&output)
    );
    assert_eq!(show(&server, &peer)["generation"], 2);

    // The client's report: its plans and repositories, never a secret.
    let shown = wait("the client's report", Duration::from_secs(20), || {
        let shown = show(&server, &peer);
        let names: Vec<&str> = shown["report"]["plans"]
            .as_array()?
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        (names.contains(&"pushed") && names.contains(&"web")).then_some(shown)
    });
    let text = shown.to_string()
        + &stdout(&run_ok(
            server.cairn().args(["peer", "config", "show", &peer]),
        ));
    assert!(text.contains("vault"), "{text}");
    let password = std::fs::read_to_string(&client.scratch.password_file).unwrap();
    let identity = std::fs::read_to_string(client.state.join("identity.key")).unwrap();
    for secret in [password.trim(), identity.trim(), "hunter2-marker"] {
        assert!(!text.contains(secret), "a secret left the client: {text}");
    }
    assert!(
        text.contains(&client.scratch.password_file.display().to_string()),
        "the password file is named: {text}"
    );

    // Pushed while the client is down: queued, and applied once it is back.
    drop(client_daemon);
    let later = format!("[plans.later]\nrepository = \"main\"\nsources = [\"{pushed_source}\"]\n");
    let output = push(&server, &peer, "later.toml", &later);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = show(&server, &peer);
    assert_eq!(
        (
            shown["generation"].as_u64(),
            shown["acked_generation"].as_u64()
        ),
        (Some(3), Some(2)),
        "{shown}"
    );
    let _client_daemon = client.start();
    let shown = acked(&server, &peer, 3);
    assert!(shown["ack_error"].is_null(), "{shown}");
    run_plan(&client, "later");
}

#[test]
fn shared_repositories_serve_backups_and_stay_maintained_by_their_owner() {
    let (server, server_daemon) = server();
    let team = server.scratch.path("team");
    let team_pass = server.scratch.path("team.pass");
    std::fs::write(&team_pass, "team-secret-7781\n").unwrap();
    run_ok(
        restic()
            .arg("-r")
            .arg(&team)
            .arg("--password-file")
            .arg(&team_pass)
            .arg("init"),
    );
    let client = DaemonSetup::new(&[], "");
    let client_daemon = client.start();
    let peer = pair(
        &server,
        &client,
        "ops.read,config.read,config.write,repo.receive_shared",
        &[],
    );

    // The server shares `team` with the client: after a reload it appears there, its
    // password sealed.
    append(
        &server.config,
        &format!(
            "\n[repositories.team]\nlocation = \"{}\"\npassword_file = \"{}\"\nshare_with = [\"peer:{peer}\"]\n",
            team.display(),
            team_pass.display()
        ),
    );
    server_daemon.signal(libc::SIGHUP);
    let managed_path = client.state.join("managed.toml");
    let managed = wait(
        "the shared repository on the client",
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(&managed_path)
                .ok()
                .filter(|text| text.contains("[repositories.team]"))
        },
    );
    assert!(
        managed.contains("password_sealed = \"sealed:v1:"),
        "{managed}"
    );
    assert!(!managed.contains("team-secret-7781"), "{managed}");
    // The client reports it back by location only: no password, no sealed value.
    let shown = wait(
        "the shared repository in the report",
        Duration::from_secs(20),
        || {
            let shown = show(&server, &peer);
            shown["report"]["repositories"]
                .as_array()?
                .iter()
                .any(|r| r["name"] == "team")
                .then_some(shown)
        },
    );
    let text = shown.to_string();
    assert!(
        !text.contains("team-secret-7781") && !text.contains("sealed:v1"),
        "{text}"
    );

    // A backup into it from the client, through a pushed plan.
    let src = source(&client.scratch.path("src-team"), "to the team\n");
    let output = push(
        &server,
        &peer,
        "team.toml",
        &format!("[plans.toteam]\nrepository = \"team\"\nsources = [\"{src}\"]\n"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = acked(&server, &peer, 1);
    assert!(shown["ack_error"].is_null(), "{shown}");
    run_plan(&client, "toteam");
    let snapshots = run_ok(
        restic()
            .arg("-r")
            .arg(&team)
            .arg("--password-file")
            .arg(&team_pass)
            .args(["snapshots", "--json"]),
    );
    let snapshots: Vec<Value> = serde_json::from_slice(&snapshots.stdout).unwrap();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");

    // Its maintenance is the owner's: forget and prune are refused on the client.
    for args in [vec!["prune"], vec!["forget", "--keep-last", "1"]] {
        let output = run_fail(
            client
                .cairn()
                .arg("-r")
                .arg(&team)
                .arg("--password-file")
                .arg(&team_pass)
                .args(&args),
        );
        let message = stderr(&output);
        assert!(message.contains("maintains it"), "{args:?}: {message}");
        assert_eq!(message.trim().lines().count(), 1, "{message}");
    }

    // Taken out of share_with, it leaves the client (once no pushed plan uses it).
    let main_src = source(&client.scratch.path("src-home"), "home\n");
    let output = push(
        &server,
        &peer,
        "home.toml",
        &format!("[plans.home]\nrepository = \"main\"\nsources = [\"{main_src}\"]\n"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    acked(&server, &peer, 2);
    let text = std::fs::read_to_string(&server.config).unwrap();
    std::fs::write(
        &server.config,
        text.replace(&format!("share_with = [\"peer:{peer}\"]\n"), ""),
    )
    .unwrap();
    server_daemon.signal(libc::SIGHUP);
    wait(
        "the shared repository gone from the client",
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(&managed_path).ok().filter(|text| {
                !text.contains("[repositories.team]") && text.contains("[plans.home]")
            })
        },
    );
    for log in [client_daemon.log_text(), server_daemon.log_text()] {
        assert!(
            !log.contains("team-secret-7781"),
            "a password in a log: {log}"
        );
    }
}

//! `cairn user` and `cairn token` through the real binary on a real state directory: users
//! and tokens are made, listed and removed; passwords come from a file or standard input;
//! a token is printed once and is real (the accounts library accepts it); usage errors are
//! one line with exit 2; and neither a password nor a token reaches the database file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use cairn_access::accounts::system_clock;
use cairn_access::{Accounts, InstanceKey, Role, SessionPolicy};
use cairn_state::StateStore;

use crate::support::{cairn, run_fail, run_ok, stderr, stdout, Scratch};

const ALICE_PASSWORD: &str = "alice's long password";
const BOB_PASSWORD: &str = "bob typed this on stdin";
const NEW_PASSWORD: &str = "alice's second password";

struct Setup {
    scratch: Scratch,
    config: PathBuf,
    state: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let scratch = Scratch::new();
        let state = scratch.path("state");
        let config = scratch.path("cairn.toml");
        std::fs::write(&config, format!("state_dir = \"{}\"\n", state.display())).unwrap();
        Setup {
            scratch,
            config,
            state,
        }
    }

    fn cairn(&self, args: &[&str]) -> Command {
        let mut command = cairn();
        command.arg("--config").arg(&self.config).args(args);
        command
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.scratch.path(name);
        std::fs::write(&path, format!("{text}\n")).unwrap();
        path
    }

    fn with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cairn(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let output = run_ok(self.cairn(args).arg("--json"));
        serde_json::from_slice(&output.stdout).expect("--json")
    }

    /// Every byte of the state database (main file and write-ahead log).
    fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for name in ["state.db", "state.db-wal", "state.db-shm"] {
            if let Ok(more) = std::fs::read(self.state.join(name)) {
                bytes.extend(more);
            }
        }
        assert!(bytes.len() > 4096, "the database was read");
        bytes
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// One line on stderr, starting `cairn: `, and the exit code.
fn one_error_line(output: &Output, code: i32) -> String {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{text}");
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.starts_with("cairn: "), "{text}");
    text
}

fn accounts_in(state: &Path) -> Accounts {
    let policy = SessionPolicy {
        idle: std::time::Duration::from_secs(1800),
        max_age: std::time::Duration::from_secs(3600),
    };
    Accounts::new(
        Arc::new(StateStore::open(state).unwrap()),
        Arc::new(InstanceKey::load_or_create(state).unwrap()),
        system_clock(),
        policy,
    )
}

#[test]
fn users_are_added_listed_and_removed() {
    let setup = Setup::new();
    let alice_file = setup.file("alice-password", ALICE_PASSWORD);
    let added = run_ok(
        setup
            .cairn(&["user", "add", "alice", "--role", "admin", "--password-file"])
            .arg(&alice_file),
    );
    assert_eq!(stdout(&added), "added user alice (admin)\n");
    let bob = setup.with_stdin(
        &["user", "add", "bob", "--role", "viewer"],
        &format!("{BOB_PASSWORD}\n"),
    );
    assert!(bob.status.success(), "{}", stderr(&bob));

    let users = setup.json(&["user", "list"]);
    let rows: Vec<(String, String, bool)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["role"].as_str().unwrap().to_string(),
                u["totp_enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("alice".to_string(), "admin".to_string(), false),
            ("bob".to_string(), "viewer".to_string(), false)
        ]
    );
    let text = stdout(&run_ok(&mut setup.cairn(&["user", "list"])));
    assert!(
        text.contains("alice") && text.contains("viewer") && text.contains("off"),
        "{text}"
    );

    // The passwords from the file and from stdin are the ones that log in.
    let accounts = accounts_in(&setup.state);
    accounts.check_password("alice", ALICE_PASSWORD).unwrap();
    accounts.check_password("bob", BOB_PASSWORD).unwrap();

    // Refusals: a duplicate, a short password, the last admin; one line each, exit 1.
    let duplicate = run_fail(
        setup
            .cairn(&["user", "add", "bob", "--role", "viewer", "--password-file"])
            .arg(&alice_file),
    );
    assert!(one_error_line(&duplicate, 1).contains("\"bob\""));
    let short = setup.with_stdin(&["user", "add", "carol", "--role", "viewer"], "short\n");
    let message = one_error_line(&short, 1);
    assert!(
        message.contains("12 characters") && !message.contains("short\n"),
        "{message}"
    );
    let last_admin = run_fail(&mut setup.cairn(&["user", "remove", "alice"]));
    assert!(one_error_line(&last_admin, 1).contains("last admin"));
    let unknown = run_fail(&mut setup.cairn(&["user", "remove", "nobody"]));
    assert!(one_error_line(&unknown, 1).contains("nobody"));

    let new_file = setup.file("new-password", NEW_PASSWORD);
    run_ok(
        setup
            .cairn(&["user", "passwd", "alice", "--password-file"])
            .arg(&new_file),
    );
    assert!(accounts.check_password("alice", ALICE_PASSWORD).is_err());
    accounts.check_password("alice", NEW_PASSWORD).unwrap();
    run_ok(&mut setup.cairn(&["user", "reset-2fa", "alice"]));
    run_ok(&mut setup.cairn(&["user", "remove", "bob"]));
    let names: Vec<String> = setup
        .json(&["user", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice"]);

    // Each change, refused or done, is in the audit log as the local user from the CLI.
    let log = accounts.audit_log(100, None).unwrap();
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .rev()
        .map(|r| (r.action.as_str(), r.target.as_str(), r.result.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("user.add", "alice", "ok"),
            ("user.add", "bob", "ok"),
            ("user.add", "bob", "failed"),
            ("user.add", "carol", "failed"),
            ("user.remove", "alice", "failed"),
            ("user.remove", "nobody", "failed"),
            ("user.passwd", "alice", "ok"),
            ("user.reset-2fa", "alice", "ok"),
            ("user.remove", "bob", "ok"),
        ]
    );
    assert!(log
        .iter()
        .all(|r| r.actor.starts_with("local:") && r.address == "cli"));

    let database = setup.database_bytes();
    for secret in [ALICE_PASSWORD, BOB_PASSWORD, NEW_PASSWORD] {
        assert!(
            !contains(&database, secret),
            "the database holds a password"
        );
    }
}

#[test]
fn a_token_is_printed_once_and_never_stored() {
    let setup = Setup::new();
    let created = run_ok(&mut setup.cairn(&[
        "token",
        "create",
        "ci",
        "--role",
        "operator",
        "--scope",
        "repo:main",
        "--scope",
        "!plan:db",
        "--expires",
        "90d",
    ]));
    let printed = stdout(&created);
    assert_eq!(printed.lines().count(), 1, "{printed:?}");
    let token = printed.trim_end().to_string();
    assert_eq!(printed, format!("{token}\n"));
    assert!(
        token.starts_with("cairn_") && token.len() == 6 + 43,
        "{token}"
    );

    // The printed token is a real one, with its role and scopes.
    let accounts = accounts_in(&setup.state);
    let principal = accounts
        .token_principal(&token)
        .unwrap()
        .expect("a live token");
    assert_eq!(principal.role, Role::Operator);
    assert_eq!(principal.scopes.to_string(), "repo:main,!plan:db");

    let listed = setup.json(&["token", "list"]);
    let text = listed.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&token[6..]),
        "{text}"
    );
    let ci = &listed[0];
    assert_eq!(ci["name"], "ci");
    assert_eq!(ci["role"], "operator");
    assert_eq!(ci["scopes"], serde_json::json!(["repo:main", "!plan:db"]));
    assert_eq!(ci["revoked"], false);
    let expires: chrono::DateTime<chrono::Utc> =
        ci["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((89.9..=90.0).contains(&days), "{days}");
    assert!(!stdout(&run_ok(&mut setup.cairn(&["token", "list"]))).contains(&token));

    // Usage errors: one line, exit 2, nothing made.
    for args in [
        &["token", "create", "x", "--role", "root"][..],
        &[
            "token", "create", "x", "--role", "viewer", "--scope", "host:x",
        ][..],
        &[
            "token",
            "create",
            "x",
            "--role",
            "viewer",
            "--expires",
            "soon",
        ][..],
        &["user", "add", "carol", "--role", "superuser"][..],
    ] {
        let output = setup.cairn(args).stdin(Stdio::null()).output().unwrap();
        one_error_line(&output, 2);
    }
    assert_eq!(setup.json(&["token", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(setup.json(&["user", "list"]).as_array().unwrap().len(), 0);

    let duplicate = run_fail(&mut setup.cairn(&["token", "create", "ci", "--role", "viewer"]));
    assert!(one_error_line(&duplicate, 1).contains("\"ci\""));
    assert!(stdout(&duplicate).is_empty());

    run_ok(&mut setup.cairn(&["token", "revoke", "ci"]));
    assert!(accounts.token_principal(&token).unwrap().is_none());
    assert_eq!(setup.json(&["token", "list"])[0]["revoked"], true);
    let again = run_fail(&mut setup.cairn(&["token", "revoke", "ci"]));
    one_error_line(&again, 1);

    let database = setup.database_bytes();
    assert!(!contains(&database, &token), "the database holds the token");
    assert!(
        !contains(&database, &token[6..]),
        "the database holds the token's body"
    );
}

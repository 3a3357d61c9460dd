//! Server self-backup and total-loss recovery (issue 13, part 3) through the real binary: a
//! daemon serving users (one with TOTP), an API token, two plans whose repositories mirror to
//! the S3 test server; `cairn server-backup` through that daemon; everything on the machine
//! deleted; `cairn server-restore … --with-repositories` on a new state directory; the
//! restored daemon serving the same logins, plans, snapshots and files. Also retention
//! (`keep = 7`), Ctrl-C on a server backup, and the refusals, each one line with nothing
//! written. Every wait is bounded; the daemons and the black-hole listener die with the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_access::accounts::system_clock;
use cairn_access::{Accounts, InstanceKey, SessionPolicy};
use cairn_state::StateStore;
use cairn_storage::s3_test_server::{self as s3server, unique_prefix, S3TestServer, BUCKET};
use serde_json::Value;

use crate::support::browser::totp_code;
use crate::support::{cairn, stderr, stdout, Scratch};

/// Each step of the end-to-end test must finish within this.
const STEP: Duration = Duration::from_secs(60);
const ALICE_PASSWORD: &str = "alice's long password";
const BOB_PASSWORD: &str = "bob's long password too";

/// A child process killed and reaped when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cairn daemon --config CONFIG`, its address read from its log (bounded).
fn start_daemon(config: &Path, log: &Path) -> (Killed, String) {
    let child = cairn()
        .arg("--config")
        .arg(config)
        .env("CAIRN_LOG", "info")
        .arg("daemon")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn cairn daemon");
    let daemon = Killed(child);
    let deadline = Instant::now() + STEP;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(at) = text.find("web UI and API on http://") {
            let rest = &text[at + "web UI and API on http://".len()..];
            let address: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            // The socket for the CLI too.
            return (daemon, address);
        }
        assert!(
            Instant::now() < deadline,
            "the daemon printed no address within {STEP:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 exchange over a plain socket: status, headers (lower-case names), body.
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(STEP)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nOrigin: http://{address}\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"));
    let mut answer_headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            answer_headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).unwrap();
    let chunked = answer_headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(&raw) } else { raw };
    (status, answer_headers, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

/// `application/x-www-form-urlencoded` of a value: letters and digits as they are.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn session_cookie(headers: &[(String, String)]) -> Option<String> {
    headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .find_map(|(_, value)| {
            let pair = value.split(';').next()?;
            (pair.starts_with("cairn_session=") && pair.len() > "cairn_session=".len())
                .then(|| pair.to_string())
        })
}

/// Signs in with a password (and a TOTP code when given); the session cookie.
fn sign_in(address: &str, name: &str, password: &str, totp_secret: Option<&str>) -> String {
    let form = format!("name={name}&password={}&next=%2F", form_encode(password));
    let (status, headers, body) = http(
        address,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert!(
        status == 303 || status == 302,
        "login of {name}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    let mut cookie = session_cookie(&headers).expect("a session cookie");
    if let Some(secret) = totp_secret {
        let form = format!("code={}&next=%2F", totp_code(secret, 1));
        let (status, headers, body) = http(
            address,
            "POST",
            "/login/totp",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", &cookie),
            ],
            form.as_bytes(),
        );
        assert!(
            status == 303 || status == 302,
            "second factor of {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        cookie = session_cookie(&headers).expect("a rotated session cookie");
    }
    cookie
}

fn api_json(address: &str, path: &str, auth: (&str, &str)) -> Value {
    let (status, _, body) = http(address, "GET", path, &[auth], b"");
    assert_eq!(
        status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn s3_credentials_text() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nAWS_DEFAULT_REGION=us-east-1\n",
        s3server::ACCESS_KEY_ID,
        s3server::SECRET_ACCESS_KEY
    )
}

/// Runs with a deadline: the output, or a panic naming the command.
fn run_bounded(command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let mut child = Killed(child);
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return Output {
                status,
                stdout: out.join().unwrap(),
                stderr: err.join().unwrap(),
            };
        }
        assert!(
            Instant::now() < deadline,
            "{command:?} took longer than {STEP:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A command expected to fail, within the deadline.
fn fail(command: &mut Command) -> Output {
    let output = run_bounded(command);
    assert!(
        !output.status.success(),
        "{command:?} should have failed:\nstdout: {}",
        stdout(&output)
    );
    output
}

fn ok(command: &mut Command) -> Output {
    let output = run_bounded(command);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    output
}

fn accounts_in(state: &Path) -> Accounts {
    Accounts::new(
        Arc::new(StateStore::open(state).unwrap()),
        Arc::new(InstanceKey::load_or_create(state).unwrap()),
        system_clock(),
        SessionPolicy {
            idle: Duration::from_secs(1800),
            max_age: Duration::from_secs(3600),
        },
    )
}

#[test]
fn a_lost_server_comes_back_with_its_users_plans_and_repositories() {
    let scratch = Scratch::new();
    let s3 = S3TestServer::shared();
    let prefix = unique_prefix("server-backup");
    let config = scratch.path("cairn.toml");
    let state = scratch.path("state");
    let credentials = scratch.path("s3.env");
    write_private(&credentials, &s3_credentials_text());
    let mut sources = Vec::new();
    for (plan, repository) in [("web", "main"), ("docs", "archive")] {
        scratch.init_repo(repository);
        let source = scratch.path(&format!("src-{plan}"));
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("notes.txt"), format!("the {plan} notes\n")).unwrap();
        std::fs::write(source.join("data.bin"), vec![plan.len() as u8; 20_000]).unwrap();
        sources.push(source);
    }
    let mut text = format!(
        "# The server of the disaster recovery test.\n\
         state_dir = \"{state}\"\n\
         [server]\nlisten = \"127.0.0.1:0\"\n\
         [server_backup]\ndestination = \"{backups}\"\ncredentials_file = \"{credentials}\"\nkeep = 7\n",
        state = state.display(),
        backups = s3.url(BUCKET, &format!("{prefix}/_server-backups")),
        credentials = credentials.display(),
    );
    for (plan, repository, source) in [
        ("web", "main", &sources[0]),
        ("docs", "archive", &sources[1]),
    ] {
        text.push_str(&format!(
            "[repositories.{repository}]\n\
             location = \"{location}\"  # the disk that will be lost\n\
             password_file = \"{password}\"\n\
             [repositories.{repository}.offsite]\n\
             destination = \"{offsite}\"\ncredentials_file = \"{credentials}\"\n\
             [plans.{plan}]\nrepository = \"{repository}\"\nsources = [\"{source}\"]\n",
            location = scratch.path(repository).display(),
            password = scratch.password_file.display(),
            offsite = s3.url(BUCKET, &format!("{prefix}/{repository}")),
            credentials = credentials.display(),
            source = source.display(),
        ));
    }
    std::fs::write(&config, &text).unwrap();
    let cli = || {
        let mut c = cairn();
        c.arg("--config").arg(&config);
        c
    };

    // Users (bob with TOTP), a token, backups mirrored offsite.
    let alice_password = scratch.path("alice.pw");
    std::fs::write(&alice_password, ALICE_PASSWORD).unwrap();
    ok(cli()
        .args(["user", "add", "alice", "--role", "admin", "--password-file"])
        .arg(&alice_password));
    let bob_password = scratch.path("bob.pw");
    std::fs::write(&bob_password, BOB_PASSWORD).unwrap();
    ok(cli()
        .args([
            "user",
            "add",
            "bob",
            "--role",
            "operator",
            "--password-file",
        ])
        .arg(&bob_password));
    let totp_secret = {
        let accounts = accounts_in(&state);
        let bob = accounts.user("bob").unwrap();
        let enrolment = accounts.begin_totp(bob.id, "cairn").unwrap();
        accounts
            .confirm_totp(bob.id, &totp_code(&enrolment.secret_base32, 0))
            .unwrap();
        enrolment.secret_base32
    };
    let token = stdout(&ok(
        cli().args(["token", "create", "ci", "--role", "operator"])
    ))
    .trim()
    .to_string();
    ok(cli().args(["run", "web"]));
    ok(cli().args(["run", "docs"]));

    // The daemon runs; `cairn server-backup` goes through it. The key is shown once.
    let (daemon, _) = start_daemon(&config, &scratch.path("daemon.log"));
    let backup = ok(cli().arg("server-backup"));
    assert!(
        stdout(&backup).contains(".cairn-server"),
        "{}",
        stdout(&backup)
    );
    let jobs = stdout(&ok(cli().args(["--json", "jobs"])));
    assert!(jobs.contains("server-backup"), "{jobs}");
    let outside = scratch.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let recovery_key = outside.join("recovery.key");
    let shown = stdout(&ok(cli().args(["recovery-key", "show", "--once"])));
    assert!(shown.starts_with("cairn-recovery-v1-"), "{shown}");
    write_private(&recovery_key, &shown);
    let outside_credentials = outside.join("s3.env");
    write_private(&outside_credentials, &s3_credentials_text());
    let original = std::fs::read(sources[0].join("notes.txt")).unwrap();
    drop(daemon);

    // The machine is lost: state, config, repositories and the secret files.
    for lost in [&state, &scratch.path("main"), &scratch.path("archive")] {
        std::fs::remove_dir_all(lost).unwrap();
    }
    for lost in [&config, &credentials, &scratch.password_file] {
        std::fs::remove_file(lost).unwrap();
    }

    // The recovery sequence.
    let started = Instant::now();
    let new_state = scratch.path("new-state");
    let new_config = scratch.path("restored.toml");
    let repositories = scratch.path("repositories");
    let restore = ok(cairn()
        .arg("server-restore")
        .arg(s3.url(BUCKET, &format!("{prefix}/_server-backups")))
        .arg("--recovery-key-file")
        .arg(&recovery_key)
        .arg("--credentials-file")
        .arg(&outside_credentials)
        .arg("--state-dir")
        .arg(&new_state)
        .arg("--config-out")
        .arg(&new_config)
        .arg("--with-repositories")
        .arg(&repositories));
    let summary = stdout(&restore);
    assert!(summary.contains("2 users, 2 plans"), "{summary}");
    assert!(summary.contains("2 repositories"), "{summary}");
    let (_daemon, address) = start_daemon(&new_config, &scratch.path("daemon2.log"));
    let elapsed = started.elapsed();
    println!(
        "disaster recovery: server-restore with 2 repositories and the daemon serving again in {:.1} s",
        elapsed.as_secs_f64()
    );
    let restored_text = std::fs::read_to_string(&new_config).unwrap();
    assert!(
        restored_text.contains("# the disk that will be lost"),
        "{restored_text}"
    );
    assert!(restored_text.contains(&repositories.join("main").display().to_string()));
    assert!(scratch.password_file.exists() && credentials.exists());

    // The same people sign in; bob with a code from the same TOTP secret.
    for (name, password, secret) in [
        ("alice", ALICE_PASSWORD, None),
        ("bob", BOB_PASSWORD, Some(totp_secret.as_str())),
    ] {
        let cookie = sign_in(&address, name, password, secret);
        let me = api_json(&address, "/api/v1/me", ("Cookie", &cookie));
        assert_eq!(me["identity"]["name"].as_str(), Some(name), "{me}");
    }
    let bearer = format!("Bearer {token}");
    let auth = ("Authorization", bearer.as_str());
    let plans = api_json(&address, "/api/v1/plans", auth);
    let names: Vec<&str> = plans
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"web") && names.contains(&"docs"), "{plans}");
    let snapshots = api_json(&address, "/api/v1/repositories/main/snapshots", auth);
    assert_eq!(snapshots.as_array().unwrap().len(), 1, "{snapshots}");
    // The second repository, restored from its offsite too, browses.
    let tree = api_json(
        &address,
        &format!(
            "/api/v1/repositories/archive/snapshots/latest/tree?path={}",
            sources[1].display()
        ),
        auth,
    );
    assert!(tree.to_string().contains("notes.txt"), "{tree}");
    // The job history came back: the two plan runs made before the loss.
    let (status, _, jobs) = http(&address, "GET", "/api/v1/jobs", &[auth], b"");
    assert_eq!(status, 200);
    let jobs = String::from_utf8_lossy(&jobs);
    assert!(
        jobs.contains("\"plan\":\"web\"") && jobs.contains("\"plan\":\"docs\""),
        "{jobs}"
    );
    let file = sources[0].join("notes.txt");
    let (status, _, body) = http(
        &address,
        "GET",
        &format!(
            "/api/v1/repositories/main/snapshots/latest/download?path={}",
            file.display()
        ),
        &[auth],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, original, "the restored file differs");
    // A new backup runs on the restored server.
    std::fs::write(
        sources[0].join("after.txt"),
        b"written after the recovery\n",
    )
    .unwrap();
    let (status, _, body) = http(
        &address,
        "POST",
        "/api/v1/plans/web/run",
        &[auth, ("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let job: Value = serde_json::from_slice(&body).unwrap();
    let path = format!("/api/v1/jobs/{}", job["id"]);
    let deadline = Instant::now() + STEP;
    loop {
        let answer = api_json(&address, &path, auth);
        match answer["job"]["state"].as_str() {
            Some("succeeded") => break,
            Some("queued" | "running") => {}
            other => panic!("the backup after the recovery ended {other:?}: {answer}"),
        }
        assert!(
            Instant::now() < deadline,
            "the backup took longer than {STEP:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let snapshots = api_json(&address, "/api/v1/repositories/main/snapshots", auth);
    assert_eq!(snapshots.as_array().unwrap().len(), 2, "{snapshots}");
}

/// A config whose server backups go to a local directory; `(config, state, backups)`.
fn local_server(scratch: &Scratch, keep: usize) -> (PathBuf, PathBuf, PathBuf) {
    let config = scratch.path("cairn.toml");
    let state = scratch.path("state");
    let backups = scratch.path("server-backups");
    let repository = scratch.init_repo("main");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[server_backup]\ndestination = \"{}\"\nkeep = {keep}\n\
             [repositories.main]\nlocation = \"{}\"\npassword_file = \"{}\"\n\
             [plans.web]\nrepository = \"main\"\nsources = [\"/etc/hostname\"]\n",
            state.display(),
            backups.display(),
            repository.display(),
            scratch.password_file.display()
        ),
    )
    .unwrap();
    (config, state, backups)
}

fn archives(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cairn-server"))
        .collect();
    names.sort();
    names
}

#[test]
fn seven_server_backups_are_kept_and_the_eighth_removes_the_oldest() {
    let scratch = Scratch::new();
    let (config, _, backups) = local_server(&scratch, 7);
    let mut made = Vec::new();
    for _ in 0..8 {
        let output = ok(cairn().arg("--config").arg(&config).arg("server-backup"));
        let line = stdout(&output);
        let name = line
            .split_whitespace()
            .find(|w| w.ends_with(".cairn-server"))
            .unwrap_or_else(|| panic!("no archive name in {line}"))
            .to_string();
        made.push(name);
    }
    let left = archives(&backups);
    assert_eq!(left.len(), 7, "{left:?}");
    assert!(
        !left.contains(&made[0]),
        "the oldest {} is still there: {left:?}",
        made[0]
    );
    for name in &made[1..] {
        assert!(left.contains(name), "{name} is missing: {left:?}");
    }
}

fn one_line(output: &Output) -> String {
    let text = stderr(output);
    assert_eq!(text.lines().count(), 1, "not one line: {text:?}");
    assert_eq!(output.status.code(), Some(1), "{text}");
    text
}

#[test]
fn refusals_are_one_line_and_write_nothing() {
    let scratch = Scratch::new();
    let (config, _, backups) = local_server(&scratch, 7);
    let cli = || {
        let mut c = cairn();
        c.arg("--config").arg(&config);
        c
    };
    ok(cli().arg("server-backup"));
    let key = stdout(&ok(cli().args(["recovery-key", "show", "--once"])));
    let again = one_line(&fail(cli().args(["recovery-key", "show", "--once"])));
    assert!(again.contains("already shown"), "{again}");
    assert!(again.contains("cairn recovery-key rotate"), "{again}");
    let key_file = scratch.path("recovery.key");
    std::fs::write(&key_file, &key).unwrap();

    let restore = |key: &Path, state: &Path, config_out: &Path| {
        let mut c = cairn();
        c.arg("server-restore")
            .arg(&backups)
            .arg("--recovery-key-file")
            .arg(key)
            .arg("--state-dir")
            .arg(state)
            .arg("--config-out")
            .arg(config_out);
        fail(&mut c)
    };
    let new_state = scratch.path("new-state");
    let new_config = scratch.path("new.toml");

    // Another key: a valid one of another server.
    let wrong = scratch.path("wrong.key");
    std::fs::write(
        &wrong,
        "cairn-recovery-v1-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
    )
    .unwrap();
    let line = one_line(&restore(&wrong, &new_state, &new_config));
    assert!(line.contains("the recovery key does not open"), "{line}");
    assert!(!new_state.exists() && !new_config.exists());

    // A state directory in use.
    std::fs::create_dir_all(&new_state).unwrap();
    std::fs::write(new_state.join("state.db"), b"in use").unwrap();
    let line = one_line(&restore(&key_file, &new_state, &new_config));
    assert!(line.contains("is not empty"), "{line}");
    assert!(!new_config.exists());
    assert_eq!(
        std::fs::read(new_state.join("state.db")).unwrap(),
        b"in use"
    );
    std::fs::remove_dir_all(&new_state).unwrap();

    // A config that exists.
    std::fs::write(&new_config, b"# mine\n").unwrap();
    let line = one_line(&restore(&key_file, &new_state, &new_config));
    assert!(line.contains("exists"), "{line}");
    assert!(!new_state.exists());
    assert_eq!(std::fs::read(&new_config).unwrap(), b"# mine\n");
    std::fs::remove_file(&new_config).unwrap();

    // Nothing made at or before --at.
    let mut early = cairn();
    early
        .arg("server-restore")
        .arg(&backups)
        .args(["--at", "2000-01-01T00:00:00Z", "--recovery-key-file"])
        .arg(&key_file)
        .arg("--state-dir")
        .arg(&new_state)
        .arg("--config-out")
        .arg(&new_config);
    let line = one_line(&fail(&mut early));
    assert!(
        line.contains("at or before 2000-01-01 00:00:00 UTC"),
        "{line}"
    );
    assert!(!new_state.exists() && !new_config.exists());

    // A secret file the backup holds exists here with other contents: never overwritten.
    std::fs::write(&scratch.password_file, "another password\n").unwrap();
    let line = one_line(&restore(&key_file, &new_state, &new_config));
    assert!(
        line.contains("differs from the copy in the backup"),
        "{line}"
    );
    assert!(!new_state.exists() && !new_config.exists());
    assert_eq!(
        std::fs::read_to_string(&scratch.password_file).unwrap(),
        "another password\n"
    );
    std::fs::write(&scratch.password_file, "correct horse battery staple\n").unwrap();

    // With the right key it opens (the refusals above were about what they said).
    ok(cairn()
        .arg("server-restore")
        .arg(&backups)
        .arg("--recovery-key-file")
        .arg(&key_file)
        .arg("--state-dir")
        .arg(&new_state)
        .arg("--config-out")
        .arg(&new_config));
    // No daemon ever ran there, so no instance key; the state and the recovery key came back.
    assert!(new_state.join("state.db").exists() && new_state.join("recovery.pub").exists());
    assert!(std::fs::read_to_string(&new_config)
        .unwrap()
        .contains(&format!("state_dir = \"{}\"", new_state.display())));
}

/// Ctrl-C on a server backup stuck on its destination (a socket that accepts and never
/// answers) ends the command with 130 and records the job cancelled, not running.
#[test]
fn ctrl_c_cancels_a_server_backup() {
    let scratch = Scratch::new();
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = black_hole.local_addr().unwrap().port();
    let credentials = scratch.path("s3.env");
    write_private(&credentials, &s3_credentials_text());
    let (config, state, _) = local_server(&scratch, 7);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("destination = \"{}\"", scratch.path("server-backups").display()),
        &format!(
            "destination = \"s3:http://127.0.0.1:{port}/bucket/backups\"\ncredentials_file = \"{}\"",
            credentials.display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let mut child = Killed(
        cairn()
            .arg("--config")
            .arg(&config)
            .arg("server-backup")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Running once it has connected to the black hole.
    black_hole.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + STEP;
    let _held = loop {
        if let Ok((stream, _)) = black_hole.accept() {
            break stream;
        }
        assert!(
            Instant::now() < deadline,
            "server-backup never reached its destination"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let state_of_job = || -> String {
        let connection = rusqlite::Connection::open(state.join("state.db")).unwrap();
        connection
            .query_row(
                "SELECT state FROM jobs WHERE kind = 'server-backup'",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    assert_eq!(state_of_job(), "running");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server-backup ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(state_of_job(), "cancelled");
}

/// A key derived from a passphrase: the server stores salt and public key only, and a
/// fresh machine opens the archive with the passphrase alone.
#[test]
fn a_passphrase_recovery_key_restores_from_the_passphrase_alone() {
    let scratch = Scratch::new();
    let (config, state, backups) = local_server(&scratch, 7);
    let passphrase = scratch.path("passphrase");
    std::fs::write(&passphrase, "a passphrase long enough to remember\n").unwrap();
    let rotated = ok(cairn()
        .arg("--config")
        .arg(&config)
        .args(["recovery-key", "rotate", "--passphrase-file"])
        .arg(&passphrase));
    assert!(
        stdout(&rotated).contains("still need the old key"),
        "{}",
        stdout(&rotated)
    );
    let stored = std::fs::read_to_string(state.join("recovery.pub")).unwrap();
    assert!(!stored.contains("passphrase long"), "{stored}");
    assert!(!state.join("recovery-key.once").exists());
    ok(cairn().arg("--config").arg(&config).arg("server-backup"));
    let new_state = scratch.path("new-state");
    ok(cairn()
        .arg("server-restore")
        .arg(&backups)
        .arg("--recovery-key-file")
        .arg(&passphrase)
        .arg("--state-dir")
        .arg(&new_state)
        .arg("--config-out")
        .arg(scratch.path("new.toml")));
    assert!(new_state.join("state.db").exists());
}

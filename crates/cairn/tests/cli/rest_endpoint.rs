//! The restic REST endpoint end to end: a real `cairn daemon` serving `/rest/NAME/`, logins
//! made with `cairn rest-user`, stock restic 0.14 backing up, listing and restoring through
//! it, what append-only and the quota refuse, hostile uploads over a raw socket, cairn's own
//! `rest:` backend, and the server's maintenance plan forgetting and pruning what the clients
//! wrote.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::rng::Rng;
use crate::support::{cairn, restic, restored, run_fail, run_ok, stderr, stdout, Scratch};

/// The repositories' password (the scratch password file) and a login's from a file.
const STRANGER_PASSWORD: &str = "stranger password 5521";

struct Server {
    scratch: Scratch,
    config: PathBuf,
    clients: PathBuf,
    /// `127.0.0.1:PORT`
    address: String,
    daemon: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl Server {
    fn start(quota: &str) -> Server {
        let scratch = Scratch::new();
        let clients = scratch.path("clients");
        let spare = scratch.path("spare");
        let config = scratch.path("cairn.toml");
        let password = scratch.password_file.display();
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{state}\"\n\
                 [server]\nlisten = \"127.0.0.1:0\"\n\
                 [repositories.clients]\nlocation = \"{clients}\"\npassword_file = \"{password}\"\n\
                 rest = {{ enabled = true, append_only = true, quota = \"{quota}\" }}\n\
                 [repositories.spare]\nlocation = \"{spare}\"\npassword_file = \"{password}\"\n\
                 rest = {{ enabled = true }}\n\
                 [plans.clients-maintenance]\nrepository = \"clients\"\nretention = {{ keep_last = 1 }}\n",
                state = scratch.path("state").display(),
                clients = clients.display(),
                spare = spare.display(),
            ),
        )
        .unwrap();
        let log = scratch.path("daemon.log");
        let mut daemon = cairn()
            .arg("--config")
            .arg(&config)
            .env("CAIRN_LOG", "info")
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn cairn daemon");
        let stdout = daemon.stdout.take().expect("piped stdout");
        let (links, link) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://") {
                    let _ = links.send(line[at + "http://".len()..].to_string());
                }
            }
        });
        let line = link
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "the daemon printed no URL within 30 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let address = line.split('/').next().unwrap().to_string();
        Server {
            scratch,
            config,
            clients,
            address,
            daemon,
            log,
        }
    }

    fn cairn(&self) -> Command {
        let mut command = cairn();
        command.arg("--config").arg(&self.config);
        command
    }

    fn url(&self, user: &str, password: &str, repository: &str) -> String {
        format!(
            "rest:http://{user}:{password}@{}/rest/{repository}/",
            self.address
        )
    }

    fn restic(&self, url: &str) -> Command {
        let mut command = restic();
        command
            .arg("-r")
            .arg(url)
            .arg("--password-file")
            .arg(&self.scratch.password_file);
        command
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Every file below `dir` (relative), except lock files, which clients may remove.
fn files_without_locks(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.retain(|f| !f.starts_with("locks/"));
    files.sort();
    files
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, files);
        } else {
            files.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// One HTTP/1.1 request over a plain socket, the path sent exactly as given (no client
/// normalises `..` or escapes); the status code.
fn raw_request(address: &str, method: &str, path: &str, login: (&str, &str), body: &[u8]) -> u16 {
    use base64::Engine;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", login.0, login.1));
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {credentials}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn snapshot_count(command: &mut Command) -> usize {
    let output = run_ok(command.args(["snapshots", "--json"]));
    serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout)
        .expect("snapshots --json")
        .len()
}

#[test]
fn restic_backs_up_through_the_endpoint_and_cannot_destroy_its_history() {
    let server = Server::start("8M");
    let password = stdout(&run_ok(server.cairn().args([
        "rest-user",
        "add",
        "laptop",
        "--repository",
        "clients",
    ])))
    .trim()
    .to_string();
    assert!(password.len() >= 40, "a generated password: {password:?}");
    let stranger_file = server.scratch.path("stranger.pass");
    std::fs::write(&stranger_file, format!("{STRANGER_PASSWORD}\n")).unwrap();
    run_ok(
        server
            .cairn()
            .args(["rest-user", "add", "stranger", "--repository", "spare"])
            .arg("--password-file")
            .arg(&stranger_file),
    );
    let url = server.url("laptop", &password, "clients");

    // Stock restic: init, two backups, list, restore byte for byte.
    run_ok(server.restic(&url).arg("init"));
    let source = server.scratch.path("src");
    std::fs::create_dir_all(source.join("docs")).unwrap();
    let mut rng = Rng::new(77);
    std::fs::write(
        source.join("docs/report.txt"),
        "quarterly numbers\n".repeat(500),
    )
    .unwrap();
    std::fs::write(source.join("photo.bin"), rng.bytes(300_000)).unwrap();
    run_ok(server.restic(&url).arg("backup").arg(&source));
    std::fs::write(source.join("docs/notes.txt"), "second day\n").unwrap();
    run_ok(server.restic(&url).arg("backup").arg(&source));
    assert_eq!(snapshot_count(&mut server.restic(&url)), 2);
    let target = server.scratch.path("restore");
    run_ok(
        server
            .restic(&url)
            .args(["restore", "latest", "--target"])
            .arg(&target),
    );
    for file in ["docs/report.txt", "docs/notes.txt", "photo.bin"] {
        assert_eq!(
            std::fs::read(restored(&target, &source).join(file)).unwrap(),
            std::fs::read(source.join(file)).unwrap(),
            "{file}"
        );
    }

    // Append-only: forget is refused and nothing is deleted.
    // (restic 0.14 retries each refused delete for about a minute before it gives up.)
    let before = files_without_locks(&server.clients);
    let forget = server
        .restic(&url)
        .args(["forget", "--keep-last", "1", "--prune"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&forget.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&forget.stderr)
    );
    assert_eq!(
        files_without_locks(&server.clients),
        before,
        "nothing deleted"
    );
    assert_eq!(snapshot_count(&mut server.restic(&url)), 2);

    // Another login: not this repository, for reads or listings.
    let stranger_url = server.url(
        "stranger",
        &STRANGER_PASSWORD.replace(' ', "%20"),
        "clients",
    );
    let refused = run_fail(server.restic(&stranger_url).arg("snapshots"));
    assert!(!refused.status.success());
    let stranger = ("stranger", STRANGER_PASSWORD);
    for path in [
        "/rest/clients/keys/",
        "/rest/clients/config",
        "/rest/clients/snapshots/",
    ] {
        assert_eq!(
            raw_request(&server.address, "GET", path, stranger, b""),
            404,
            "{path}"
        );
    }

    // cairn init through rest: (the stranger's own repository), which restic then opens.
    let spare_url = server.url("stranger", &STRANGER_PASSWORD.replace(' ', "%20"), "spare");
    run_ok(server.scratch.cairn(Path::new(&spare_url)).arg("init"));
    assert_eq!(snapshot_count(&mut server.restic(&spare_url)), 0);

    // Hostile uploads: wrong hash, overwrite, traversal and malformed names.
    let laptop = ("laptop", password.as_str());
    let outside_before = files_without_locks(server.scratch.dir.path());
    let body = b"not what the name says";
    let other = sha256_hex(b"something else");
    assert_eq!(
        raw_request(
            &server.address,
            "POST",
            &format!("/rest/clients/data/{other}"),
            laptop,
            body
        ),
        400
    );
    let existing = before
        .iter()
        .find_map(|f| f.strip_prefix("snapshots/"))
        .expect("a snapshot file")
        .to_string();
    let existing_bytes = std::fs::read(server.clients.join("snapshots").join(&existing)).unwrap();
    assert_eq!(
        raw_request(
            &server.address,
            "POST",
            &format!("/rest/clients/snapshots/{existing}"),
            laptop,
            &existing_bytes
        ),
        403,
        "overwrite"
    );
    let upper = existing.to_uppercase();
    for (path, expected) in [
        ("/rest/clients/keys/../config".to_string(), 400),
        ("/rest/clients/keys/%2e%2e".to_string(), 400),
        (
            "/rest/clients/keys/..%2f..%2fspare%2fconfig".to_string(),
            400,
        ),
        (format!("/rest/clients/snapshots/{upper}"), 400),
        (format!("/rest/clients/snapshots/{}", &existing[..63]), 400),
        ("/rest/clients/../spare/config".to_string(), 404),
        ("/rest/clients/%2e%2e/spare/config".to_string(), 404),
        ("/rest/../clients/config".to_string(), 404),
    ] {
        assert_eq!(
            raw_request(&server.address, "POST", &path, laptop, body),
            expected,
            "{path}"
        );
    }
    assert_eq!(
        files_without_locks(server.scratch.dir.path()),
        outside_before,
        "nothing written anywhere"
    );

    // The quota: a backup that would pass it fails with 507 and leaves a clean repository.
    let big = server.scratch.path("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(big.join("random.bin"), rng.bytes(12 << 20)).unwrap();
    let over = run_fail(server.restic(&url).arg("backup").arg(&big));
    assert!(stderr(&over).contains("507"), "{}", stderr(&over));
    assert!(server.log_text().contains("quota"), "the refusal is logged");
    run_ok(server.restic(&url).args(["--no-lock", "check"]));
    run_ok(server.scratch.cairn(&server.clients).arg("check"));
    assert_eq!(snapshot_count(&mut server.restic(&url)), 2);

    // cairn backs up through rest: too, and restic checks the result.
    let second = server.scratch.path("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(second.join("config.ini"), "[section]\nkey = value\n").unwrap();
    run_ok(
        server
            .scratch
            .cairn(Path::new(&url))
            .arg("backup")
            .arg(&second),
    );
    run_ok(server.restic(&url).arg("check"));
    assert_eq!(snapshot_count(&mut server.restic(&url)), 3);
    let listed = stdout(&run_ok(
        server.scratch.cairn(Path::new(&url)).arg("snapshots"),
    ));
    assert!(!listed.contains(&password), "no password in output");

    // While a client's backup holds restic's shared lock, the maintenance run deletes nothing.
    {
        let storage = std::sync::Arc::new(cairn_storage::LocalStore::new(&server.clients));
        let repo = cairn_repo::Repository::open(storage, b"correct horse battery staple").unwrap();
        let _client_lock = repo.lock(false).unwrap();
        let locked = run_fail(server.cairn().args(["run", "clients-maintenance"]));
        let said = format!("{}{}", stdout(&locked), stderr(&locked));
        assert!(said.contains("lock"), "{said}");
        assert_eq!(snapshot_count(&mut server.restic(&url)), 3);
    }

    // The server's maintenance plan forgets (keep_last 1 per host and paths) and prunes.
    run_ok(server.cairn().args(["run", "clients-maintenance"]));
    assert_eq!(snapshot_count(&mut server.restic(&url)), 2);
    run_ok(server.restic(&url).args(["--no-lock", "check"]));

    // Logins are listed without secrets, and a removed one is refused from then on.
    let users = stdout(&run_ok(server.cairn().args([
        "rest-user",
        "list",
        "--json",
    ])));
    assert!(
        users.contains("\"laptop\"") && users.contains("\"clients\""),
        "{users}"
    );
    assert!(
        !users.contains(&password) && !users.contains("argon2"),
        "{users}"
    );
    run_ok(server.cairn().args(["rest-user", "remove", "laptop"]));
    assert_eq!(
        raw_request(&server.address, "GET", "/rest/clients/keys/", laptop, b""),
        401
    );
    assert!(
        !server.log_text().contains(&password),
        "no password in the log"
    );
}

#[test]
fn rest_user_commands_check_their_input() {
    let scratch = Scratch::new();
    let config = scratch.path("cairn.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[repositories.served]\nlocation = \"{}\"\npassword_file = \"{}\"\nrest = {{ enabled = true }}\n\
             [repositories.private]\nlocation = \"{}\"\npassword_file = \"{}\"\n",
            scratch.path("state").display(),
            scratch.path("served").display(),
            scratch.password_file.display(),
            scratch.path("private").display(),
            scratch.password_file.display(),
        ),
    )
    .unwrap();
    let cli = || {
        let mut command = cairn();
        command.arg("--config").arg(&config);
        command
    };
    let not_served =
        run_fail(cli().args(["rest-user", "add", "laptop", "--repository", "private"]));
    assert_eq!(not_served.status.code(), Some(2));
    assert!(
        stderr(&not_served).contains("not served"),
        "{}",
        stderr(&not_served)
    );
    let unknown = run_fail(cli().args(["rest-user", "add", "laptop", "--repository", "nope"]));
    assert_eq!(unknown.status.code(), Some(2));
    let short = scratch.path("short.pass");
    std::fs::write(&short, "short\n").unwrap();
    let refused = run_fail(
        cli()
            .args(["rest-user", "add", "laptop", "--repository", "served"])
            .arg("--password-file")
            .arg(&short),
    );
    assert!(
        stderr(&refused).contains("shorter than 12"),
        "{}",
        stderr(&refused)
    );
    let added = run_ok(
        cli()
            .args(["rest-user", "add", "laptop", "--repository", "served"])
            .arg("--password-file")
            .arg(&scratch.password_file),
    );
    assert!(stdout(&added).contains("added rest user laptop"));
    assert!(!stdout(&added).contains("correct horse"));
    let again = run_fail(cli().args(["rest-user", "add", "laptop", "--repository", "served"]));
    assert!(
        stderr(&again).contains("exists already"),
        "{}",
        stderr(&again)
    );
    let list = stdout(&run_ok(cli().args(["rest-user", "list"])));
    assert!(list.contains("laptop") && list.contains("served"), "{list}");
    run_ok(cli().args(["rest-user", "remove", "laptop"]));
    let gone = run_fail(cli().args(["rest-user", "remove", "laptop"]));
    assert!(stderr(&gone).contains("no rest user"), "{}", stderr(&gone));
    // Each change, refused by the accounts or done, is audited as the local user from the CLI.
    let state = scratch.path("state");
    let accounts = cairn_access::Accounts::new(
        std::sync::Arc::new(cairn_state::StateStore::open(&state).unwrap()),
        std::sync::Arc::new(cairn_access::InstanceKey::load_or_create(&state).unwrap()),
        cairn_access::accounts::system_clock(),
        cairn_access::SessionPolicy {
            idle: Duration::from_secs(60),
            max_age: Duration::from_secs(60),
        },
    );
    let actions: Vec<(String, String)> = accounts
        .audit_log(100, None)
        .unwrap()
        .iter()
        .rev()
        .map(|r| (r.action.clone(), r.result.clone()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("rest-user.add", "failed"),
        ("rest-user.add", "ok"),
        ("rest-user.add", "failed"),
        ("rest-user.remove", "ok"),
        ("rest-user.remove", "failed"),
    ]
    .iter()
    .map(|(a, r)| (a.to_string(), r.to_string()))
    .collect();
    assert_eq!(actions, expected);
}

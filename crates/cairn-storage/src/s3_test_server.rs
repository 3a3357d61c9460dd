//! A real S3 server for tests: `scripts/s3-test-server.py` (moto with SigV4 checking on).
//!
//! Tests that need S3 start one here; there is no skipping. If Python or moto is missing the
//! start panics with what to install (the README's test command installs both).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use crate::s3::{S3Credentials, S3Location, S3Options, S3Store};

/// The key pair every test server accepts with full access to S3.
pub const ACCESS_KEY_ID: &str = "AKIACAIRNTESTKEY0001";
pub const SECRET_ACCESS_KEY: &str = "cairn-test-secret-0001-do-not-use";
/// A second user that may do everything but delete objects.
pub const NO_DELETE_KEY_ID: &str = "AKIACAIRNNODELETE001";
pub const NO_DELETE_SECRET: &str = "cairn-no-delete-secret";
/// The bucket every test server starts with.
pub const BUCKET: &str = "cairn-test";

pub struct S3TestServer {
    child: Option<Child>,
    port: u16,
    buckets: Vec<String>,
    /// Buckets created with Object Lock (and so versioning) enabled.
    locked_buckets: Vec<String>,
}

impl S3TestServer {
    /// Starts a server on a free loopback port with the bucket [`BUCKET`] and `extra_buckets`.
    pub fn start(extra_buckets: &[&str]) -> S3TestServer {
        S3TestServer::start_with_locked(extra_buckets, &[])
    }

    /// As [`S3TestServer::start`], with `locked_buckets` created as
    /// `create-bucket --object-lock-enabled-for-bucket` creates them (versioning on, Object
    /// Lock on, no default retention).
    pub fn start_with_locked(extra_buckets: &[&str], locked_buckets: &[&str]) -> S3TestServer {
        let port = free_port();
        let mut buckets = vec![BUCKET.to_string()];
        buckets.extend(extra_buckets.iter().map(|b| b.to_string()));
        let mut server = S3TestServer {
            child: None,
            port,
            buckets,
            locked_buckets: locked_buckets.iter().map(|b| b.to_string()).collect(),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let script = script_path();
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--user")
            .arg(format!("{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}"))
            .arg("--user")
            .arg(format!("{NO_DELETE_KEY_ID}:{NO_DELETE_SECRET}:no-delete"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for bucket in &self.buckets {
            command.arg("--bucket").arg(bucket);
        }
        for bucket in &self.locked_buckets {
            command.arg("--locked-bucket").arg(bucket);
        }
        // The server dies with the thread that started it, so a test process that aborts
        // leaves no server behind.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let ready = lines
                .next()
                .and_then(|l| l.ok())
                .is_some_and(|l| l == "ready");
            let _ = ready_tx.send(ready);
            for _ in lines {}
        });
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                text.push_str(&line);
                text.push('\n');
                if text.len() > 8000 {
                    break;
                }
            }
            let _ = err_tx.send(text);
        });
        match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(true) => {}
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                panic!(
                    "the S3 test server did not start ({outcome:?}); install moto with \
                     `pip install 'moto[server]'` (scripts/test-all.sh does).\n{stderr}"
                );
            }
        }
        self.child = Some(child);
    }

    /// One server shared by every test of the process, for tests that do not kill it. Each
    /// test keeps to its own prefix.
    pub fn shared() -> &'static S3TestServer {
        static SHARED: OnceLock<S3TestServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            // Started from a thread that never ends: the server lives as long as the process.
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(S3TestServer::start(&[]));
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("the S3 test server thread")
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3:http://127.0.0.1:PORT/BUCKET/PREFIX` (no prefix when it is empty).
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("s3:{}/{bucket}", self.endpoint())
        } else {
            format!("s3:{}/{bucket}/{prefix}", self.endpoint())
        }
    }

    pub fn credentials() -> S3Credentials {
        S3Credentials {
            access_key_id: ACCESS_KEY_ID.to_string(),
            secret_access_key: SECRET_ACCESS_KEY.to_string(),
            session_token: None,
        }
    }

    /// A store at `prefix` in [`BUCKET`] with the full-access key.
    pub fn store(&self, prefix: &str) -> S3Store {
        self.store_in(BUCKET, prefix)
    }

    /// A store at `prefix` in `bucket` with the full-access key.
    pub fn store_in(&self, bucket: &str, prefix: &str) -> S3Store {
        let location = S3Location::parse(&self.url(bucket, prefix)).expect("test URL");
        S3Store::open(location, S3Options::new(Self::credentials())).expect("open S3 store")
    }

    /// Kills the server at once (SIGKILL); its data is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel but nothing is
    /// answered, as a store that hangs does.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a frozen server go on (SIGCONT); requests that waited are answered.
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("the server is running");
        // SAFETY: kill(2) with the pid of a child this handle owns and has not reaped.
        let result = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(result, 0, "cannot signal the S3 test server");
    }

    /// Starts the server again on the same port, empty but for its buckets.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A key prefix no other test of any process uses: `NAME-<nanoseconds, hex>`.
pub fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{name}-{nanos:x}")
}

fn script_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/s3-test-server.py")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

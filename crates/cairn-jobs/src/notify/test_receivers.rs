//! Receivers for notification tests (feature `test-receivers`), on 127.0.0.1, each stopping
//! by itself after [`RECEIVER_LIFETIME`] if a test forgets it.
//!
//! - [`HttpReceiver`]: a minimal HTTP/1.1 server that records every request and answers with
//!   the statuses it was given (500, 500, 200: a receiver that recovers).
//! - [`SmtpSink`]: `scripts/smtp-test-sink.py` (Python's aiosmtpd), which prints every mail it
//!   receives. A test that needs it and cannot start it fails with what to install.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a receiver serves at most.
pub const RECEIVER_LIFETIME: Duration = Duration::from_secs(120);

/// One request as received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct HttpReceiver {
    port: u16,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpReceiver {
    /// Answers the n-th request with `statuses[n]`, and every request after the last status
    /// with the last one.
    pub fn start(statuses: &[u16]) -> HttpReceiver {
        assert!(!statuses.is_empty(), "a receiver needs a status to answer");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("a bound address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let statuses = statuses.to_vec();
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || serve(listener, &statuses, &requests, &stop))
        };
        HttpReceiver {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: TcpListener,
    statuses: &[u16],
    requests: &Mutex<Vec<ReceivedRequest>>,
    stop: &AtomicBool,
) {
    let deadline = Instant::now() + RECEIVER_LIFETIME;
    let mut served = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let status = statuses[served.min(statuses.len() - 1)];
                if answer(stream, status, requests) {
                    served += 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return,
        }
    }
}

/// Reads one request, records it, and only then answers `status` (so a client that has its
/// answer finds its request recorded), closing the connection. Whether a request was read.
fn answer(mut stream: TcpStream, status: u16, requests: &Mutex<Vec<ReceivedRequest>>) -> bool {
    let Some(request) = read_request(&mut stream) else {
        return false;
    };
    requests.lock().unwrap().push(request);
    let reply =
        format!("HTTP/1.1 {status} Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(reply.as_bytes());
    true
}

/// Reads headers, then a `Content-Length` body.
fn read_request(stream: &mut TcpStream) -> Option<ReceivedRequest> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(ReceivedRequest {
        method,
        target,
        headers,
        body,
    })
}

/// A loopback port nothing listens on and no test server takes (they all bind port 0, so
/// none can land on it): an "unreachable receiver" that stays unreachable while other tests
/// start servers in parallel.
pub const UNREACHABLE_PORT: u16 = 1;

/// A free loopback port for a server to listen on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One mail as the sink received it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Headers and body, as sent.
    pub data: String,
    /// The user that authenticated, if any.
    pub login: Option<String>,
}

pub struct SmtpSink {
    child: Child,
    port: u16,
    mails: mpsc::Receiver<ReceivedMail>,
}

impl SmtpSink {
    /// Starts the sink; with `auth = Some((user, password))` it requires that login.
    pub fn start(auth: Option<(&str, &str)>) -> SmtpSink {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp-test-sink.py");
        let port = free_port();
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--lifetime")
            .arg(RECEIVER_LIFETIME.as_secs().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((user, password)) = auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        // The sink dies with the thread that started it: an aborted test leaves none behind.
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
        // Drained as it comes, so a chatty sink never blocks on a full pipe.
        let errors = Arc::new(Mutex::new(String::new()));
        {
            let errors = errors.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                    let mut errors = errors.lock().unwrap();
                    if errors.len() < 8000 {
                        errors.push_str(&line);
                        errors.push('\n');
                    }
                }
            });
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        let (mail_tx, mails) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(|l| l.ok());
            let _ = ready_tx.send(lines.next().is_some_and(|l| l == "ready"));
            for line in lines {
                match serde_json::from_str::<ReceivedMail>(&line) {
                    Ok(mail) => {
                        if mail_tx.send(mail).is_err() {
                            return;
                        }
                    }
                    Err(e) => eprintln!("smtp sink printed {line:?}: {e}"),
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(30)) != Ok(true) {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            let text = errors.lock().unwrap().clone();
            panic!(
                "the SMTP test sink did not start; install aiosmtpd with \
                 `pip install 'aiosmtpd>=1.4,<1.5'` (scripts/test-all.sh does)\n{text}"
            );
        }
        SmtpSink { child, port, mails }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next mail, waiting up to `timeout`.
    pub fn next_mail(&self, timeout: Duration) -> Option<ReceivedMail> {
        self.mails.recv_timeout(timeout).ok()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

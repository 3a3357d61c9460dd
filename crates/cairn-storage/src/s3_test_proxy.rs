//! A loopback HTTP proxy in front of an S3 test server, for tests of what happens on the wire:
//! it records when each byte toward the server passes (to measure a bandwidth limit), and a
//! rule chosen by the test can flip one byte in a request's body (a link that damages data in
//! transit) or answer a request with an error itself (a store failing one object, or every
//! listing of a directory, past the retries).
//!
//! Requests toward the server are parsed (head, then `Content-Length` bytes of body), so
//! several requests on one kept-alive connection are each seen; answers are copied back as
//! they come.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Forwarded {
    at: Instant,
    bytes: usize,
    put: bool,
}

/// The first line of a request, split.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query as sent (percent-encoded).
    pub target: String,
}

impl Request {
    /// Whether the request is about the repository directory `dir` (`snapshots`, `index`,
    /// `data`, ...): an object below it, or a listing whose prefix ends in it.
    pub fn touches(&self, dir: &str) -> bool {
        let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
        let query = query.replace("%2F", "/").replace("%2f", "/");
        path.contains(&format!("/{dir}/"))
            || query
                .split('&')
                .any(|pair| pair.starts_with("prefix=") && pair.ends_with(&format!("/{dir}/")))
    }

    pub fn is_listing(&self) -> bool {
        self.target.contains("list-type=2")
    }
}

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Forward,
    /// Forward with one byte in the middle of the body flipped.
    DamageBody,
    /// Answer with this status line (e.g. `503 Service Unavailable`) and S3 error code, and
    /// close the connection.
    Fail {
        status: &'static str,
        code: &'static str,
    },
}

type Rule = Box<dyn Fn(&Request) -> Action + Send + Sync>;

pub struct S3TestProxy {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    rule: Rule,
    damaged_puts: AtomicUsize,
    /// When bytes toward the server were forwarded, how many, and whether they were part of
    /// a PUT (head or body).
    upload_log: Mutex<Vec<Forwarded>>,
}

impl S3TestProxy {
    /// Forwards everything to the server on `upstream_port` unchanged.
    pub fn start(upstream_port: u16) -> S3TestProxy {
        S3TestProxy::damaging_first_puts(upstream_port, 0)
    }

    /// Flips one byte in the middle of the body of the first `count` PUTs of each object
    /// (`usize::MAX`: of every PUT); everything else passes unchanged.
    pub fn damaging_first_puts(upstream_port: u16, count: usize) -> S3TestProxy {
        let puts_by_path: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
        S3TestProxy::with_rule(upstream_port, move |request| {
            if request.method != "PUT" {
                return Action::Forward;
            }
            let path = request.target.split('?').next().unwrap_or_default();
            let mut puts = puts_by_path.lock().expect("put counts");
            let seen = puts.entry(path.to_string()).or_insert(0);
            *seen += 1;
            if *seen <= count {
                Action::DamageBody
            } else {
                Action::Forward
            }
        })
    }

    /// Asks `rule` what to do with every request.
    pub fn with_rule(
        upstream_port: u16,
        rule: impl Fn(&Request) -> Action + Send + Sync + 'static,
    ) -> S3TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            rule: Box::new(rule),
            damaged_puts: AtomicUsize::new(0),
            upload_log: Mutex::new(Vec::new()),
        });
        let state = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    continue;
                };
                let state = state.clone();
                std::thread::spawn(move || relay(client, upstream, &state));
            }
        });
        S3TestProxy { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `s3:http://127.0.0.1:PORT/BUCKET/PREFIX`: a repository URL through the proxy.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        format!("s3:http://127.0.0.1:{}/{bucket}/{prefix}", self.port)
    }

    /// How many PUT bodies were damaged so far.
    pub fn damaged_puts(&self) -> usize {
        self.shared.damaged_puts.load(Ordering::SeqCst)
    }

    /// Bytes toward the server in every `window` of the upload (from the first byte of the
    /// first PUT to the last byte of the last one; listings before it are not the transfer),
    /// stepping by `step`; and the time from that first byte to that last one.
    pub fn upload_windows(&self, window: Duration, step: Duration) -> (Vec<u64>, Duration) {
        let log = self.shared.upload_log.lock().expect("upload log");
        let mut puts = log.iter().filter(|f| f.put);
        let Some(first) = puts.next().map(|f| f.at) else {
            return (Vec::new(), Duration::ZERO);
        };
        let last = puts.next_back().map_or(first, |f| f.at);
        let mut windows = Vec::new();
        let mut start = first;
        while start + window <= last {
            let bytes = log
                .iter()
                .filter(|f| f.at >= start && f.at < start + window)
                .map(|f| f.bytes as u64)
                .sum();
            windows.push(bytes);
            start += step;
        }
        (windows, last - first)
    }
}

/// Copies answers back on a thread of their own and requests forward one by one.
fn relay(client: TcpStream, upstream: TcpStream, state: &Shared) {
    let (Ok(mut answers_in), Ok(mut answers_out), Ok(mut failures)) =
        (upstream.try_clone(), client.try_clone(), client.try_clone())
    else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut answers_in, &mut answers_out);
        let _ = answers_out.shutdown(Shutdown::Write);
    });
    let mut requests = BufReader::new(client);
    let mut upstream = upstream;
    while forward_request(&mut requests, &mut upstream, &mut failures, state).is_ok() {}
    let _ = upstream.shutdown(Shutdown::Write);
}

/// Forwards one request (head and body), or answers it with an error; an error (or an answer
/// of the proxy's own) ends the connection.
fn forward_request(
    client: &mut BufReader<TcpStream>,
    upstream: &mut TcpStream,
    answers: &mut TcpStream,
    state: &Shared,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        if client.read_until(b'\n', &mut head)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if head[before..] == *b"\r\n" {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let length: usize = text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "the test proxy reads bodies by Content-Length only: {text}"
    );
    let put = method == "PUT";
    let request = Request {
        method: method.to_string(),
        target: target.to_string(),
    };
    let damage_at = match (state.rule)(&request) {
        Action::Forward => None,
        Action::DamageBody => {
            state.damaged_puts.fetch_add(1, Ordering::SeqCst);
            (length > 0).then_some(length / 2)
        }
        Action::Fail { status, code } => {
            let mut body = vec![0u8; length];
            client.read_exact(&mut body)?;
            return fail(answers, &request, status, code);
        }
    };
    send(upstream, &head, put, state)?;
    let mut buffer = vec![0u8; 64 << 10];
    let mut forwarded = 0;
    while forwarded < length {
        let want = buffer.len().min(length - forwarded);
        let n = client.read(&mut buffer[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(at) = damage_at.filter(|at| (forwarded..forwarded + n).contains(at)) {
            buffer[at - forwarded] ^= 0x01;
        }
        send(upstream, &buffer[..n], put, state)?;
        forwarded += n;
    }
    Ok(())
}

fn send(upstream: &mut TcpStream, bytes: &[u8], put: bool, state: &Shared) -> std::io::Result<()> {
    upstream.write_all(bytes)?;
    let mut log = state.upload_log.lock().expect("upload log");
    log.push(Forwarded {
        at: Instant::now(),
        bytes: bytes.len(),
        put,
    });
    Ok(())
}

/// Answers a request with an S3 error document and closes the connection.
fn fail(
    answers: &mut TcpStream,
    request: &Request,
    status: &str,
    code: &str,
) -> std::io::Result<()> {
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
         <Message>injected by the test</Message></Error>"
    );
    let body = if request.method == "HEAD" {
        ""
    } else {
        &document
    };
    write!(
        answers,
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    answers.shutdown(Shutdown::Both)?;
    Err(std::io::ErrorKind::ConnectionAborted.into())
}

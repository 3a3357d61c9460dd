//! A loopback HTTP proxy in front of an S3 test server, for tests of what happens on the wire:
//! it records when each byte toward the server passes (to measure a bandwidth limit), and it
//! can flip one byte in the body of PUT requests (a link that damages data in transit).
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

pub struct S3TestProxy {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    /// How many PUTs of each object (by path) get a flipped body byte.
    damage_first_puts: usize,
    puts_by_path: Mutex<HashMap<String, usize>>,
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            damage_first_puts: count,
            puts_by_path: Mutex::new(HashMap::new()),
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
    let (Ok(mut answers_in), Ok(mut answers_out)) = (upstream.try_clone(), client.try_clone())
    else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut answers_in, &mut answers_out);
        let _ = answers_out.shutdown(Shutdown::Write);
    });
    let mut requests = BufReader::new(client);
    let mut upstream = upstream;
    while forward_request(&mut requests, &mut upstream, state).is_ok() {}
    let _ = upstream.shutdown(Shutdown::Write);
}

/// Forwards one request (head and body); an error ends the connection.
fn forward_request(
    client: &mut BufReader<TcpStream>,
    upstream: &mut TcpStream,
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
    let damage_at = (put && length > 0 && state.take_damage(target)).then_some(length / 2);
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

impl Shared {
    /// Whether this PUT of `target` is one to damage (counting it when it is).
    fn take_damage(&self, target: &str) -> bool {
        let path = target.split('?').next().unwrap_or(target).to_string();
        let mut puts = self.puts_by_path.lock().expect("put counts");
        let seen = puts.entry(path).or_insert(0);
        *seen += 1;
        let damage = *seen <= self.damage_first_puts;
        if damage {
            self.damaged_puts.fetch_add(1, Ordering::SeqCst);
        }
        damage
    }
}

//! A loopback HTTP proxy in front of the S3 test server that can fail chosen requests: the
//! faults a remote store shows in real life (an answer of 503 for one object, a listing that
//! keeps failing), aimed at one request at a time, which a connection-level fault cannot do.
//!
//! Each client connection carries one request: the proxy reads its head and body (by
//! `Content-Length`), asks the test's rule what to do, and either answers itself or forwards
//! the request on a fresh upstream connection marked `Connection: close`, relaying the answer
//! until the server closes it. Clients (reqwest) then open a new connection per request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The first line of a request, split.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query as sent (percent-encoded).
    pub target: String,
}

impl Request {
    /// Whether the request reads or lists something under the repository directory `dir`
    /// (`snapshots`, `index`, `data`, ...): a GET or HEAD of an object below it, or a listing
    /// whose prefix is in it.
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
    /// Answer with this status line (e.g. `503 Service Unavailable`) and S3 error code.
    Fail {
        status: &'static str,
        code: &'static str,
    },
}

/// A running proxy; it stops with the test process.
pub struct FaultProxy {
    port: u16,
}

impl FaultProxy {
    /// Starts a proxy to `127.0.0.1:upstream_port` that asks `rule` about every request.
    pub fn start(
        upstream_port: u16,
        rule: impl Fn(&Request) -> Action + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let rule = Arc::new(rule);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let rule = rule.clone();
                std::thread::spawn(move || {
                    let _ = serve(client, upstream_port, rule.as_ref());
                });
            }
        });
        FaultProxy { port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `s3:http://127.0.0.1:PORT/BUCKET/PREFIX`.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        format!("s3:http://127.0.0.1:{}/{bucket}/{prefix}", self.port)
    }
}

fn serve(
    client: TcpStream,
    upstream_port: u16,
    rule: &(dyn Fn(&Request) -> Action + Send + Sync),
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let first = String::from_utf8_lossy(&head);
    let mut parts = first.split_whitespace();
    let request = Request {
        method: parts.next().unwrap_or_default().to_string(),
        target: parts.next().unwrap_or_default().to_string(),
    };
    let mut client = client;
    match rule(&request) {
        Action::Fail { status, code } => {
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
                client,
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )?;
        }
        Action::Forward => {
            let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port))?;
            upstream.write_all(&head)?;
            upstream.write_all(&body)?;
            std::io::copy(&mut upstream, &mut client)?;
        }
    }
    client.shutdown(Shutdown::Both)
}

//! Talking to a running daemon over its unix socket: small HTTP/1.1 requests with JSON bodies,
//! and Server-Sent Events for `jobs log --follow`. The socket is mode 0600: only the daemon's
//! user (and root) may use it, which is the whole of its access control.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub struct DaemonClient {
    socket: PathBuf,
}

impl DaemonClient {
    /// The daemon whose state directory the config names.
    pub fn for_config(config: &cairn_config::Config) -> DaemonClient {
        DaemonClient {
            socket: crate::commands::daemon_socket(&config.state_dir),
        }
    }

    /// Whether a daemon answers on the socket.
    pub fn is_running(&self) -> bool {
        UnixStream::connect(&self.socket).is_ok()
    }

    fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.socket).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                anyhow::anyhow!(
                    "no daemon is running (nothing answers on {}); start one with `cairn daemon`",
                    self.socket.display()
                )
            }
            std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
                "{} is not yours to use; run as the daemon's user",
                self.socket.display()
            ),
            _ => anyhow::anyhow!("cannot reach the daemon at {}: {e}", self.socket.display()),
        })
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        self.request("POST", path, body)
    }

    /// A request whose answer is JSON; a non-2xx answer is an error with the daemon's message.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let mut stream = self.connect()?;
        send(&mut stream, method, path, body)?;
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader)?;
        let bytes = read_body(&mut reader, &headers)?;
        let text = String::from_utf8_lossy(&bytes);
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.trim().to_string());
            bail!("{message}");
        }
        if headers
            .get("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
        {
            return Ok(Value::String(text.into_owned()));
        }
        serde_json::from_str(&text).context("the daemon answered something that is not JSON")
    }

    /// Follows a Server-Sent Events stream: `opened` runs once the daemon has subscribed (so
    /// what it reads then misses nothing), then `each(event, data)` until it returns false.
    pub fn events(
        &self,
        path: &str,
        opened: impl FnOnce() -> Result<()>,
        mut each: impl FnMut(&str, &str) -> bool,
    ) -> Result<()> {
        let mut stream = self.connect()?;
        send(&mut stream, "GET", path, None)?;
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader)?;
        if !(200..300).contains(&status) {
            let bytes = read_body(&mut reader, &headers)?;
            let text = String::from_utf8_lossy(&bytes);
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.trim().to_string());
            bail!("{message}");
        }
        let chunked = headers
            .get("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"));
        opened()?;
        let mut pending = String::new();
        let (mut event, mut data) = (String::new(), String::new());
        loop {
            let piece = if chunked {
                match read_chunk(&mut reader)? {
                    Some(bytes) => bytes,
                    None => return Ok(()),
                }
            } else {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                line.into_bytes()
            };
            pending.push_str(&String::from_utf8_lossy(&piece));
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let line = line.trim_end_matches(['\r', '\n']);
                if line.is_empty() {
                    if !data.is_empty() && !each(&event, &data) {
                        return Ok(());
                    }
                    event.clear();
                    data.clear();
                } else if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_string();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
        }
    }
}

fn send(stream: &mut UnixStream, method: &str, path: &str, body: Option<&Value>) -> Result<()> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}

type Headers = std::collections::HashMap<String, String>;

fn read_head(reader: &mut impl BufRead) -> Result<(u16, Headers)> {
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("the daemon's answer has no status")?;
    let mut headers = Headers::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    Ok((status, headers))
}

fn read_body(reader: &mut impl BufRead, headers: &Headers) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        while let Some(chunk) = read_chunk(reader)? {
            body.extend(chunk);
        }
    } else if let Some(length) = headers.get("content-length").and_then(|l| l.parse().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// One chunk of a chunked body; `None` after the last.
fn read_chunk(reader: &mut impl BufRead) -> Result<Option<Vec<u8>>> {
    let mut size_line = String::new();
    if reader.read_line(&mut size_line)? == 0 {
        return Ok(None);
    }
    let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
        .context("a malformed chunk from the daemon")?;
    if size == 0 {
        return Ok(None);
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk)?;
    chunk.truncate(size);
    Ok(Some(chunk))
}

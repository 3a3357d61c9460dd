//! Downloads: a file's bytes (whole, or one `Range`) and a directory as `.tar.gz` or `.zip`.
//!
//! The bytes are produced on a blocking thread by the engine and handed to the response body
//! through a bounded channel of 64 KiB chunks: no temporary file, and memory per download is
//! the channel's few chunks plus one blob, however large the file or directory. A client that
//! goes away closes the channel, and the producer stops at its next write. A failure after
//! the first bytes (a damaged blob) can no longer change the status: the body ends with an
//! error, so the client sees a truncated transfer, never a complete-looking wrong file.

use std::io::{self, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::Daemon;
use cairn_repo::browse::ArchiveFormat;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::blocking;
use crate::auth::Caller;
use crate::ApiError;

/// Bytes per chunk handed to the response body.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting in the channel: what bounds a download's memory beyond the blob being read.
const CHUNKS_QUEUED: usize = 4;

#[derive(Debug, Deserialize)]
pub struct DownloadQuery {
    pub path: Option<String>,
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/repositories/{repo}/snapshots/{snapshot}/download", tag = "browse",
    params(("repo" = String, Path, description = "repository name"),
           ("snapshot" = String, Path, description = "snapshot id, unique prefix, or `latest`"),
           ("path" = String, Query, description = "snapshot-absolute path of a file")),
    responses((status = 200, description = "the file's bytes", content_type = "application/octet-stream", body = String),
              (status = 206, description = "the requested byte range (`Range: bytes=a-b`), with `Content-Range`", body = String),
              (status = 400, description = "a path with `.`, `..` or empty components, or not a file"),
              (status = 403, description = "the caller may not download from this repository"),
              (status = 416, description = "the range starts beyond the file's end")))]
pub async fn download(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path((repo, snapshot)): Path<(String, String)>,
    Query(query): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let file = blocking(&daemon, move |daemon| {
        caller.require(Action::Download, Resource::Repository(&repo))?;
        let path = query.path.ok_or_else(|| {
            ApiError::BadRequest("give the file to download: ?path=/etc/hosts".into())
        })?;
        Ok(daemon
            .browser()
            .file(&daemon.config(), &repo, &snapshot, &path)?)
    })
    .await?;
    let size = file.size;
    let (status, start, end) = match requested_range(range.as_deref(), size) {
        Requested::Whole => (StatusCode::OK, 0, size),
        Requested::Part { first, last } => (StatusCode::PARTIAL_CONTENT, first, last + 1),
        Requested::Unsatisfiable => {
            let mut response = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Json(serde_json::json!({
                    "error": format!("the range {} is outside the file's {size} bytes", range.unwrap_or_default())
                })),
            )
                .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            );
            return Ok(response);
        }
    };
    let disposition = content_disposition(&file.name);
    let body = streamed(move |out| file.write_range(start, end, out).map(|_| ()));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        header_value(&(end - start).to_string()),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_DISPOSITION, header_value(&disposition));
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {start}-{}/{size}", end - 1)),
        );
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/repositories/{repo}/snapshots/{snapshot}/archive", tag = "browse",
    params(("repo" = String, Path, description = "repository name"),
           ("snapshot" = String, Path, description = "snapshot id, unique prefix, or `latest`"),
           ("path" = Option<String>, Query, description = "snapshot-absolute directory (default `/`)"),
           ("format" = Option<String>, Query, description = "`tar.gz` (default) or `zip`")),
    responses((status = 200, description = "the directory as an archive, streamed", content_type = "application/octet-stream", body = String),
              (status = 400, description = "a bad path or format, or not a directory"),
              (status = 403, description = "the caller may not download from this repository")))]
pub async fn archive(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path((repo, snapshot)): Path<(String, String)>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let archive = blocking(&daemon, move |daemon| {
        caller.require(Action::Download, Resource::Repository(&repo))?;
        let format: ArchiveFormat = query
            .format
            .as_deref()
            .unwrap_or("tar.gz")
            .parse()
            .map_err(cairn_jobs::JobError::from)?;
        let path = query.path.as_deref().unwrap_or("/");
        Ok(daemon
            .browser()
            .archive(&daemon.config(), &repo, &snapshot, path, format)?)
    })
    .await?;
    let content_type = archive.format.content_type();
    let disposition = content_disposition(&archive.file_name);
    let body = streamed(move |out| archive.write(out));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_DISPOSITION, header_value(&disposition));
    Ok(response)
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Requested {
    Whole,
    /// Bytes `first..=last`.
    Part {
        first: u64,
        last: u64,
    },
    Unsatisfiable,
}

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range. A header that does not parse, another
/// unit, or several ranges get the whole file (RFC 9110 lets a server ignore `Range`); a
/// range starting at or beyond the end is unsatisfiable.
fn requested_range(header: Option<&str>, size: u64) -> Requested {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Requested::Whole;
    };
    if spec.contains(',') {
        return Requested::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Requested::Whole;
    };
    if first.is_empty() {
        return match last.parse::<u64>() {
            Ok(0) => Requested::Unsatisfiable,
            Ok(_) if size == 0 => Requested::Unsatisfiable,
            Ok(suffix) => Requested::Part {
                first: size.saturating_sub(suffix),
                last: size - 1,
            },
            Err(_) => Requested::Whole,
        };
    }
    let Ok(first) = first.parse::<u64>() else {
        return Requested::Whole;
    };
    let last = match last {
        "" => u64::MAX,
        text => match text.parse::<u64>() {
            Ok(last) if last >= first => last,
            _ => return Requested::Whole,
        },
    };
    if first >= size {
        return Requested::Unsatisfiable;
    }
    Requested::Part {
        first,
        last: last.min(size - 1),
    }
}

/// `attachment; filename="…"` with `"` and `\` escaped and anything not printable ASCII
/// replaced, plus `filename*=UTF-8''…` (RFC 6266) when the name is not plain ASCII.
fn content_disposition(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let quoted = plain.replace('\\', "\\\\").replace('"', "\\\"");
    if plain == name {
        return format!("attachment; filename=\"{quoted}\"");
    }
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{quoted}\"; filename*=UTF-8''{encoded}")
}

fn header_value(text: &str) -> HeaderValue {
    // Every value built here is printable ASCII.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A response body fed by `produce`, run on a blocking thread (see the module docs).
fn streamed(
    produce: impl FnOnce(&mut dyn Write) -> Result<(), cairn_jobs::JobError> + Send + 'static,
) -> Body {
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_QUEUED);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            sender: sender.clone(),
            buffer: Vec::with_capacity(CHUNK_BYTES),
        };
        let result = produce(&mut writer).and_then(|()| {
            writer
                .flush()
                .map_err(|e| cairn_jobs::JobError::Repo(cairn_repo::RepoError::io("download", e)))
        });
        if let Err(e) = result {
            if !sender.is_closed() {
                tracing::warn!("a download stopped: {e}");
                let _ = sender.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    Body::from_stream(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ))
}

/// Collects writes into chunks and sends each full one, waiting while the channel is full.
struct ChunkWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK_BYTES - self.buffer.len();
        let taken = data.len().min(room);
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let part = |first, last| Requested::Part { first, last };
        assert_eq!(requested_range(None, 100), Requested::Whole);
        assert_eq!(requested_range(Some("bytes=10-19"), 100), part(10, 19));
        assert_eq!(requested_range(Some("bytes=90-"), 100), part(90, 99));
        assert_eq!(requested_range(Some("bytes=90-500"), 100), part(90, 99));
        assert_eq!(requested_range(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(requested_range(Some("bytes=-500"), 100), part(0, 99));
        assert_eq!(
            requested_range(Some("bytes=100-"), 100),
            Requested::Unsatisfiable
        );
        assert_eq!(
            requested_range(Some("bytes=-0"), 100),
            Requested::Unsatisfiable
        );
        assert_eq!(
            requested_range(Some("bytes=0-"), 0),
            Requested::Unsatisfiable
        );
        // Not understood, or several ranges: the whole file.
        for ignored in [
            "items=1-2",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=1-2,4-5",
            "bytes=7",
        ] {
            assert_eq!(
                requested_range(Some(ignored), 100),
                Requested::Whole,
                "{ignored}"
            );
        }
    }

    #[test]
    fn file_names_are_quoted_and_encoded() {
        assert_eq!(
            content_disposition("hosts"),
            "attachment; filename=\"hosts\""
        );
        assert_eq!(
            content_disposition("a\"b\\c"),
            "attachment; filename=\"a\\\"b\\\\c\""
        );
        assert_eq!(
            content_disposition("grüße\r\n.txt"),
            "attachment; filename=\"gr__e__.txt\"; filename*=UTF-8''gr%C3%BC%C3%9Fe%0D%0A.txt"
        );
        assert!(HeaderValue::from_str(&content_disposition("x\u{7f}\n\"")).is_ok());
    }
}

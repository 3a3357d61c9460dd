//! A repository behind a REST server speaking restic's REST protocol (v2 listings): restic's
//! rest-server, or the endpoint of a cairn server (`/rest/NAME/`).
//!
//! Objects are addressed as `BASE/config` and `BASE/{keys,locks,snapshots,index,data}/NAME`
//! (no fan-out directories in URLs). Every write is one POST of the whole object, which the
//! server stores atomically and checks against its name. Such servers refuse to replace an
//! object (403); since names are the SHA-256 of their bytes, a refused write of a name the
//! server already holds at the same size is the same object, and succeeds (a retried upload).
//! The protocol has no place for cairn's sidecar files (`cairn-manifest`, the mirror state):
//! they are listed as none and refused on write.
//!
//! The trait is synchronous: the store owns a small tokio runtime and blocks on it, as the S3
//! store does. Transient failures (connect errors, timeouts, 5xx, 429) are retried a bounded
//! number of times with jittered backoff; the rest map to one-line errors: 404 not found,
//! 401/403 refused with what to check, 507 the repository's quota.

pub mod location;

use std::future::Future;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::error::{ErrorKind, StorageError};
use crate::kind::FileKind;
use crate::{config_listing, ObjectInfo, Result, Storage};

pub use location::{LocationError, RestCredentials, RestLocation};

/// The media type of v2 listings (`[{"name": …, "size": …}]`).
const LISTING_V2: &str = "application/vnd.x.restic.rest.v2";

/// Retries of transient failures and the bound of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestRetry {
    /// Retries after the first attempt.
    pub retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// How long one request may take (a 128 MiB pack on a slow uplink needs minutes).
    pub request_timeout: Duration,
}

impl Default for RestRetry {
    /// Five retries from 0.25 s doubling to 8 s: about 15 s of waiting in all.
    fn default() -> RestRetry {
        RestRetry {
            retries: 5,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            request_timeout: Duration::from_secs(600),
        }
    }
}

pub struct RestStore {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    location: RestLocation,
    credentials: Option<RestCredentials>,
    retry: RestRetry,
}

/// One attempt's outcome: an answer, or a failure to get one (connect, timeout).
type Attempt = std::result::Result<Answer, reqwest::Error>;

struct Answer {
    status: StatusCode,
    content_length: Option<u64>,
    body: Vec<u8>,
}

impl RestStore {
    /// A store at `location`, logging in with the URL's credentials, else `credentials`.
    pub fn open(
        location: RestLocation,
        credentials: Option<RestCredentials>,
        retry: RestRetry,
    ) -> Result<RestStore> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cairn-rest")
            .enable_all()
            .build()
            .map_err(|e| StorageError::from_io("start", location.to_string(), e))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(retry.request_timeout)
            // A redirect would carry the login elsewhere or turn a POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| {
                StorageError::new(
                    ErrorKind::Misconfigured,
                    "start",
                    location.to_string(),
                    "cannot set up the HTTP client",
                )
            })?;
        let credentials = location.credentials.clone().or(credentials);
        Ok(RestStore {
            runtime,
            client,
            location,
            credentials,
            retry,
        })
    }

    fn url(&self, kind: FileKind, name: &str) -> String {
        match kind {
            FileKind::Config => format!("{}config", self.location.base_url()),
            other => format!("{}{}/{name}", self.location.base_url(), other.dir()),
        }
    }

    fn object(&self, kind: FileKind, name: &str) -> String {
        match kind {
            FileKind::Config => format!("{}config", self.location),
            other => format!("{}{}/{name}", self.location, other.dir()),
        }
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// Sends a request, retrying transient failures; returns the last answer.
    fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        operation: &'static str,
        object: &str,
    ) -> Result<Answer> {
        let mut delay = self.retry.min_delay;
        let mut attempt = 0;
        loop {
            let result = self.block_on(self.attempt(method.clone(), url, headers, body));
            let transient = match &result {
                Ok(answer) => is_transient_status(answer.status),
                Err(_) => true,
            };
            if transient && attempt < self.retry.retries {
                attempt += 1;
                tracing::info!(
                    "{operation} {object}: retrying ({attempt} of {}) after a passing failure",
                    self.retry.retries
                );
                std::thread::sleep(with_jitter(delay));
                delay = (delay * 2).min(self.retry.max_delay);
                continue;
            }
            return match result {
                Ok(answer) => Ok(answer),
                Err(error) => Err(StorageError::new(
                    ErrorKind::Transient,
                    operation,
                    object,
                    format!(
                        "{} after {} tries; check that the REST server is running and reachable",
                        describe_transport_error(&error),
                        attempt + 1
                    ),
                )),
            };
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Attempt {
        let mut request = self.client.request(method.clone(), url);
        if let Some(credentials) = &self.credentials {
            request = request.basic_auth(&credentials.username, Some(&credentials.password));
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        let response = request.send().await?;
        let status = response.status();
        let content_length = response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = if method == Method::HEAD {
            Vec::new()
        } else {
            response.bytes().await?.to_vec()
        };
        Ok(Answer {
            status,
            content_length,
            body,
        })
    }

    /// The error for an answer that is not a success.
    fn refusal(&self, status: StatusCode, operation: &'static str, object: String) -> StorageError {
        let (kind, message) = match status {
            StatusCode::NOT_FOUND => (ErrorKind::NotFound, "not found".to_string()),
            StatusCode::UNAUTHORIZED => (
                ErrorKind::PermissionDenied,
                "the REST server refused the login; check the user and password in the URL or in RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD".to_string(),
            ),
            StatusCode::FORBIDDEN => (
                ErrorKind::PermissionDenied,
                "the REST server refused this (an append-only repository keeps what it holds, and never replaces an object); forget and prune on the server".to_string(),
            ),
            StatusCode::INSUFFICIENT_STORAGE => (
                ErrorKind::NoSpace,
                "repository quota exceeded on the REST server; ask its admin to raise the quota or to prune".to_string(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                ErrorKind::Invalid,
                "the REST server refused the object as too large".to_string(),
            ),
            status if is_transient_status(status) => (
                ErrorKind::Transient,
                format!("the REST server answered {status} after {} retries", self.retry.retries),
            ),
            status => (
                ErrorKind::Invalid,
                format!("the REST server answered {status}"),
            ),
        };
        StorageError::new(kind, operation, object, message)
    }

    fn head_size(&self, kind: FileKind, name: &str) -> Result<u64> {
        let object = self.object(kind, name);
        let answer = self.send(
            Method::HEAD,
            &self.url(kind, name),
            &[],
            None,
            "stat",
            &object,
        )?;
        if !answer.status.is_success() {
            return Err(self.refusal(answer.status, "stat", object));
        }
        answer.content_length.ok_or_else(|| {
            StorageError::new(
                ErrorKind::Invalid,
                "stat",
                object,
                "the REST server sent no Content-Length",
            )
        })
    }

    fn check_name(&self, kind: FileKind, name: &str, operation: &'static str) -> Result<()> {
        if kind == FileKind::Sidecar {
            return Err(StorageError::new(
                ErrorKind::Misconfigured,
                operation,
                format!("{}{name}", self.location),
                "a REST repository holds no cairn sidecar files",
            ));
        }
        if kind == FileKind::Config || kind.is_valid_name(name) {
            Ok(())
        } else {
            Err(StorageError::new(
                ErrorKind::Invalid,
                operation,
                self.object(kind, name),
                "not a repository file name",
            ))
        }
    }
}

fn is_transient_status(status: StatusCode) -> bool {
    (status.is_server_error() && status != StatusCode::INSUFFICIENT_STORAGE)
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// A transport failure in words, without the URL (which reqwest's message carries, login
/// included when one was written in it).
fn describe_transport_error(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "the request timed out"
    } else if error.is_connect() {
        "cannot connect to the REST server"
    } else {
        "the connection to the REST server failed"
    }
}

fn with_jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

#[derive(serde::Deserialize)]
struct ListedObject {
    name: String,
    size: u64,
}

impl Storage for RestStore {
    fn location(&self) -> String {
        self.location.to_string()
    }

    fn create(&self) -> Result<()> {
        match self.head_size(FileKind::Config, "config") {
            Ok(_) => {
                return Err(StorageError::new(
                    ErrorKind::AlreadyExists,
                    "create",
                    self.location.to_string(),
                    "a repository exists here already",
                ))
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let url = format!("{}?create=true", self.location.base_url());
        let object = self.location.to_string();
        let answer = self.send(Method::POST, &url, &[], Some(b""), "create", &object)?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.refusal(answer.status, "create", object))
        }
    }

    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()> {
        self.check_name(kind, name, "write")?;
        let object = self.object(kind, name);
        let answer = self.send(
            Method::POST,
            &self.url(kind, name),
            &[("content-type", "application/octet-stream".to_string())],
            Some(data),
            "write",
            &object,
        )?;
        if answer.status.is_success() {
            return Ok(());
        }
        // Objects are named by their content: the one already there is this one (an upload
        // retried after its answer was lost), unless its size says otherwise.
        if answer.status == StatusCode::FORBIDDEN && kind != FileKind::Config {
            if let Ok(size) = self.head_size(kind, name) {
                if size == data.len() as u64 {
                    return Ok(());
                }
            }
        }
        Err(self.refusal(answer.status, "write", object))
    }

    fn get(&self, kind: FileKind, name: &str) -> Result<Vec<u8>> {
        self.check_name(kind, name, "read")?;
        let object = self.object(kind, name);
        let answer = self.send(
            Method::GET,
            &self.url(kind, name),
            &[],
            None,
            "read",
            &object,
        )?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(self.refusal(answer.status, "read", object))
        }
    }

    fn get_range(&self, kind: FileKind, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        self.check_name(kind, name, "read")?;
        let object = self.object(kind, name);
        let short = |got: u64| {
            StorageError::new(
                ErrorKind::Invalid,
                "read",
                self.object(kind, name),
                format!("asked for {length} bytes at offset {offset}, the file has {got}"),
            )
        };
        if length == 0 {
            // No byte range names zero bytes: the file must exist and reach the offset.
            let size = self.head_size(kind, name)?;
            return if offset <= size {
                Ok(Vec::new())
            } else {
                Err(short(size.saturating_sub(offset)))
            };
        }
        let range = format!("bytes={offset}-{}", offset + length - 1);
        let answer = self.send(
            Method::GET,
            &self.url(kind, name),
            &[("range", range)],
            None,
            "read",
            &object,
        )?;
        let body = match answer.status {
            StatusCode::PARTIAL_CONTENT => answer.body,
            // A server that ignores ranges sends the whole file.
            StatusCode::OK => answer
                .body
                .get(offset as usize..)
                .map(|rest| rest[..rest.len().min(length as usize)].to_vec())
                .unwrap_or_default(),
            StatusCode::RANGE_NOT_SATISFIABLE => return Err(short(0)),
            status => return Err(self.refusal(status, "read", object)),
        };
        if body.len() as u64 != length {
            return Err(short(body.len() as u64));
        }
        Ok(body)
    }

    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        self.check_name(kind, name, "stat")?;
        self.head_size(kind, name)
    }

    fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>> {
        match kind {
            FileKind::Config => return config_listing(self.head_size(kind, "config")),
            FileKind::Sidecar => return Ok(Vec::new()),
            _ => {}
        }
        let url = format!("{}{}/", self.location.base_url(), kind.dir());
        let object = format!("{}{}/", self.location, kind.dir());
        let answer = self.send(
            Method::GET,
            &url,
            &[("accept", LISTING_V2.to_string())],
            None,
            "list",
            &object,
        )?;
        if answer.status == StatusCode::NOT_FOUND {
            // rest-server answers 404 for a kind whose directory does not exist yet.
            return Ok(Vec::new());
        }
        if !answer.status.is_success() {
            return Err(self.refusal(answer.status, "list", object));
        }
        let listed: Vec<ListedObject> = serde_json::from_slice(&answer.body).map_err(|_| {
            StorageError::new(
                ErrorKind::Invalid,
                "list",
                object.clone(),
                "the REST server's listing is not restic's v2 JSON",
            )
        })?;
        Ok(listed
            .into_iter()
            .filter(|o| kind.is_valid_name(&o.name))
            .map(|o| ObjectInfo {
                name: o.name,
                size: o.size,
            })
            .collect())
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        self.check_name(kind, name, "remove")?;
        let object = self.object(kind, name);
        let answer = self.send(
            Method::DELETE,
            &self.url(kind, name),
            &[],
            None,
            "remove",
            &object,
        )?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.refusal(answer.status, "remove", object))
        }
    }

    /// The server makes each write durable before it answers.
    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn is_remote(&self) -> bool {
        true
    }
}

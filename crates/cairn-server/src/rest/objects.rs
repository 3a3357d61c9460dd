//! The protocol's requests on one repository: create, config, listings (v1 names, v2 names
//! and sizes), and objects (HEAD, GET with a single `Range`, POST, DELETE). Storage calls run
//! on blocking threads.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_config::RestEndpoint;
use cairn_storage::{FileKind, StorageError};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::login::{basic_credentials, log_in, LoginFailure};
use super::path::{parse_target, split_repository, PathError, Target};
use super::rules::{content_matches, may_delete, may_write, Refused};
use super::served::Served;
use super::RestState;
use crate::auth::origin::client_address;

/// The largest object accepted. restic's packs are about 16 MiB (128 MiB at most with
/// `--pack-size`); anything larger is refused (413) before it is read.
pub const OBJECT_SIZE_MAX: u64 = 128 << 20;

const LISTING_V1: &str = "application/vnd.x.restic.rest.v1";
const LISTING_V2: &str = "application/vnd.x.restic.rest.v2";

/// Who asks, for what: what every refusal is logged with.
struct RestCall {
    user: String,
    repository: String,
    endpoint: RestEndpoint,
    served: Arc<Served>,
}

pub async fn handle(State(state): State<Arc<RestState>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let Some((repository_name, rest)) = split_repository(&path) else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let (repository_name, rest) = (repository_name.to_string(), rest.to_string());
    let address = client_address(&request, state.server.settings.public_origin.is_some());
    let credentials = basic_credentials(request.headers());
    let login_state = state.clone();
    let logged_in = blocking(move || Ok(log_in(&login_state, credentials, &address))).await;
    let user = match logged_in {
        Ok(Ok(user)) => user,
        Ok(Err(LoginFailure::Refused)) => {
            let mut response = plain(StatusCode::UNAUTHORIZED, "log in with a rest user");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cairn rest\""),
            );
            return response;
        }
        Ok(Err(LoginFailure::Throttled(wait))) => {
            let mut response = plain(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins; try again later",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            return response;
        }
        Ok(Err(LoginFailure::Broken(error))) | Err(error) => {
            tracing::error!("rest: cannot check a login: {error}");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let config = state.server.daemon.config();
    let repository = config
        .repositories
        .get(&repository_name)
        .filter(|r| r.rest.is_some() && user.may_use(&r.name))
        .cloned();
    let Some(repository) = repository else {
        // The same answer whether the repository exists or not.
        tracing::warn!(
            user = %user.name,
            repository = %repository_name,
            "rest: refused: not a repository this login may use"
        );
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let target = match parse_target(&rest) {
        Ok(target) => target,
        Err(error) => {
            let (status, reason) = match error {
                PathError::Unknown => (StatusCode::NOT_FOUND, "not a place in a repository"),
                PathError::BadName => (
                    StatusCode::BAD_REQUEST,
                    "an object name is 64 lowercase hex digits",
                ),
            };
            tracing::warn!(
                user = %user.name,
                repository = %repository.name,
                object = %rest,
                "rest: refused: {reason}"
            );
            return plain(status, reason);
        }
    };
    let open_state = state.clone();
    let open_repository = repository.clone();
    let served = match blocking(move || {
        open_state
            .served
            .get(&open_repository)
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(served) => served,
        Err(error) => {
            tracing::error!("rest: cannot open repository {}: {error}", repository.name);
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot open the repository",
            );
        }
    };
    let who = RestCall {
        user: user.name,
        repository: repository.name.clone(),
        endpoint: repository.rest.expect("filtered above"),
        served,
    };
    let method = request.method().clone();
    match (method, target) {
        (Method::POST, Target::Root) => create(&who, request.uri().query()).await,
        (Method::HEAD, Target::Config) => head(&who, FileKind::Config, "config").await,
        (Method::GET, Target::Config) => {
            get(&who, FileKind::Config, "config", request.headers()).await
        }
        (Method::POST, Target::Config) => {
            upload(&state, &who, FileKind::Config, "config", request).await
        }
        (Method::DELETE, Target::Config) => delete(&who, FileKind::Config, "config").await,
        (Method::GET, Target::Listing(kind)) => list(&who, kind, request.headers()).await,
        (Method::HEAD, Target::Object(kind, name)) => head(&who, kind, &name).await,
        (Method::GET, Target::Object(kind, name)) => {
            get(&who, kind, &name, request.headers()).await
        }
        (Method::POST, Target::Object(kind, name)) => {
            upload(&state, &who, kind, &name, request).await
        }
        (Method::DELETE, Target::Object(kind, name)) => delete(&who, kind, &name).await,
        (_, target) => {
            let allow = match target {
                Target::Root => "POST",
                Target::Listing(_) => "GET",
                _ => "HEAD, GET, POST, DELETE",
            };
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            response
        }
    }
}

/// A short plain-text answer.
fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

/// A refusal, logged with who asked for what.
fn refuse(who: &RestCall, object: &str, status: StatusCode, reason: &'static str) -> Response {
    tracing::warn!(
        user = %who.user,
        repository = %who.repository,
        object,
        status = status.as_u16(),
        "rest: refused: {reason}"
    );
    plain(status, reason)
}

fn refused(who: &RestCall, object: &str, refusal: Refused) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
    refuse(who, object, status, refusal.reason)
}

fn object_label(kind: FileKind, name: &str) -> String {
    match kind {
        FileKind::Config => "config".to_string(),
        other => format!("{}/{name}", other.dir()),
    }
}

/// A storage failure as an answer: not found is 404, anything else 500 (logged; storage
/// messages name objects and locations, never secrets).
fn storage_failure(who: &RestCall, object: &str, error: &StorageError) -> Response {
    if error.is_not_found() {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    tracing::error!(
        user = %who.user,
        repository = %who.repository,
        object,
        "rest: storage failed: {error}"
    );
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the repository's storage failed",
    )
}

async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| format!("the request was dropped: {e}"))?
}

/// Runs a storage call on a blocking thread.
async fn storage<T: Send + 'static>(
    served: &Arc<Served>,
    call: impl FnOnce(&Served) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    let served = served.clone();
    tokio::task::spawn_blocking(move || call(&served))
        .await
        .unwrap_or_else(|e| {
            Err(StorageError::new(
                cairn_storage::ErrorKind::Other,
                "serve",
                "rest request",
                format!("the request was dropped: {e}"),
            ))
        })
}

async fn create(who: &RestCall, query: Option<&str>) -> Response {
    let wants_create = query.is_some_and(|q| q.split('&').any(|pair| pair == "create=true"));
    if !wants_create {
        return refuse(
            who,
            "/",
            StatusCode::BAD_REQUEST,
            "POST / needs ?create=true",
        );
    }
    match storage(&who.served, |served| served.store.create()).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) if e.kind == cairn_storage::ErrorKind::AlreadyExists => refuse(
            who,
            "config",
            StatusCode::FORBIDDEN,
            "the repository exists already",
        ),
        Err(e) => storage_failure(who, "/", &e),
    }
}

async fn head(who: &RestCall, kind: FileKind, name: &str) -> Response {
    let object = object_label(kind, name);
    let owned = name.to_string();
    match storage(&who.served, move |served| served.store.size(kind, &owned)).await {
        Ok(size) => sized_empty(size),
        Err(e) => storage_failure(who, &object, &e),
    }
}

/// An answer to HEAD: the object's length, no body.
fn sized_empty(size: u64) -> Response {
    let mut response = Response::new(Body::empty());
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    response
}

/// A single byte range (`bytes=A-B`, `bytes=A-`, `bytes=-N`); anything else reads as no range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    From(u64, Option<u64>),
    Last(u64),
}

fn byte_range(headers: &HeaderMap) -> Option<ByteRange> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    match (start.trim(), end.trim()) {
        ("", last) => last.parse().ok().map(ByteRange::Last),
        (start, "") => start.parse().ok().map(|s| ByteRange::From(s, None)),
        (start, end) => {
            let (start, end) = (start.parse().ok()?, end.parse().ok()?);
            (start <= end).then_some(ByteRange::From(start, Some(end)))
        }
    }
}

/// The offset and length a range covers in an object of `size` bytes; `None`: unsatisfiable.
fn resolve_range(range: ByteRange, size: u64) -> Option<(u64, u64)> {
    match range {
        ByteRange::From(start, _) if start >= size => None,
        ByteRange::From(start, end) => {
            let end = end.unwrap_or(u64::MAX).min(size - 1);
            Some((start, end - start + 1))
        }
        ByteRange::Last(0) => None,
        ByteRange::Last(n) => {
            let n = n.min(size);
            (n > 0).then_some((size - n, n))
        }
    }
}

enum Read {
    Whole(Vec<u8>),
    Part {
        data: Vec<u8>,
        offset: u64,
        size: u64,
    },
    Unsatisfiable {
        size: u64,
    },
}

async fn get(who: &RestCall, kind: FileKind, name: &str, headers: &HeaderMap) -> Response {
    let object = object_label(kind, name);
    let owned = name.to_string();
    let range = byte_range(headers);
    let read = storage(&who.served, move |served| {
        let Some(range) = range else {
            return served.store.get(kind, &owned).map(Read::Whole);
        };
        let size = served.store.size(kind, &owned)?;
        match resolve_range(range, size) {
            None => Ok(Read::Unsatisfiable { size }),
            Some((offset, length)) => served
                .store
                .get_range(kind, &owned, offset, length)
                .map(|data| Read::Part { data, offset, size }),
        }
    })
    .await;
    let octets = HeaderValue::from_static("application/octet-stream");
    match read {
        Ok(Read::Whole(data)) => ([(header::CONTENT_TYPE, octets)], data).into_response(),
        Ok(Read::Part { data, offset, size }) => {
            let last = offset + data.len() as u64 - 1;
            let content_range = format!("bytes {offset}-{last}/{size}");
            (
                StatusCode::PARTIAL_CONTENT,
                [
                    (header::CONTENT_TYPE, octets),
                    (
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&content_range).expect("ascii"),
                    ),
                ],
                data,
            )
                .into_response()
        }
        Ok(Read::Unsatisfiable { size }) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"),
            )],
        )
            .into_response(),
        Err(e) => storage_failure(who, &object, &e),
    }
}

#[derive(serde::Serialize)]
struct Listed {
    name: String,
    size: u64,
}

async fn list(who: &RestCall, kind: FileKind, headers: &HeaderMap) -> Response {
    let v2 = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(LISTING_V2));
    match storage(&who.served, move |served| served.store.list(kind)).await {
        Ok(objects) => {
            let (body, media_type) = if v2 {
                let listed: Vec<Listed> = objects
                    .into_iter()
                    .map(|o| Listed {
                        name: o.name,
                        size: o.size,
                    })
                    .collect();
                (serde_json::to_vec(&listed), LISTING_V2)
            } else {
                let names: Vec<String> = objects.into_iter().map(|o| o.name).collect();
                (serde_json::to_vec(&names), LISTING_V1)
            };
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))],
                body.expect("names and sizes serialize"),
            )
                .into_response()
        }
        Err(e) => storage_failure(who, &format!("{}/", kind.dir()), &e),
    }
}

async fn upload(
    state: &Arc<RestState>,
    who: &RestCall,
    kind: FileKind,
    name: &str,
    request: Request,
) -> Response {
    let object = object_label(kind, name);
    let declared: Option<u64> = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if declared.is_some_and(|length| length > OBJECT_SIZE_MAX) {
        return refuse(
            who,
            &object,
            StatusCode::PAYLOAD_TOO_LARGE,
            "the object is larger than 128 MiB",
        );
    }
    let Ok(_permit) = state.uploads.acquire().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    };
    let body = request.into_body();
    let owned = name.to_string();
    let exists = match storage(&who.served, move |served| served.store.size(kind, &owned)).await {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => return storage_failure(who, &object, &e),
    };
    if let Err(refusal) = may_write(exists) {
        drain(body).await;
        return refused(who, &object, refusal);
    }
    let quota = who.endpoint.quota.map(|q| q.bytes());
    let mut reservation = None;
    if let (Some(quota), Some(length)) = (quota, declared) {
        match reserve(who, length, quota).await {
            Ok(Some(claim)) => reservation = Some(claim),
            Ok(None) => {
                drain(body).await;
                return over_quota(who, &object);
            }
            Err(e) => return storage_failure(who, &object, &e),
        }
    }
    let mut stream = body.into_data_stream();
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return refuse(
                who,
                &object,
                StatusCode::BAD_REQUEST,
                "the upload was cut off",
            );
        };
        if body.len() as u64 + chunk.len() as u64 > OBJECT_SIZE_MAX {
            return refuse(
                who,
                &object,
                StatusCode::PAYLOAD_TOO_LARGE,
                "the object is larger than 128 MiB",
            );
        }
        hasher.update(&chunk);
        body.extend_from_slice(&chunk);
    }
    if declared.is_some_and(|length| length != body.len() as u64) {
        return refuse(
            who,
            &object,
            StatusCode::BAD_REQUEST,
            "the body is not as long as its Content-Length",
        );
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Err(refusal) = content_matches(kind, name, &digest) {
        return refused(who, &object, refusal);
    }
    if let (Some(quota), None) = (quota, &reservation) {
        match reserve(who, body.len() as u64, quota).await {
            Ok(Some(claim)) => reservation = Some(claim),
            Ok(None) => return over_quota(who, &object),
            Err(e) => return storage_failure(who, &object, &e),
        }
    }
    let owned = name.to_string();
    // Durable before restic hears it is stored: restic writes the index naming a pack, and
    // the snapshot naming the index, only after the earlier writes were acknowledged.
    let stored = storage(&who.served, move |served| {
        served.store.put(kind, &owned, &body)?;
        served.store.sync()
    })
    .await;
    match stored {
        Ok(()) => {
            if let Some(claim) = reservation {
                claim.commit();
            }
            StatusCode::OK.into_response()
        }
        Err(e) => storage_failure(who, &object, &e),
    }
}

/// Reads and drops what is left of a refused upload (at most [`OBJECT_SIZE_MAX`]), so the
/// client reads the refusal instead of a connection closed under its upload.
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut read = 0u64;
    while let Some(Ok(chunk)) = stream.next().await {
        read += chunk.len() as u64;
        if read > OBJECT_SIZE_MAX {
            break;
        }
    }
}

async fn reserve(
    who: &RestCall,
    bytes: u64,
    quota: u64,
) -> Result<Option<super::served::Reservation>, StorageError> {
    let served = who.served.clone();
    tokio::task::spawn_blocking(move || served.reserve(bytes, quota))
        .await
        .unwrap_or_else(|e| {
            Err(StorageError::new(
                cairn_storage::ErrorKind::Other,
                "serve",
                "rest request",
                format!("the request was dropped: {e}"),
            ))
        })
}

fn over_quota(who: &RestCall, object: &str) -> Response {
    refuse(
        who,
        object,
        StatusCode::INSUFFICIENT_STORAGE,
        "the repository's quota would be exceeded",
    )
}

async fn delete(who: &RestCall, kind: FileKind, name: &str) -> Response {
    let object = object_label(kind, name);
    if let Err(refusal) = may_delete(kind, who.endpoint.append_only) {
        return refused(who, &object, refusal);
    }
    let owned = name.to_string();
    let removed = storage(&who.served, move |served| {
        let size = served.store.size(kind, &owned)?;
        served.store.remove(kind, &owned)?;
        served.store.sync()?;
        Ok(size)
    })
    .await;
    match removed {
        Ok(size) => {
            who.served.removed(size);
            StatusCode::OK.into_response()
        }
        Err(e) => storage_failure(who, &object, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Option<ByteRange> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(text).unwrap());
        byte_range(&headers)
    }

    #[test]
    fn single_ranges_resolve_within_the_object() {
        assert_eq!(range("bytes=10-19"), Some(ByteRange::From(10, Some(19))));
        assert_eq!(range("bytes=10-"), Some(ByteRange::From(10, None)));
        assert_eq!(range("bytes=-5"), Some(ByteRange::Last(5)));
        assert_eq!(range("bytes=1-2,5-6"), None);
        assert_eq!(range("bytes=9-3"), None);
        assert_eq!(range("items=1-2"), None);
        let size = 100;
        assert_eq!(
            resolve_range(ByteRange::From(10, Some(19)), size),
            Some((10, 10))
        );
        assert_eq!(
            resolve_range(ByteRange::From(90, Some(500)), size),
            Some((90, 10))
        );
        assert_eq!(
            resolve_range(ByteRange::From(10, None), size),
            Some((10, 90))
        );
        assert_eq!(resolve_range(ByteRange::From(100, None), size), None);
        assert_eq!(resolve_range(ByteRange::Last(5), size), Some((95, 5)));
        assert_eq!(resolve_range(ByteRange::Last(500), size), Some((0, 100)));
    }
}

//! A repository in an S3-compatible bucket, through OpenDAL's S3 service.
//!
//! Objects sit under the location's prefix in restic's layout (`config`, `keys/…`,
//! `data/ab/ab…`), so restic reads a repository cairn wrote here and the other way round.
//! Every `put` is a single PUT, which S3 makes atomic: readers see the old object or the whole
//! new one. Every PUT carries Content-MD5, so a body damaged on the way is refused by the
//! server (400 BadDigest) instead of stored; such a write is sent again (bounded, with the
//! retry policy's backoff). The trait is synchronous; the store blocks on its own small tokio
//! runtime.
//!
//! Transient failures are retried inside OpenDAL's retry layer (exponential backoff with
//! jitter, bounded attempts); permanent ones come back at once with a message from
//! [`errors::classify`]. A bandwidth limit (`S3Options::bandwidth_limit_bytes_per_sec`) is
//! kept by the store's own HTTP transport (`transport.rs`), per chunk of every body.
//!
//! Object Lock (`object_lock.rs`: writes with a retention date, extending it, the bucket's
//! versioning and lock settings) goes through requests OpenDAL has no operation for, signed
//! by the signer OpenDAL uses (`signed.rs`); object versions (`versions.rs`: listing them with
//! delete markers, reading one) go through OpenDAL.

mod discover;
pub mod errors;
pub mod location;
pub mod object_lock;
pub mod options;
pub mod probe;
mod signed;
mod transport;
mod versions;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use opendal::layers::{RetryEvent, RetryLayer, TimeoutLayer};
use opendal::options::ListOptions;
use opendal::{services, Buffer, HttpTransporter, Operator};

use crate::error::{ErrorKind, StorageError};
use crate::kind::FileKind;
use crate::retention::{ObjectVersion, Retention};
use crate::throttle::TokenBucket;
use crate::{ObjectInfo, Result, Storage};

pub use location::{LocationError, S3Location};
pub use object_lock::{BucketVersioning, DefaultRetention, LockConfiguration};
pub use options::{Addressing, RetryPolicy, S3Credentials, S3Options, ServerSideEncryption};

pub struct S3Store {
    runtime: Arc<tokio::runtime::Runtime>,
    /// Every request but bulk writes: objects written through it get the STANDARD class.
    operator: Operator,
    /// Bulk writes (`put_bulk`), with the configured storage class (`operator` without one).
    bulk_operator: Operator,
    /// What OpenDAL has no operation for (Object Lock), through the same transport.
    signed: signed::SignedRequests,
    location: S3Location,
    access_key_id: String,
    options: S3Options,
}

impl S3Store {
    pub fn open(location: S3Location, options: S3Options) -> Result<S3Store> {
        // Installs the reqwest HTTP transport (once per process; later calls do nothing).
        opendal::install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cairn-s3")
            .enable_all()
            .build()
            .map_err(|e| StorageError::from_io("start", location.to_string(), e))?;
        // One transport for both operators: the limit holds for all transfers together.
        let transport = options.bandwidth_limit_bytes_per_sec.map(|rate| {
            HttpTransporter::new(transport::ThrottledTransport::new(
                Arc::new(TokenBucket::new(rate)),
                options.retry.request_timeout,
            ))
        });
        let operator = build_operator(&location, &options, transport.as_ref(), None)?;
        let bulk_operator = match &options.bulk_storage_class {
            Some(class) => build_operator(&location, &options, transport.as_ref(), Some(class))?,
            None => operator.clone(),
        };
        let signed = signed::SignedRequests::new(
            &location,
            &options,
            uses_virtual_host(&location, &options),
            operator.context().http_transport().clone(),
        );
        Ok(S3Store {
            runtime: Arc::new(runtime),
            operator,
            bulk_operator,
            signed,
            access_key_id: options.credentials.access_key_id.clone(),
            location,
            options,
        })
    }

    pub fn s3_location(&self) -> &S3Location {
        &self.location
    }

    pub fn options(&self) -> &S3Options {
        &self.options
    }

    /// The same bucket and credentials under another prefix (for `mirror orphans`).
    pub fn at_prefix(&self, prefix: &str) -> Result<S3Store> {
        S3Store::open(self.location.with_prefix(prefix), self.options.clone())
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    fn error(&self, err: opendal::Error, operation: &'static str, key: &str) -> StorageError {
        let ctx = errors::ErrorContext {
            endpoint: &self.location.endpoint,
            bucket: &self.location.bucket,
            access_key_id: &self.access_key_id,
            retries: self.options.retry.retries,
        };
        errors::classify(err, operation, self.object_name(key), &ctx)
    }

    /// How an object is named in messages: the repository URL and the relative key.
    fn object_name(&self, key: &str) -> String {
        format!("{}/{key}", self.location)
    }

    /// Writes an object at a path relative to the prefix (STANDARD class).
    pub fn put_object(&self, key: &str, data: &[u8]) -> Result<()> {
        self.write_with(&self.operator, key, data)
    }

    fn write_with(&self, operator: &Operator, key: &str, data: &[u8]) -> Result<()> {
        let body = Buffer::from(data.to_vec());
        let retry = self.options.retry;
        let mut delay = retry.min_delay;
        let mut attempt = 0;
        loop {
            match self.block_on(operator.write(key, body.clone())) {
                Ok(_) => return Ok(()),
                // The server refused a body damaged on the way (OpenDAL does not retry a 400):
                // the same bytes sent again usually arrive whole.
                Err(e) if errors::is_bad_digest(&e) && attempt < retry.retries => {
                    attempt += 1;
                    std::thread::sleep(with_jitter(delay));
                    delay = (delay * 2).min(retry.max_delay);
                }
                Err(e) => return Err(self.error(e, "write", key)),
            }
        }
    }

    /// Reads an object at a path relative to the prefix.
    pub fn get_object(&self, key: &str) -> Result<Vec<u8>> {
        self.block_on(self.operator.read(key))
            .map(|buffer| buffer.to_vec())
            .map_err(|e| self.error(e, "read", key))
    }

    /// Deletes an object at a path relative to the prefix; deleting a missing one succeeds.
    pub fn delete_object(&self, key: &str) -> Result<()> {
        self.block_on(self.operator.delete(key))
            .map_err(|e| self.error(e, "remove", key))
    }

    /// The size of an object at a path relative to the prefix.
    pub fn object_size(&self, key: &str) -> Result<u64> {
        self.block_on(self.operator.stat(key))
            .map(|meta| meta.content_length())
            .map_err(|e| self.error(e, "stat", key))
    }

    /// Fails with the store's answer (e.g. "bucket … does not exist") unless the bucket can
    /// be listed.
    pub fn check_bucket(&self) -> Result<()> {
        let options = ListOptions {
            limit: Some(1),
            ..ListOptions::default()
        };
        // One page of at most one key: the lister is dropped before it asks for more.
        let first = self.block_on(async {
            let mut lister = self.operator.lister_options("", options).await?;
            lister.next().await.transpose()
        });
        first.map(|_| ()).map_err(|e| self.error(e, "list", ""))
    }

    /// Object keys and sizes under `dir` (relative, ending in `/`, or empty for the prefix
    /// itself), recursively or one level (then sub-directories end in `/`).
    pub fn list_keys(&self, dir: &str, recursive: bool) -> Result<Vec<ObjectInfo>> {
        let options = ListOptions {
            recursive,
            ..ListOptions::default()
        };
        let entries = self
            .block_on(self.operator.list_options(dir, options))
            .map_err(|e| self.error(e, "list", dir))?;
        Ok(entries
            .into_iter()
            .filter(|entry| entry.path() != dir)
            .map(|entry| ObjectInfo {
                size: entry.metadata().content_length(),
                name: entry.path().to_string(),
            })
            .collect())
    }
}

/// Between half and the whole of `delay`, so clients refused together do not retry together.
pub(crate) fn with_jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

fn uses_virtual_host(location: &S3Location, options: &S3Options) -> bool {
    match options.addressing {
        Addressing::VirtualHost => true,
        Addressing::PathStyle => false,
        Addressing::Auto => location.host().ends_with(".amazonaws.com"),
    }
}

/// With a bandwidth limit, the transport keeps the request timeout (not counting waits for
/// the limit) and the timeout layer's I/O bound only catches what nothing else would.
const THROTTLED_IO_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

fn build_operator(
    location: &S3Location,
    options: &S3Options,
    transport: Option<&HttpTransporter>,
    storage_class: Option<&str>,
) -> Result<Operator> {
    let credentials = &options.credentials;
    let mut builder = services::S3::default()
        .endpoint(&location.endpoint)
        .bucket(&location.bucket)
        .root(&format!("/{}", location.prefix))
        .region(&options.region)
        .access_key_id(&credentials.access_key_id)
        .secret_access_key(&credentials.secret_access_key)
        // Credentials come from the options alone: no profile files, no instance metadata.
        .disable_config_load()
        .disable_ec2_metadata()
        // Content-MD5 on every PutObject: the one integrity header every S3-compatible store
        // verifies. OpenDAL refuses it for multipart uploads; every write here is one PUT.
        .checksum_algorithm("md5");
    if let Some(token) = &credentials.session_token {
        builder = builder.session_token(token);
    }
    if uses_virtual_host(location, options) {
        builder = builder.enable_virtual_host_style();
    }
    if let Some(class) = storage_class {
        builder = builder.default_storage_class(class);
    }
    match &options.server_side_encryption {
        Some(ServerSideEncryption::Aes256) => {
            builder = builder.server_side_encryption_with_s3_key()
        }
        Some(ServerSideEncryption::Kms(key)) => {
            builder = builder.server_side_encryption_with_customer_managed_kms_key(key)
        }
        None => {}
    }
    let retry = options.retry;
    let mut operator = Operator::new(builder).map_err(|e| {
        StorageError::new(
            ErrorKind::Misconfigured,
            "open",
            location.to_string(),
            format!("cannot use this S3 location: {}", e.message()),
        )
    })?;
    let mut io_timeout = retry.request_timeout;
    if let Some(transport) = transport {
        let context = operator.context().with_http_transport(transport.clone());
        operator = operator.with_context(context);
        io_timeout = THROTTLED_IO_TIMEOUT;
    }
    let operator = operator
        .layer(
            TimeoutLayer::new()
                .with_timeout(retry.request_timeout)
                .with_io_timeout(io_timeout),
        )
        .layer(
            RetryLayer::new()
                .with_notify(log_retry)
                .with_jitter()
                .with_max_times(retry.retries)
                .with_min_delay(retry.min_delay)
                .with_max_delay(retry.max_delay),
        );
    Ok(operator)
}

/// One line per retry, at info level: a retried request is the store working as designed, and
/// OpenDAL's own warning spans a dozen lines with request details.
fn log_retry(event: RetryEvent<'_>) {
    tracing::info!(
        "S3 {:?} failed ({}: {}); retry {} in {:.1}s",
        event.op,
        event.err.kind(),
        event.err.message().lines().next().unwrap_or_default(),
        event.attempt,
        event.retry_after.as_secs_f64()
    );
}

impl Storage for S3Store {
    fn location(&self) -> String {
        self.location.to_string()
    }

    fn create(&self) -> Result<()> {
        match self.size(FileKind::Config, "config") {
            Ok(_) => Err(StorageError::new(
                ErrorKind::AlreadyExists,
                "create",
                self.object_name("config"),
                "a repository already exists here",
            )),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()> {
        self.put_object(&kind.path(name), data)
    }

    fn put_bulk(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()> {
        self.write_with(&self.bulk_operator, &kind.path(name), data)
    }

    fn get(&self, kind: FileKind, name: &str) -> Result<Vec<u8>> {
        self.get_object(&kind.path(name))
    }

    fn get_range(&self, kind: FileKind, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        let key = kind.path(name);
        if length == 0 {
            self.size(kind, name)?;
            return Ok(Vec::new());
        }
        let data = self
            .block_on(
                self.operator
                    .read_with(&key)
                    .range(offset..offset + length)
                    .into_future(),
            )
            .map(|buffer| buffer.to_vec())
            .map_err(|e| self.error(e, "read", &key))?;
        if data.len() as u64 != length {
            return Err(StorageError::new(
                ErrorKind::Invalid,
                "read",
                self.object_name(&key),
                format!(
                    "short read: {} bytes at offset {offset}, {length} wanted",
                    data.len()
                ),
            ));
        }
        Ok(data)
    }

    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        let result = self.object_size(&kind.path(name));
        if kind == FileKind::Config && result.as_ref().is_err_and(|e| e.is_not_found()) {
            // A HEAD answers 404 without a body both for a missing object and a missing
            // bucket; asking whether a repository is here deserves to hear which.
            self.check_bucket()?;
        }
        result
    }

    fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>> {
        if kind == FileKind::Config {
            return crate::config_listing(self.size(kind, "config"));
        }
        let (dir, recursive) = match kind {
            FileKind::Sidecar => (String::new(), false),
            other => (format!("{}/", other.dir()), true),
        };
        let entries = self.list_keys(&dir, recursive)?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let name = entry.name.rsplit('/').next()?.to_string();
                kind.is_valid_name(&name).then_some(ObjectInfo {
                    name,
                    size: entry.size,
                })
            })
            .collect())
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        // S3 deletes a missing key without complaint; the trait reports it as not found.
        self.size(kind, name)?;
        self.delete_object(&kind.path(name))
    }

    fn sync(&self) -> Result<()> {
        // A PUT that returned is durable on the server.
        Ok(())
    }

    fn write_concurrency(&self) -> usize {
        self.options.transfers.max(1)
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn put_retained(
        &self,
        kind: FileKind,
        name: &str,
        data: &[u8],
        bulk: bool,
        retention: &Retention,
    ) -> Result<()> {
        self.put_locked(&kind.path(name), data, bulk, retention)
    }

    fn extend_retention(&self, kind: FileKind, name: &str, retention: &Retention) -> Result<()> {
        self.set_object_retention(&kind.path(name), retention)
    }

    fn retention(&self, kind: FileKind, name: &str) -> Result<Option<Retention>> {
        self.object_retention(&kind.path(name))
    }

    fn list_versions(&self, kind: FileKind) -> Result<Vec<ObjectVersion>> {
        self.object_versions(kind)
    }

    fn check_object_lock(&self) -> Result<()> {
        match probe::object_lock_steps(self)
            .into_iter()
            .find(|step| !step.ok)
        {
            None => Ok(()),
            Some(step) => Err(StorageError::new(
                ErrorKind::Misconfigured,
                "use",
                self.location.to_string(),
                format!("{}; {}", step.detail, step.fix.unwrap_or_default()),
            )),
        }
    }

    fn get_version(&self, kind: FileKind, name: &str, version_id: &str) -> Result<Vec<u8>> {
        self.read_version(&kind.path(name), version_id)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod transfer_tests;

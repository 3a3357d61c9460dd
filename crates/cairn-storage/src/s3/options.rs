//! How to reach and write an S3 store: credentials, addressing, retries, and the headers the
//! offsite mirror sets (storage class, server-side encryption).

use std::fmt;
use std::time::Duration;

/// An access key pair (and session token). `Debug` never shows the secret parts.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Path-style (`host/bucket/key`) or virtual-host (`bucket.host/key`) requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// Virtual-host for AWS endpoints (`*.amazonaws.com`), path-style elsewhere: most
    /// self-hosted stores (MinIO, Garage, Ceph) want path-style.
    #[default]
    Auto,
    PathStyle,
    VirtualHost,
}

/// Server-side encryption requested on every object written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSideEncryption {
    /// SSE-S3 (`AES256`).
    Aes256,
    /// SSE-KMS with the given key id or ARN.
    Kms(String),
}

impl ServerSideEncryption {
    /// `aes256` or `kms:KEY_ID`.
    pub fn parse(text: &str) -> Option<ServerSideEncryption> {
        if text.eq_ignore_ascii_case("aes256") {
            Some(ServerSideEncryption::Aes256)
        } else {
            let key = text.strip_prefix("kms:")?;
            (!key.is_empty()).then(|| ServerSideEncryption::Kms(key.to_string()))
        }
    }
}

/// Retries of transient failures (timeouts, resets, 5xx, 429/SlowDown): exponential backoff
/// with jitter, bounded in attempts so a dead endpoint fails in a known time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// How long one request may take before it counts as a transient failure.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Six retries from 0.25 s doubling to at most 8 s: about 24 s of waiting in all.
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 6,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            request_timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone)]
pub struct S3Options {
    pub credentials: S3Credentials,
    /// `us-east-1` unless the store says otherwise.
    pub region: String,
    pub addressing: Addressing,
    /// Storage class of what is written with `put_bulk` (the mirror's data packs); everything
    /// else stays STANDARD so the repository stays readable without a cold-storage restore.
    pub bulk_storage_class: Option<String>,
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// Requests worth running at once.
    pub transfers: usize,
    pub retry: RetryPolicy,
    /// Bytes per second on the wire for all transfers of the store together (request and
    /// response bodies), paced per chunk of a few KiB; `None`: no limit.
    pub bandwidth_limit_bytes_per_sec: Option<u64>,
}

impl S3Options {
    pub fn new(credentials: S3Credentials) -> S3Options {
        S3Options {
            credentials,
            region: "us-east-1".to_string(),
            addressing: Addressing::Auto,
            bulk_storage_class: None,
            server_side_encryption: None,
            transfers: 8,
            retry: RetryPolicy::default(),
            bandwidth_limit_bytes_per_sec: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let credentials = S3Credentials {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("token-secret".into()),
        };
        let shown = format!("{:?}", S3Options::new(credentials));
        assert!(shown.contains("AKIAEXAMPLE"));
        assert!(!shown.contains("very-secret") && !shown.contains("token-secret"));
    }

    #[test]
    fn parses_sse() {
        assert_eq!(
            ServerSideEncryption::parse("AES256"),
            Some(ServerSideEncryption::Aes256)
        );
        assert_eq!(
            ServerSideEncryption::parse("kms:alias/backup"),
            Some(ServerSideEncryption::Kms("alias/backup".into()))
        );
        assert_eq!(ServerSideEncryption::parse("kms:"), None);
        assert_eq!(ServerSideEncryption::parse("rot13"), None);
    }
}

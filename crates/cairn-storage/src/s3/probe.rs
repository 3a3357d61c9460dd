//! Test Connection: each thing a mirror needs from an S3 endpoint, checked in order, with
//! what to fix when one fails. It never creates a bucket; the probe object it writes is
//! removed again.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;

use super::{BucketVersioning, S3Location, S3Options, S3Store};
use crate::error::ErrorKind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeStep {
    pub step: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to change when the step failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn passed(step: &'static str, detail: impl Into<String>) -> ProbeStep {
    ProbeStep {
        step,
        ok: true,
        detail: detail.into(),
        fix: None,
    }
}

fn failed(step: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> ProbeStep {
    ProbeStep {
        step,
        ok: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// Runs the steps until one fails (later steps need the earlier ones); returns them all.
pub fn probe(location: &S3Location, options: &S3Options) -> Vec<ProbeStep> {
    let mut steps = Vec::new();
    let host = location.host().to_string();
    let with_port = if host.contains(':') {
        host.clone()
    } else if location.is_https() {
        format!("{host}:443")
    } else {
        format!("{host}:80")
    };

    let addresses: Vec<_> = match with_port.to_socket_addrs() {
        Ok(found) => found.collect(),
        Err(e) => {
            steps.push(failed(
                "resolve",
                format!("{host}: {e}"),
                "check the endpoint's host name and this machine's DNS",
            ));
            return steps;
        }
    };
    let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    steps.push(passed("resolve", format!("{host} is {}", shown.join(", "))));

    let reached = addresses.iter().find_map(|a| {
        TcpStream::connect_timeout(a, Duration::from_secs(5))
            .ok()
            .map(|_| *a)
    });
    match reached {
        Some(address) => steps.push(passed("connect", format!("TCP to {address} is open"))),
        None => {
            steps.push(failed(
                "connect",
                format!("no answer on {with_port}"),
                "check the port, firewalls on the way, and that the S3 service is running",
            ));
            return steps;
        }
    }

    let mut quick = options.clone();
    quick.retry.retries = 1;
    let store = match S3Store::open(location.clone(), quick) {
        Ok(store) => store,
        Err(e) => {
            steps.push(failed("tls", e.message, "check the endpoint URL"));
            return steps;
        }
    };

    // The first request proves TLS (for https), the credentials and the bucket together;
    // its answer says which of them failed.
    let listed = store.check_bucket();
    if location.is_https() {
        match &listed {
            Err(e) if is_tls_problem(&e.message) => {
                steps.push(failed(
                    "tls",
                    e.message.clone(),
                    "the server's certificate is not trusted: check the host name, the \
                     certificate chain, or the system's CA bundle",
                ));
                return steps;
            }
            _ => steps.push(passed("tls", "the certificate is valid for the host")),
        }
    } else {
        steps.push(passed("tls", "not used (http endpoint)"));
    }
    let key_id = &options.credentials.access_key_id;
    match listed {
        Ok(()) => {
            steps.push(passed("credentials", format!("key id {key_id} accepted")));
            steps.push(passed("bucket", format!("{} exists", location.bucket)));
            steps.push(passed("list", "s3:ListBucket allowed"));
        }
        Err(e) => {
            let message = e.message;
            if message.contains("InvalidAccessKeyId") || message.contains("SignatureDoesNotMatch") {
                steps.push(failed(
                    "credentials",
                    message,
                    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a valid key pair",
                ));
            } else if e.kind == ErrorKind::Misconfigured && message.contains("does not exist") {
                steps.push(passed("credentials", format!("key id {key_id} accepted")));
                steps.push(failed(
                    "bucket",
                    message,
                    "create the bucket first (cairn never creates one)",
                ));
            } else if e.kind == ErrorKind::PermissionDenied {
                steps.push(passed("credentials", format!("key id {key_id} accepted")));
                steps.push(passed("bucket", format!("{} answered", location.bucket)));
                steps.push(failed(
                    "list",
                    message,
                    format!("allow s3:ListBucket on arn:aws:s3:::{}", location.bucket),
                ));
            } else {
                steps.push(failed(
                    "credentials",
                    message,
                    "check the endpoint and try again",
                ));
            }
            return steps;
        }
    }

    let probe_key = format!("cairn-probe-{:016x}", rand::random::<u64>());
    let object = location.key(&probe_key);
    let arn = format!("arn:aws:s3:::{}/{}", location.bucket, location.key("*"));
    let payload = probe_key.as_bytes();
    if let Err(e) = store.put_object(&probe_key, payload) {
        steps.push(failed(
            "put",
            e.message,
            format!("allow s3:PutObject on {arn}"),
        ));
        return steps;
    }
    steps.push(passed("put", format!("wrote {object}")));
    match store.get_object(&probe_key) {
        Ok(data) if data == payload => steps.push(passed("get", format!("read {object} back"))),
        Ok(_) => steps.push(failed(
            "get",
            format!("{object} came back different"),
            "the store does not return what was written; check any proxy or gateway on the way",
        )),
        Err(e) => steps.push(failed(
            "get",
            e.message,
            format!("allow s3:GetObject on {arn}"),
        )),
    }
    match store.delete_object(&probe_key) {
        Ok(()) => steps.push(passed("delete", format!("removed {object}"))),
        Err(e) => steps.push(failed(
            "delete",
            format!("{} (the probe object {object} is left behind)", e.message),
            format!("allow s3:DeleteObject on {arn}"),
        )),
    }
    steps
}

fn is_tls_problem(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["certificate", "tls", "handshake", "ssl"]
        .iter()
        .any(|word| lower.contains(word))
}

/// The checks a mirror under Object Lock needs beyond [`probe`]: versioning Enabled on the
/// bucket and Object Lock enabled (its default retention, if any, reported), each with what
/// to do when it fails. Run after [`probe`] passed.
pub fn probe_object_lock(location: &S3Location, options: &S3Options) -> Vec<ProbeStep> {
    let mut quick = options.clone();
    quick.retry.retries = 1;
    let store = match S3Store::open(location.clone(), quick) {
        Ok(store) => store,
        Err(e) => return vec![failed("versioning", e.message, "check the endpoint URL")],
    };
    object_lock_steps(&store)
}

/// [`probe_object_lock`] on an open store.
pub fn object_lock_steps(store: &S3Store) -> Vec<ProbeStep> {
    let bucket = &store.s3_location().bucket;
    let create = format!(
        "create the bucket with object lock enabled: aws s3api create-bucket --bucket {bucket} \
         --object-lock-enabled-for-bucket (Object Lock cannot be turned on for most existing \
         buckets; mirror to a new one)"
    );
    let mut steps = Vec::new();
    match store.bucket_versioning() {
        Ok(BucketVersioning::Enabled) => steps.push(passed(
            "versioning",
            format!("{bucket} keeps object versions"),
        )),
        Ok(state) => steps.push(failed(
            "versioning",
            format!(
                "versioning is {} on {bucket}: deleted and overwritten objects are gone for good",
                if state == BucketVersioning::Suspended {
                    "suspended"
                } else {
                    "off"
                }
            ),
            create.clone(),
        )),
        Err(e) => steps.push(failed(
            "versioning",
            e.message,
            format!("allow s3:GetBucketVersioning on arn:aws:s3:::{bucket}"),
        )),
    }
    match store.object_lock_configuration() {
        Ok(Some(config)) if config.enabled => {
            let default = match &config.default_retention {
                Some(d) => format!(
                    "; default retention {} {}",
                    d.mode,
                    match (d.days, d.years) {
                        (Some(days), _) => format!("{days} days"),
                        (None, Some(years)) => format!("{years} years"),
                        (None, None) => "of no length".to_string(),
                    }
                ),
                None => "; no default retention (cairn sets one on every object)".to_string(),
            };
            steps.push(passed(
                "object lock",
                format!("{bucket} has Object Lock enabled{default}"),
            ))
        }
        Ok(_) => steps.push(failed(
            "object lock",
            format!("{bucket} has no Object Lock: retention dates cannot be set"),
            create,
        )),
        Err(e) => steps.push(failed(
            "object lock",
            e.message,
            format!("allow s3:GetBucketObjectLockConfiguration on arn:aws:s3:::{bucket}"),
        )),
    }
    steps
}

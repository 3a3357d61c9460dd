//! Turns OpenDAL's S3 errors into [`StorageError`]s that say what to check.
//!
//! The messages are built here from the S3 error code and the failing cause, never by
//! printing OpenDAL's error whole: that keeps them to one line and keeps anything a request
//! carried (headers, signatures) out of them. The access key id is named; the secret never.

use crate::error::{ErrorKind, StorageError};

/// What a message about a failure needs to name.
pub(crate) struct ErrorContext<'a> {
    pub endpoint: &'a str,
    pub bucket: &'a str,
    pub access_key_id: &'a str,
    pub retries: usize,
}

/// The IAM action an operation needs, for "the policy must allow …" hints.
pub fn iam_action(operation: &str) -> &'static str {
    match operation {
        "write" => "s3:PutObject",
        "list" => "s3:ListBucket",
        "remove" => "s3:DeleteObject",
        _ => "s3:GetObject",
    }
}

pub(crate) fn classify(
    err: opendal::Error,
    operation: &'static str,
    object: String,
    ctx: &ErrorContext<'_>,
) -> StorageError {
    let code = s3_code(err.message());
    let (kind, message) = match (err.kind(), code.as_deref()) {
        (_, Some("NoSuchBucket")) => (
            ErrorKind::Misconfigured,
            format!(
                "bucket {} does not exist at {}; create it first",
                ctx.bucket, ctx.endpoint
            ),
        ),
        (opendal::ErrorKind::NotFound, _) => (ErrorKind::NotFound, "no such object".into()),
        (_, Some("BadDigest")) => (
            ErrorKind::Transient,
            format!(
                "{} refused the body as damaged in transit (BadDigest: it did not match its \
                 Content-MD5) on all {} attempts, so the object was not written; check the \
                 network path to the endpoint (proxy, NIC, memory) and run again",
                ctx.endpoint,
                ctx.retries + 1
            ),
        ),
        (_, Some("InvalidDigest")) => (
            ErrorKind::Other,
            format!(
                "{} refused the request's Content-MD5 header as malformed (InvalidDigest); \
                 a proxy on the way may be rewriting requests",
                ctx.endpoint
            ),
        ),
        (_, Some("InvalidAccessKeyId")) => (
            ErrorKind::PermissionDenied,
            format!(
                "{} does not know the access key id {} (InvalidAccessKeyId); check \
                 AWS_ACCESS_KEY_ID",
                ctx.endpoint, ctx.access_key_id
            ),
        ),
        (_, Some("SignatureDoesNotMatch")) => (
            ErrorKind::PermissionDenied,
            format!(
                "{} refused the signature of access key id {} (SignatureDoesNotMatch); check \
                 AWS_SECRET_ACCESS_KEY",
                ctx.endpoint, ctx.access_key_id
            ),
        ),
        (opendal::ErrorKind::PermissionDenied, code) => (
            ErrorKind::PermissionDenied,
            format!(
                "access denied ({}) to access key id {} on bucket {} at {}; check the key and \
                 that its policy allows {}",
                code.unwrap_or("HTTP 403"),
                ctx.access_key_id,
                ctx.bucket,
                ctx.endpoint,
                iam_action(operation)
            ),
        ),
        (opendal::ErrorKind::ConfigInvalid, _) => (
            ErrorKind::Misconfigured,
            format!("{} cannot be used: {}", ctx.endpoint, root_cause(&err)),
        ),
        (_, Some(code)) if err.is_temporary() || err.is_persistent() => (
            ErrorKind::Transient,
            format!(
                "{} answered {code} and still did after {} retries; the service is overloaded \
                 or failing, try again later",
                ctx.endpoint, ctx.retries
            ),
        ),
        _ if err.is_temporary() || err.is_persistent() => (
            ErrorKind::Transient,
            format!(
                "{} did not answer after {} retries: {}; check that the endpoint is \
                 reachable and up",
                ctx.endpoint,
                ctx.retries,
                root_cause(&err)
            ),
        ),
        _ => (
            ErrorKind::Other,
            format!(
                "{} answered {}: {}",
                ctx.endpoint,
                code.as_deref().unwrap_or("an error"),
                root_cause(&err)
            ),
        ),
    };
    StorageError::new(kind, operation, object, message)
}

/// Whether the server refused a body because it did not match its Content-MD5: the bytes were
/// damaged on the way, and sending them again may succeed.
pub(crate) fn is_bad_digest(err: &opendal::Error) -> bool {
    s3_code(err.message()).as_deref() == Some("BadDigest")
}

/// The S3 error code (`NoSuchBucket`, `AccessDenied`, …) in OpenDAL's message, which holds
/// the parsed error document as `S3Error { code: "…", … }`.
fn s3_code(message: &str) -> Option<String> {
    let start = message.find("code: \"")? + "code: \"".len();
    let end = message[start..].find('"')?;
    let code = &message[start..start + end];
    (!code.is_empty()).then(|| code.to_string())
}

/// The innermost cause's text (e.g. "Connection refused (os error 111)"), or OpenDAL's
/// message when there is no inner cause.
fn root_cause(err: &opendal::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    let mut text = None;
    while let Some(inner) = cause {
        text = Some(inner.to_string());
        cause = inner.source();
    }
    let text = text.unwrap_or_else(|| err.message().to_string());
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ErrorContext<'static> {
        ErrorContext {
            endpoint: "http://127.0.0.1:9",
            bucket: "backups",
            access_key_id: "AKIAEXAMPLE",
            retries: 3,
        }
    }

    fn s3_error(kind: opendal::ErrorKind, code: &str) -> opendal::Error {
        opendal::Error::new(
            kind,
            format!(
                "S3Error {{ code: \"{code}\", message: \"m\", resource: \"\", request_id: \"\" }}"
            ),
        )
    }

    #[test]
    fn names_the_bucket_and_endpoint_for_a_missing_bucket() {
        let err = classify(
            s3_error(opendal::ErrorKind::ConfigInvalid, "NoSuchBucket"),
            "read",
            "config".into(),
            &ctx(),
        );
        assert_eq!(err.kind, ErrorKind::Misconfigured);
        assert_eq!(
            err.message,
            "bucket backups does not exist at http://127.0.0.1:9; create it first"
        );
    }

    #[test]
    fn names_the_key_id_and_the_missing_action() {
        let err = classify(
            s3_error(
                opendal::ErrorKind::PermissionDenied,
                "SignatureDoesNotMatch",
            ),
            "read",
            "config".into(),
            &ctx(),
        );
        assert_eq!(err.kind, ErrorKind::PermissionDenied);
        assert!(err.message.contains("AKIAEXAMPLE") && err.message.contains("SECRET"));
        let denied = classify(
            s3_error(opendal::ErrorKind::PermissionDenied, "AccessDenied"),
            "remove",
            "data/ab/ab".into(),
            &ctx(),
        );
        assert!(
            denied.message.contains("s3:DeleteObject"),
            "{}",
            denied.message
        );
    }

    #[test]
    fn a_damaged_body_is_transient_and_says_it_was_not_written() {
        let damaged = s3_error(opendal::ErrorKind::Unexpected, "BadDigest");
        assert!(is_bad_digest(&damaged));
        let err = classify(damaged, "write", "data/ab/ab".into(), &ctx());
        assert!(err.is_retryable());
        assert!(
            err.message.contains("on all 4 attempts") && err.message.contains("not written"),
            "{}",
            err.message
        );
        assert!(!is_bad_digest(&s3_error(
            opendal::ErrorKind::Unexpected,
            "InvalidDigest"
        )));
    }

    #[test]
    fn temporary_failures_are_transient() {
        let err = classify(
            opendal::Error::new(opendal::ErrorKind::Unexpected, "send").set_temporary(),
            "write",
            "index/ab".into(),
            &ctx(),
        );
        assert!(err.is_retryable());
        assert!(err.message.contains("after 3 retries"), "{}", err.message);
    }
}

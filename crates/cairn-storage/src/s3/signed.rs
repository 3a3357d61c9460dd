//! S3 requests OpenDAL has no operation for (Object Lock headers on PutObject, retention,
//! bucket versioning and lock configuration), signed by the SigV4 signer OpenDAL's S3 service
//! itself uses (`reqsign`) and sent through the store's own HTTP transport, so a bandwidth
//! limit holds for them as for every other request.
//!
//! A failure comes back as an [`opendal::Error`] shaped as OpenDAL's S3 service shapes one
//! (kind from the status, `code: "…"` from the error document, temporary for 5xx, 429 and
//! network failures), so [`super::errors::classify`] words it as it words the rest. Temporary
//! failures and BadDigest are retried here with the store's retry policy: these requests do
//! not pass through OpenDAL's retry and timeout layers.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use md5::{Digest, Md5};
use opendal::{Buffer, HttpTransporter};
use reqsign_aws_v4::{Credential, RequestSigner, StaticCredentialProvider};
use reqsign_core::{Context, Signer};

use super::options::RetryPolicy;
use super::{S3Location, S3Options};

/// One request: the object key relative to the store's prefix (`None`: the bucket itself),
/// the sub-resource query (`retention`, `versioning`, `object-lock`, or empty) and headers.
pub(crate) struct SignedRequest<'a> {
    pub method: Method,
    pub key: Option<&'a str>,
    pub query: &'a str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Sent with its Content-MD5 when not empty.
    pub body: Bytes,
}

pub(crate) struct SignedResponse {
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub(crate) struct SignedRequests {
    signer: Signer<Credential>,
    transport: HttpTransporter,
    /// `scheme://host/bucket` (path-style) or `scheme://bucket.host` (virtual-host).
    bucket_url: String,
    prefix: String,
    retry: RetryPolicy,
}

impl SignedRequests {
    pub(crate) fn new(
        location: &S3Location,
        options: &S3Options,
        virtual_host: bool,
        transport: HttpTransporter,
    ) -> SignedRequests {
        let credentials = &options.credentials;
        let mut provider = StaticCredentialProvider::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
        );
        if let Some(token) = &credentials.session_token {
            provider = provider.with_session_token(token);
        }
        // Static credentials only: the signer needs no file, environment or HTTP access.
        let signer = Signer::new(
            Context::new(),
            provider,
            RequestSigner::new("s3", &options.region),
        );
        let bucket_url = if virtual_host {
            let (scheme, host) = location
                .endpoint
                .split_once("://")
                .unwrap_or(("https", &location.endpoint));
            format!("{scheme}://{}.{host}", location.bucket)
        } else {
            format!("{}/{}", location.endpoint, location.bucket)
        };
        SignedRequests {
            signer,
            transport,
            bucket_url,
            prefix: location.prefix.clone(),
            retry: options.retry,
        }
    }

    fn url(&self, key: Option<&str>, query: &str) -> String {
        let mut url = self.bucket_url.clone();
        match key {
            Some(key) => {
                url.push('/');
                let full = if self.prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{}/{key}", self.prefix)
                };
                url.push_str(&encode_path(&full));
            }
            None => url.push('/'),
        }
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// Sends the request, retrying what may pass; any answer but 2xx is an error.
    pub(crate) async fn send(
        &self,
        request: &SignedRequest<'_>,
    ) -> opendal::Result<SignedResponse> {
        let mut delay = self.retry.min_delay;
        let mut attempt = 0;
        loop {
            let outcome =
                match tokio::time::timeout(self.retry.request_timeout, self.send_once(request))
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Err(opendal::Error::new(
                        opendal::ErrorKind::Unexpected,
                        format!(
                            "no answer within {} s",
                            self.retry.request_timeout.as_secs_f64()
                        ),
                    )
                    .set_temporary()),
                };
            match outcome {
                Err(e)
                    if (e.is_temporary() || super::errors::is_bad_digest(&e))
                        && attempt < self.retry.retries =>
                {
                    attempt += 1;
                    tokio::time::sleep(super::with_jitter(delay)).await;
                    delay = (delay * 2).min(self.retry.max_delay);
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, request: &SignedRequest<'_>) -> opendal::Result<SignedResponse> {
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(self.url(request.key, request.query));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if !request.body.is_empty() {
            let digest = Md5::digest(&request.body);
            builder = builder
                .header(
                    "content-md5",
                    base64::engine::general_purpose::STANDARD.encode(digest),
                )
                .header(http::header::CONTENT_LENGTH, request.body.len());
        } else if request.method == Method::PUT {
            builder = builder.header(http::header::CONTENT_LENGTH, 0);
        }
        let http_request = builder
            .body(Buffer::from(request.body.clone()))
            .map_err(|e| {
                opendal::Error::new(opendal::ErrorKind::Unexpected, "cannot build the request")
                    .set_source(e)
            })?;
        let (mut parts, body) = http_request.into_parts();
        self.signer.sign(&mut parts, None).await.map_err(|e| {
            opendal::Error::new(
                opendal::ErrorKind::ConfigInvalid,
                format!("cannot sign the request: {e}"),
            )
        })?;
        // As OpenDAL's S3 service: the client sets Host itself.
        parts.headers.remove(http::header::HOST);
        let response = self
            .transport
            .send(Request::from_parts(parts, body))
            .await?;
        let (parts, body) = response.into_parts();
        let body = body.to_bytes();
        if parts.status.is_success() {
            return Ok(SignedResponse {
                headers: parts.headers,
                body,
            });
        }
        Err(status_error(parts.status, &body))
    }
}

/// An error as OpenDAL's S3 service reports one, for [`super::errors::classify`].
fn status_error(status: StatusCode, body: &[u8]) -> opendal::Error {
    let code = error_code(body).unwrap_or_else(|| match status {
        StatusCode::NOT_FOUND => "NoSuchKey".to_string(),
        StatusCode::FORBIDDEN => "AccessDenied".to_string(),
        _ => String::new(),
    });
    let kind = match status {
        StatusCode::NOT_FOUND => opendal::ErrorKind::NotFound,
        StatusCode::FORBIDDEN => opendal::ErrorKind::PermissionDenied,
        _ => opendal::ErrorKind::Unexpected,
    };
    let error = opendal::Error::new(
        kind,
        format!(
            "S3Error {{ code: \"{code}\", status: {} }}",
            status.as_u16()
        ),
    );
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        error.set_temporary()
    } else {
        error
    }
}

/// The `<Code>` of an S3 error document.
fn error_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct ErrorDocument {
        code: String,
    }
    let text = std::str::from_utf8(body).ok()?;
    quick_xml::de::from_str::<ErrorDocument>(text)
        .ok()
        .map(|doc| doc.code)
        .filter(|code| !code.is_empty())
}

/// A key as a URL path: every byte but RFC 3986's unreserved characters and `/` encoded once,
/// which is also the form SigV4 signs for S3.
fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The first value of a response header as text.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_keys_once_and_keeps_slashes() {
        assert_eq!(encode_path("data/ab/ab12"), "data/ab/ab12");
        assert_eq!(encode_path("my prefix/a+b"), "my%20prefix/a%2Bb");
    }

    #[test]
    fn reads_the_code_of_an_error_document() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                     <Message>Access Denied</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("AccessDenied"));
        let err = status_error(StatusCode::FORBIDDEN, body);
        assert_eq!(err.kind(), opendal::ErrorKind::PermissionDenied);
        assert!(!err.is_temporary());
        assert!(status_error(StatusCode::SERVICE_UNAVAILABLE, b"").is_temporary());
    }
}

//! The HTTP side of webhook, ntfy and healthchecks channels: one POST, its answer classified.
//!
//! reqwest (async, rustls): OpenDAL already brings it in for S3, so the binary keeps one HTTP
//! and one TLS stack (rustls with aws-lc-rs and the system's trust store, no OpenSSL), and the
//! daemon calls it from its tokio tasks without a thread per request. Redirects are not
//! followed: a POST turned into a GET by a 301 would be "delivered" without its body.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};

use super::error::{DeliveryError, DeliveryErrorKind};

/// The client every HTTP channel of a notifier shares (connections are kept alive).
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with rustls and no custom roots")
}

/// A URL as messages show it: scheme, host, port and path; a user, a password or a query
/// (which may hold tokens) are left out.
pub fn endpoint(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// Parses a channel's URL (checked by the config, so a failure here is a changed file).
pub fn parse_url(channel: &str, text: &str) -> Result<Url, DeliveryError> {
    Url::parse(text).map_err(|e| {
        DeliveryError::new(
            DeliveryErrorKind::InvalidInput,
            format!("channel {channel}: its url is not valid ({e}); fix it in the config"),
        )
    })
}

/// Headers of a body of `content_type` (`text/plain; charset=utf-8`, `application/json`).
pub fn headers_for(content_type: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers
}

/// A header; values are made printable ASCII (HTTP headers carry no other text safely).
pub fn header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    let ascii: String = value
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&ascii) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// POSTs `body` to `url`; the status of a 2xx answer, or why there was none.
pub async fn post(
    client: &Client,
    channel: &str,
    url: &Url,
    headers: HeaderMap,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<StatusCode, DeliveryError> {
    let shown = endpoint(url);
    let response = client
        .post(url.clone())
        .headers(headers)
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| send_error(channel, &shown, &e, timeout))?;
    let status = response.status();
    if status.is_success() {
        return Ok(status);
    }
    let (kind, advice) = if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        (DeliveryErrorKind::Transient, "the receiver has a problem")
    } else if status.is_redirection() {
        (
            DeliveryErrorKind::Refused,
            "redirects are not followed; write the address it redirects to",
        )
    } else {
        (
            DeliveryErrorKind::Refused,
            "check the channel's url and the receiver's settings",
        )
    };
    Err(DeliveryError::new(
        kind,
        format!("channel {channel}: {shown} answered {status}; {advice}"),
    ))
}

fn send_error(
    channel: &str,
    shown: &str,
    error: &reqwest::Error,
    timeout: Duration,
) -> DeliveryError {
    let message = if error.is_timeout() {
        format!(
            "channel {channel}: {shown} did not answer within {}s; check that the receiver is up",
            timeout.as_secs_f64()
        )
    } else {
        // The innermost cause says what happened (connection refused, no such host, a
        // certificate problem); reqwest's own message would repeat the whole URL.
        let mut cause: &dyn std::error::Error = error;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let verb = if error.is_connect() {
            "cannot connect to"
        } else {
            "cannot send to"
        };
        format!("channel {channel}: {verb} {shown}: {cause}")
    };
    DeliveryError::new(DeliveryErrorKind::Unreachable, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_leave_out_credentials_and_queries() {
        let url = Url::parse("https://user:pw@ntfy.example.com:8443/alerts?auth=tok").unwrap();
        assert_eq!(endpoint(&url), "https://ntfy.example.com:8443/alerts");
    }
}

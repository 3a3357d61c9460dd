//! Webhook channels: a POST of the [`Event`] as JSON, named in `X-Cairn-Event` and, with a
//! secret, signed in `X-Cairn-Signature: sha256=<hex HMAC-SHA256 of the body>` as GitHub
//! signs its webhooks. The receiver checks the signature over the exact bytes it received;
//! the body's `at` lets it refuse replays of old events.

use std::path::Path;
use std::time::Duration;

use cairn_config::SecretSource;
use hmac::{Hmac, Mac};
use reqwest::{Client, StatusCode};
use sha2::Sha256;

use super::error::{DeliveryError, DeliveryErrorKind};
use super::event::Event;
use super::http;

pub const EVENT_HEADER: &str = "x-cairn-event";
pub const SIGNATURE_HEADER: &str = "x-cairn-signature";

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub async fn send(
    client: &Client,
    channel: &str,
    url: &str,
    secret_file: Option<&Path>,
    event: &Event,
    timeout: Duration,
) -> Result<StatusCode, DeliveryError> {
    let url = http::parse_url(channel, url)?;
    let body = serde_json::to_vec(event).expect("an event serialises to JSON");
    let mut headers = http::headers_for("application/json");
    http::header(&mut headers, EVENT_HEADER, event.event.as_str());
    let mut secret = None;
    if let Some(path) = secret_file {
        // Read at each delivery, so a rotated secret is used without a restart.
        let value = crate::secret::read(
            &SecretSource::File(path.to_path_buf()),
            &format!("channel {channel}: webhook secret"),
        )
        .map_err(|e| DeliveryError::new(DeliveryErrorKind::Secret, e.to_string()))?;
        http::header(
            &mut headers,
            SIGNATURE_HEADER,
            &signature(value.expose(), &body),
        );
        secret = Some(value);
    }
    let result = http::post(client, channel, &url, headers, body, timeout).await;
    result.map_err(|e| match &secret {
        Some(secret) => e.without(secret.expose()),
        None => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_as_rfc_4231_computes_it() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

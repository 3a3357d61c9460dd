//! ntfy channels: a POST to the topic URL whose body is the message, with `Title`,
//! `Priority` (`high` when someone must act) and `Tags` headers, as ntfy's publish API reads
//! them. Credentials, when the topic needs them, go in the URL (`https://user:pass@host/topic`),
//! which reqwest sends as basic authentication and messages never show.

use std::time::Duration;

use reqwest::{Client, StatusCode};

use super::error::DeliveryError;
use super::event::Event;
use super::{http, message};

pub async fn send(
    client: &Client,
    channel: &str,
    url: &str,
    event: &Event,
    timeout: Duration,
) -> Result<StatusCode, DeliveryError> {
    let url = http::parse_url(channel, url)?;
    let mut headers = http::headers_for("text/plain; charset=utf-8");
    http::header(&mut headers, "title", &message::title(event));
    http::header(&mut headers, "priority", message::priority(event));
    http::header(&mut headers, "tags", &message::tags(event));
    let body = message::one_line(event).into_bytes();
    http::post(client, channel, &url, headers, body, timeout).await
}

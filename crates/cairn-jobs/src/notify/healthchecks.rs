//! healthchecks.io-style channels: pings that follow a job's life, not `on` events.
//!
//! `URL/start` when a job starts, `URL` when it succeeds (body: a one-line summary), `URL/fail`
//! when it fails (body: the error and the last lines of the job's log), `URL/log` for `cairn
//! notify test` (recorded by healthchecks without changing the check's state). The service
//! itself raises "late" when the success ping does not come, which is how it sees a stale
//! plan; the other events (stale, recovered, drills, offsite) are not pinged.

use std::time::Duration;

use cairn_config::NotifyEvent;
use reqwest::{Client, StatusCode, Url};

use super::error::DeliveryError;
use super::event::{Event, EventName};
use super::{http, message};

/// The ping an event makes (`""`: the URL itself), if any.
pub fn ping_of(event: EventName) -> Option<&'static str> {
    match event {
        EventName::Started => Some("start"),
        EventName::Notify(NotifyEvent::Success) => Some(""),
        EventName::Notify(NotifyEvent::Failure) => Some("fail"),
        EventName::Test => Some("log"),
        EventName::Notify(_) => None,
    }
}

/// `url` with `/ping` appended to its path (the query, if any, kept).
pub fn ping_url(url: &Url, ping: &str) -> Url {
    let mut url = url.clone();
    if !ping.is_empty() {
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(ping);
        }
    }
    url
}

/// The body of a ping: a summary, and for a failure the log's tail.
pub fn ping_body(event: &Event) -> String {
    let mut body = message::one_line(event);
    body.push('\n');
    for line in &event.log_tail {
        body.push_str(line);
        body.push('\n');
    }
    body
}

/// Sends the ping `event` makes; `Ok(None)` when it makes none.
pub async fn send(
    client: &Client,
    channel: &str,
    url: &str,
    event: &Event,
    timeout: Duration,
) -> Result<Option<StatusCode>, DeliveryError> {
    let Some(ping) = ping_of(event.event) else {
        return Ok(None);
    };
    let url = ping_url(&http::parse_url(channel, url)?, ping);
    let headers = http::headers_for("text/plain; charset=utf-8");
    let body = ping_body(event).into_bytes();
    http::post(client, channel, &url, headers, body, timeout)
        .await
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_go_below_the_check_url() {
        let base = Url::parse("https://hc-ping.example/0f3c/").unwrap();
        assert_eq!(
            ping_url(&base, "fail").as_str(),
            "https://hc-ping.example/0f3c/fail"
        );
        assert_eq!(
            ping_url(&base, "").as_str(),
            "https://hc-ping.example/0f3c/"
        );
        let bare = Url::parse("http://127.0.0.1:8000/ping/abc").unwrap();
        assert_eq!(
            ping_url(&bare, "start").as_str(),
            "http://127.0.0.1:8000/ping/abc/start"
        );
        assert_eq!(ping_of(EventName::Notify(NotifyEvent::Stale)), None);
    }
}

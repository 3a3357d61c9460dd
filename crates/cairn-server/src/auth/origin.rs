//! Where a request comes from: the Origin check that refuses a mutating request sent by
//! another site's page, and the client address the rate limit and the audit log use.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request};

/// Whether a mutating request comes from our own pages: its `Origin` (or, lacking one, its
/// `Referer`) is the configured public URL, or this server as the browser addressed it
/// (`scheme://Host`). A request with neither header is refused: every browser sends Origin
/// with a form POST, and API clients that send neither use a bearer token, not a cookie.
pub fn same_origin(headers: &HeaderMap, public_origin: Option<&str>, tls: bool) -> bool {
    let sent = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            let referer = headers.get(header::REFERER)?.to_str().ok()?;
            origin_of_url(referer)
        });
    let Some(sent) = sent else {
        return false;
    };
    if let Some(public) = public_origin {
        return sent.eq_ignore_ascii_case(public);
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let scheme = if tls { "https" } else { "http" };
    sent.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

/// `https://host:port` of a URL.
fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// The peer address of a connection, for handlers (`ConnectInfo<ClientAddress>`), from the
/// plain and the TLS listener alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for ClientAddress
{
    fn connect_info(
        stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>,
    ) -> ClientAddress {
        ClientAddress(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for ClientAddress
{
    fn connect_info(
        stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>,
    ) -> ClientAddress {
        ClientAddress(*stream.remote_addr())
    }
}

/// The client's address: the peer, or behind a reverse proxy on this machine (a loopback
/// peer, with `public_url` set) the last address the proxy added to `X-Forwarded-For`.
pub fn client_address<B>(request: &Request<B>, behind_proxy: bool) -> String {
    let extensions = request.extensions();
    let peer = extensions
        .get::<ConnectInfo<ClientAddress>>()
        .map(|info| info.0 .0)
        .or_else(|| {
            // In-process tests stand in for the listener with `MockConnectInfo`.
            extensions
                .get::<axum::extract::connect_info::MockConnectInfo<ClientAddress>>()
                .map(|mock| mock.0 .0)
        });
    let Some(peer) = peer else {
        return "local".to_string();
    };
    if behind_proxy && peer.ip().is_loopback() {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
        if let Some(forwarded) = forwarded {
            return forwarded.to_string();
        }
    }
    peer.ip().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_our_own_origin_passes() {
        let ours = headers(&[
            (header::HOST, "127.0.0.1:8470"),
            (header::ORIGIN, "http://127.0.0.1:8470"),
        ]);
        assert!(same_origin(&ours, None, false));
        assert!(!same_origin(&ours, None, true));
        let theirs = headers(&[
            (header::HOST, "127.0.0.1:8470"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(!same_origin(&theirs, None, false));
        let by_referer = headers(&[
            (header::HOST, "127.0.0.1:8470"),
            (header::REFERER, "http://127.0.0.1:8470/plans?x=1"),
        ]);
        assert!(same_origin(&by_referer, None, false));
        assert!(!same_origin(&headers(&[(header::HOST, "a")]), None, false));
        let proxied = headers(&[
            (header::HOST, "127.0.0.1:8470"),
            (header::ORIGIN, "https://backup.example.com"),
        ]);
        assert!(same_origin(
            &proxied,
            Some("https://backup.example.com"),
            false
        ));
        assert!(!same_origin(
            &ours,
            Some("https://backup.example.com"),
            false
        ));
    }
}

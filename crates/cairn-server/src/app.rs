//! The TCP listener's application: the JSON API, the web UI and the login pages behind the
//! authentication layer, with security headers on every answer. The unix socket serves
//! [`crate::router`] instead (the API only, as the local user).

use std::sync::Arc;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use cairn_access::{Accounts, LoginThrottle};
use cairn_jobs::daemon::Daemon;

use crate::{api, auth, headers, rest, web};

/// How the server is reached, from `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `public_url`'s origin: what browsers send as Origin behind a reverse proxy.
    pub public_origin: Option<String>,
    /// Served over HTTPS by cairn itself.
    pub tls: bool,
    pub metrics_public: bool,
    pub require_totp: bool,
}

impl ServerSettings {
    pub fn from_config(server: &cairn_config::Server) -> ServerSettings {
        ServerSettings {
            public_origin: server.public_url.as_ref().map(|url| origin_of(url)),
            tls: server.tls.is_some(),
            metrics_public: server.metrics_public,
            require_totp: server.require_totp,
        }
    }
}

/// `scheme://host[:port]` of a base URL (a path behind a proxy is not part of the origin).
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => url.to_string(),
    }
}

/// What every TCP handler shares.
pub struct ServerState {
    pub daemon: Arc<Daemon>,
    pub accounts: Arc<Accounts>,
    /// Failed logins per user and per address, in memory (a restart forgets them).
    pub throttle: LoginThrottle,
    pub settings: ServerSettings,
    /// Paired instances (`/peers` pages); `None` where the daemon runs no multihost.
    pub multihost: Option<Arc<crate::sync::Multihost>>,
}

impl ServerState {
    /// Cookies are `Secure` whenever people reach the UI over HTTPS, directly or by proxy.
    pub fn secure_cookies(&self) -> bool {
        self.settings.tls
            || self
                .settings
                .public_origin
                .as_deref()
                .is_some_and(|o| o.starts_with("https://"))
    }
}

/// The whole TCP application. The restic REST endpoint (`/rest/…`) is merged after the
/// authentication layer, so it is not wrapped by it: it authenticates its own clients (HTTP
/// Basic with REST logins) and takes no session, token or CSRF token.
pub fn tcp_app(server: Arc<ServerState>) -> Router {
    let tls = server.settings.tls;
    Router::new()
        .merge(api::routes(server.daemon.clone()))
        .merge(api::accounts::routes(server.accounts.clone()))
        .merge(web::routes(server.daemon.clone()))
        .merge(web::account_routes(server.clone()))
        .merge(auth::login::routes(server.clone()))
        .merge(match &server.multihost {
            Some(hub) => web::peers::routes(hub.clone()),
            None => Router::new(),
        })
        .layer(from_fn_with_state(
            server.clone(),
            auth::layer::authenticate,
        ))
        .merge(rest::routes(server))
        .layer(from_fn(move |request, next| {
            headers::security_headers(tls, request, next)
        }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_origin_of_a_public_url_has_no_path() {
        assert_eq!(
            super::origin_of("https://b.example.com/cairn"),
            "https://b.example.com"
        );
        assert_eq!(
            super::origin_of("http://10.0.0.1:8470"),
            "http://10.0.0.1:8470"
        );
    }
}

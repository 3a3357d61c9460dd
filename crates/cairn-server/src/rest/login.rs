//! HTTP Basic authentication of REST clients, with their own logins (`cairn rest-user`), not
//! the web server's sessions or tokens. Failures go through the login throttle, per name and
//! per address, as the login page's do.

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn_access::RestUserRecord;

use super::RestState;

/// The Basic credentials of a request; `None` when absent or malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

/// Why a request has no login.
pub enum LoginFailure {
    /// No credentials, unknown name or wrong password (401).
    Refused,
    /// Too many failures: try again after this long (429).
    Throttled(std::time::Duration),
    /// The state could not be read (500).
    Broken(String),
}

/// The login of these credentials (blocking: SQLite, and argon2 when not cached).
pub fn log_in(
    state: &Arc<RestState>,
    credentials: Option<(String, String)>,
    address: &str,
) -> Result<RestUserRecord, LoginFailure> {
    let Some((name, password)) = credentials else {
        return Err(LoginFailure::Refused);
    };
    let throttle = &state.server.throttle;
    let throttle_key = format!("rest:{name}");
    if let Err(wait) = throttle.check(&throttle_key, address) {
        return Err(LoginFailure::Throttled(wait));
    }
    match state
        .server
        .accounts
        .rest_login(&name, &password, &state.logins)
    {
        Ok(Some(user)) => {
            throttle.succeeded(&throttle_key, address);
            Ok(user)
        }
        Ok(None) => {
            throttle.failed(&throttle_key, address);
            tracing::warn!(user = %name, address, "rest: login refused (unknown user or wrong password)");
            Err(LoginFailure::Refused)
        }
        Err(error) => Err(LoginFailure::Broken(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn basic_credentials_are_read_and_other_schemes_ignored() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("laptop:pass:word");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("laptop".into(), "pass:word".into()))
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer cairn_x"),
        );
        assert_eq!(basic_credentials(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!"));
        assert_eq!(basic_credentials(&headers), None);
    }
}

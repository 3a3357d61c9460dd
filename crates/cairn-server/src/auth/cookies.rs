//! The session cookie: `cairn_session`, HttpOnly (no script reads it), SameSite=Strict (no
//! other site's page sends it), Secure when the UI is served over HTTPS, Path=/, and no
//! expiry of its own (the server ends sessions at its idle and absolute timeouts).

use axum::http::{header, HeaderMap, HeaderValue};

pub const SESSION_COOKIE: &str = "cairn_session";

/// The session cookie's value in a request, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` that starts (or replaces) the session.
pub fn set_session(value: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("a base64url cookie value is a valid header")
}

/// `Set-Cookie` that removes it.
pub fn clear_session(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("a fixed header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; cairn_session=abc_DEF-1; x=y"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc_DEF-1"));
        let cookie = set_session("abc", true).to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Strict")
                && cookie.contains("Secure")
        );
    }
}

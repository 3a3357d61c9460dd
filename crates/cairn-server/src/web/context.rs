//! What a page knows about the request: who asks, the session's CSRF token (forms carry it
//! back), the signed-in user's name, and a one-line message from the action before.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cairn_access::{Action, Principal, Resource, Role};
use maud::{html, Markup};

use crate::ApiError;

/// Put in the request by the authentication layer for a session (not for tokens).
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub user_name: String,
    pub csrf_token: String,
}

#[derive(Debug, Clone)]
pub struct PageContext {
    pub principal: Principal,
    pub user_name: Option<String>,
    pub csrf_token: Option<String>,
    /// `(ok, text)` from `?ok=` or `?error=` after a redirect.
    pub flash: Option<(bool, String)>,
}

impl PageContext {
    pub fn is_admin(&self) -> bool {
        self.principal.role == Role::Admin && self.principal.scopes.is_unrestricted()
    }

    pub fn may(&self, action: Action, resource: Resource<'_>) -> bool {
        self.principal.may(action, resource)
    }

    /// The hidden field every mutating form carries.
    pub fn csrf_field(&self) -> Markup {
        html! {
            @if let Some(token) = &self.csrf_token {
                input type="hidden" name="csrf" value=(token);
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<PageContext, ApiError> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)?;
        let session = parts.extensions.get::<SessionContext>().cloned();
        let flash = parts.uri.query().and_then(flash_of);
        Ok(PageContext {
            principal,
            user_name: session.as_ref().map(|s| s.user_name.clone()),
            csrf_token: session.map(|s| s.csrf_token),
            flash,
        })
    }
}

fn flash_of(query: &str) -> Option<(bool, String)> {
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let ok = match key {
            "ok" => true,
            "error" => false,
            _ => continue,
        };
        let text = percent_decode(value);
        // A flash is one short line of text; anything else is not ours.
        if !text.is_empty() && text.len() <= 300 && !text.contains('\n') {
            return Some((ok, text));
        }
    }
    None
}

/// `+` and `%XX` decoding of a query value.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// `%XX`-encodes a query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_round_trip() {
        for text in ["plan web queued", "/etc/a b/ü%.conf", "x&y=z"] {
            assert_eq!(percent_decode(&percent_encode(text)), text);
        }
        assert_eq!(flash_of("ok=saved+it").unwrap(), (true, "saved it".into()));
        assert_eq!(flash_of("error=bad%0Aline"), None);
    }
}

//! The TCP listener's authentication layer: every request but the login and setup pages
//! and the assets gets a principal here, from an API token (`Authorization: Bearer`) or a
//! session cookie, or is refused (401 for the API, a redirect to the login page for pages).
//! Until the first user exists only the setup page answers. Requests that change something
//! and ride on a cookie must come from our own origin and carry the session's CSRF token;
//! each of them is written to the audit log with its result.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cairn_access::{AuditEntry, Principal};

use super::cookies::{clear_session, session_cookie};
use super::origin::{client_address, same_origin};
use crate::app::ServerState;
use crate::web::context::{percent_encode, SessionContext};
use crate::ApiError;

/// Form bodies read for their CSRF field are at most this long.
const FORM_BODY_MAX: usize = 1 << 20;

/// Paths that answer without a principal.
fn is_public(path: &str) -> bool {
    path.starts_with("/assets/") || matches!(path, "/login" | "/login/totp" | "/setup" | "/logout")
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn authenticate(
    State(server): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let address = client_address(&request, server.settings.public_origin.is_some());
    if is_mutating(&method)
        && !has_bearer(&request)
        && !same_origin(
            request.headers(),
            server.settings.public_origin.as_deref(),
            server.settings.tls,
        )
    {
        return refuse(
            &path,
            StatusCode::FORBIDDEN,
            "this request came from another site (its Origin is not this server's); reload the page and try again",
        );
    }
    if is_public(&path) || (path == "/metrics" && server.settings.metrics_public) {
        return next.run(request).await;
    }
    let who = resolve(
        &server,
        bearer_of(&request),
        session_cookie(request.headers()),
    )
    .await;
    let (principal, session) = match who {
        Ok(Resolved::Principal(principal, session)) => (principal, session),
        Ok(Resolved::NotSetUp) => return refuse(
            &path,
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no user yet; open the setup link the daemon printed when it started",
        ),
        Ok(Resolved::Nobody { stale_cookie }) => {
            let mut response = if is_api(&path) {
                ApiError::Unauthenticated.into_response()
            } else {
                Redirect::to(&format!("/login?next={}", percent_encode(&path))).into_response()
            };
            if stale_cookie {
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, clear_session(server.secure_cookies()));
            }
            return response;
        }
        Ok(Resolved::NeedsSecondFactor) => {
            return if is_api(&path) {
                ApiError::Unauthenticated.into_response()
            } else {
                Redirect::to("/login/totp").into_response()
            }
        }
        Ok(Resolved::MustEnrol(principal, session)) => {
            if path != "/account" && !path.starts_with("/account/") {
                return if is_api(&path) {
                    ApiError::Forbidden(
                        "this server requires a second factor; enrol one under My account first"
                            .into(),
                    )
                    .into_response()
                } else {
                    Redirect::to(
                        "/account?error=this+server+requires+a+second+factor%3B+enrol+one+first",
                    )
                    .into_response()
                };
            }
            (principal, Some(session))
        }
        Err(error) => return error.into_response(),
    };
    let mut request = request;
    if is_mutating(&method) {
        if let Some(session) = &session {
            match check_csrf(request, &session.csrf_token, &path).await {
                Ok(checked) => request = checked,
                Err(response) => return response,
            }
        }
    }
    let actor = principal.actor();
    request.extensions_mut().insert(principal);
    if let Some(session) = session {
        request.extensions_mut().insert(session);
    }
    let response = next.run(request).await;
    if is_mutating(&method) {
        let status = response.status();
        let failure = status.canonical_reason().unwrap_or("failed").to_lowercase();
        let entry = AuditEntry {
            actor: &actor,
            address: &address,
            action: &format!("{method} {path}"),
            target: &path,
            result: if status.is_client_error() || status.is_server_error() {
                Err(&failure)
            } else {
                Ok(())
            },
        };
        if let Err(error) = server.accounts.audit(&entry) {
            tracing::error!("cannot write the audit record of {method} {path}: {error}");
        }
    }
    response
}

enum Resolved {
    Principal(Principal, Option<SessionContext>),
    /// A session whose user must enrol a second factor before anything else.
    MustEnrol(Principal, SessionContext),
    NeedsSecondFactor,
    Nobody {
        stale_cookie: bool,
    },
    NotSetUp,
}

async fn resolve(
    server: &Arc<ServerState>,
    bearer: Option<String>,
    cookie: Option<String>,
) -> Result<Resolved, ApiError> {
    let server = server.clone();
    tokio::task::spawn_blocking(move || {
        let accounts = &server.accounts;
        if !accounts.has_users().map_err(accounts_error)? {
            return Ok(Resolved::NotSetUp);
        }
        if let Some(bearer) = bearer {
            return Ok(
                match accounts.token_principal(&bearer).map_err(accounts_error)? {
                    Some(principal) => Resolved::Principal(principal, None),
                    None => Resolved::Nobody {
                        stale_cookie: false,
                    },
                },
            );
        }
        let Some(cookie) = cookie else {
            return Ok(Resolved::Nobody {
                stale_cookie: false,
            });
        };
        let Some(info) = accounts.session(&cookie).map_err(accounts_error)? else {
            return Ok(Resolved::Nobody { stale_cookie: true });
        };
        if !info.second_factor_done {
            return Ok(Resolved::NeedsSecondFactor);
        }
        let context = SessionContext {
            user_name: info.user.name.clone(),
            csrf_token: info.csrf_token.clone(),
        };
        if server.settings.require_totp && !info.user.totp_enabled {
            return Ok(Resolved::MustEnrol(info.principal, context));
        }
        Ok(Resolved::Principal(info.principal, Some(context)))
    })
    .await
    .map_err(|e| ApiError::BadRequest(format!("the request was dropped: {e}")))?
}

fn accounts_error(error: cairn_access::AccountsError) -> ApiError {
    ApiError::Accounts(error)
}

fn has_bearer(request: &Request) -> bool {
    bearer_of(request).is_some()
}

fn bearer_of(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The CSRF token must come back in `X-CSRF-Token` or, for a form, in its `csrf` field;
/// compared in constant time. The body read for the field is put back for the handler.
async fn check_csrf(request: Request, expected: &str, path: &str) -> Result<Request, Response> {
    let refusal = || {
        refuse(
            path,
            StatusCode::FORBIDDEN,
            "the form's security token is missing or old; reload the page and try again",
        )
    };
    if let Some(sent) = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return if constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
            Ok(request)
        } else {
            Err(refusal())
        };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(refusal());
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_BODY_MAX)
        .await
        .map_err(|_| refusal())?;
    let sent = form_field(&bytes, "csrf");
    match sent {
        Some(sent) if constant_time_eq(sent.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(refusal()),
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| crate::web::context::percent_decode(value))
    })
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A refusal as JSON for the API, as a small page otherwise.
fn refuse(path: &str, status: StatusCode, message: &str) -> Response {
    if is_api(path) {
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    } else {
        let body = crate::web::layout::bare_page(
            status.canonical_reason().unwrap_or("Refused"),
            maud::html! { p.error-text { (message) } p { a href="/" { "Back" } } },
        );
        (status, body).into_response()
    }
}

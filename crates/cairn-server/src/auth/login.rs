//! Signing in and out: `/login` (name and password), `/login/totp` (the second factor),
//! `/logout`, and `/setup` (the first admin, with the one-time link the daemon printed).
//!
//! A session starts with a fresh random id at every login, so an id planted before the
//! login is worthless (no fixation); passing the second factor replaces it again. Failed
//! attempts slow down per user and per address ([`cairn_access::LoginThrottle`]); every
//! attempt is written to the audit log.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use cairn_access::{AccountsError, AuditEntry, LoginStep};
use maud::{html, Markup};
use serde::Deserialize;

use super::cookies::{clear_session, session_cookie, set_session};
use super::origin::client_address;
use crate::app::ServerState;
use crate::web::layout::bare_page;

pub fn routes(server: Arc<ServerState>) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/totp", get(totp_page).post(totp))
        .route("/logout", axum::routing::post(logout))
        .route("/setup", get(setup_page).post(setup))
        .with_state(server)
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    token: Option<String>,
}

/// Only a path on this server (`/plans`), never another site (`//evil`, `https://…`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next.to_string()
        }
        _ => "/".to_string(),
    }
}

fn login_form(next: &str, name: &str, error: Option<&str>) -> Markup {
    bare_page(
        "Sign in",
        html! {
            @if let Some(error) = error { p.flash.bad role="alert" { (error) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="name" { "User name" }
                input id="name" name="name" type="text" autocomplete="username" required autofocus value=(name);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                p { button type="submit" { "Sign in" } }
            }
        },
    )
}

async fn login_page(Query(query): Query<NextQuery>) -> Markup {
    login_form(&safe_next(query.next.as_deref()), "", None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

async fn login(State(server): State<Arc<ServerState>>, request: Request) -> Response {
    let address = client_address(&request, server.settings.public_origin.is_some());
    let Ok(Form(form)) = Form::<LoginForm>::from_request(request, &()).await else {
        return (
            StatusCode::BAD_REQUEST,
            login_form("/", "", Some("fill in the user name and the password")),
        )
            .into_response();
    };
    let next = safe_next(form.next.as_deref());
    if let Err(wait) = server.throttle.check(&form.name, &address) {
        let message = format!(
            "too many failed sign-ins; wait {} s and try again",
            wait.as_secs().max(1)
        );
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            login_form(&next, &form.name, Some(&message)),
        )
            .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            wait.as_secs().max(1).to_string().parse().expect("a number"),
        );
        return response;
    }
    let outcome = {
        let server = server.clone();
        let name = form.name.clone();
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let step = server.accounts.check_password(&name, &form.password);
            let (user, second_factor_done) = match step {
                Ok(LoginStep::Done(user)) => (user, true),
                Ok(LoginStep::NeedsSecondFactor(user)) => (user, false),
                Err(error) => return Err(error),
            };
            let session = server
                .accounts
                .create_session(user.id, &address, second_factor_done)?;
            Ok((session, second_factor_done))
        })
        .await
    };
    let audit = |result: Result<(), &str>| {
        let entry = AuditEntry {
            actor: &format!("user:{}", form.name),
            address: &address,
            action: "login",
            target: "/login",
            result,
        };
        if let Err(error) = server.accounts.audit(&entry) {
            tracing::error!("cannot write the audit record of a login: {error}");
        }
    };
    match outcome {
        Ok(Ok((session, second_factor_done))) => {
            server.throttle.succeeded(&form.name, &address);
            audit(Ok(()));
            let to = if second_factor_done {
                next
            } else {
                format!(
                    "/login/totp?next={}",
                    crate::web::context::percent_encode(&next)
                )
            };
            with_cookie(
                Redirect::to(&to),
                set_session(&session.cookie_value, server.secure_cookies()),
            )
        }
        Ok(Err(AccountsError::BadCredentials)) => {
            server.throttle.failed(&form.name, &address);
            audit(Err("wrong user name or password"));
            (
                StatusCode::UNAUTHORIZED,
                login_form(&next, &form.name, Some("wrong user name or password")),
            )
                .into_response()
        }
        Ok(Err(error)) => {
            tracing::error!("login failed: {error}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                login_form(&next, &form.name, Some(&error.to_string())),
            )
                .into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn totp_form(next: &str, error: Option<&str>) -> Markup {
    bare_page(
        "Second factor",
        html! {
            @if let Some(error) = error { p.flash.bad role="alert" { (error) } }
            form method="post" action="/login/totp" {
                input type="hidden" name="next" value=(next);
                label for="code" { "Code from your authenticator app, or a recovery code" }
                input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                p { button type="submit" { "Continue" } }
            }
        },
    )
}

async fn totp_page(Query(query): Query<NextQuery>) -> Markup {
    totp_form(&safe_next(query.next.as_deref()), None)
}

#[derive(Deserialize)]
pub struct TotpForm {
    code: String,
    next: Option<String>,
}

async fn totp(State(server): State<Arc<ServerState>>, request: Request) -> Response {
    let address = client_address(&request, server.settings.public_origin.is_some());
    let Some(cookie) = session_cookie(request.headers()) else {
        return Redirect::to("/login").into_response();
    };
    let Ok(Form(form)) = Form::<TotpForm>::from_request(request, &()).await else {
        return (
            StatusCode::BAD_REQUEST,
            totp_form("/", Some("enter the code")),
        )
            .into_response();
    };
    let next = safe_next(form.next.as_deref());
    let outcome = {
        let server = server.clone();
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let Some(info) = server.accounts.session(&cookie)? else {
                return Ok(None);
            };
            let name = info.user.name.clone();
            if let Err(wait) = server.throttle.check(&name, &address) {
                return Ok(Some((name, Err(Some(wait)))));
            }
            match server
                .accounts
                .check_second_factor(info.user.id, &form.code)
            {
                Ok(()) => {
                    let rotated = server.accounts.mark_second_factor_done(&cookie)?;
                    Ok(Some((name, Ok(rotated))))
                }
                Err(AccountsError::BadSecondFactor) => Ok(Some((name, Err(None)))),
                Err(error) => Err(error),
            }
        })
        .await
    };
    let audit = |name: &str, result: Result<(), &str>| {
        let entry = AuditEntry {
            actor: &format!("user:{name}"),
            address: &address,
            action: "login second factor",
            target: "/login/totp",
            result,
        };
        if let Err(error) = server.accounts.audit(&entry) {
            tracing::error!("cannot write the audit record of a login: {error}");
        }
    };
    match outcome {
        Ok(Ok(None)) => Redirect::to("/login").into_response(),
        Ok(Ok(Some((name, Ok(rotated))))) => {
            server.throttle.succeeded(&name, &address);
            audit(&name, Ok(()));
            with_cookie(
                Redirect::to(&next),
                set_session(&rotated.cookie_value, server.secure_cookies()),
            )
        }
        Ok(Ok(Some((name, Err(Some(wait)))))) => {
            let message = format!("too many failed attempts; wait {} s", wait.as_secs().max(1));
            audit(&name, Err("throttled"));
            (
                StatusCode::TOO_MANY_REQUESTS,
                totp_form(&next, Some(&message)),
            )
                .into_response()
        }
        Ok(Ok(Some((name, Err(None))))) => {
            server.throttle.failed(&name, &address);
            audit(&name, Err("wrong code"));
            (
                StatusCode::UNAUTHORIZED,
                totp_form(&next, Some("that code is not right; try the next one")),
            )
                .into_response()
        }
        Ok(Err(error)) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn logout(State(server): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    if let Some(cookie) = session_cookie(&headers) {
        let accounts = server.accounts.clone();
        let _ = tokio::task::spawn_blocking(move || accounts.end_session(&cookie)).await;
    }
    with_cookie(
        Redirect::to("/login"),
        clear_session(server.secure_cookies()),
    )
}

fn setup_form(token: &str, name: &str, error: Option<&str>) -> Markup {
    bare_page(
        "Set up cairn",
        html! {
            p { "Create the first administrator. This link works once." }
            @if let Some(error) = error { p.flash.bad role="alert" { (error) } }
            form method="post" action="/setup" {
                input type="hidden" name="token" value=(token);
                label for="name" { "User name" }
                input id="name" name="name" type="text" autocomplete="username" required value=(name);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="new-password" minlength="12" required;
                p.hint { "At least 12 characters." }
                p { button type="submit" { "Create administrator" } }
            }
        },
    )
}

async fn setup_page(Query(query): Query<NextQuery>) -> Markup {
    setup_form(query.token.as_deref().unwrap_or(""), "", None)
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    name: String,
    password: String,
}

async fn setup(State(server): State<Arc<ServerState>>, request: Request) -> Response {
    let address = client_address(&request, server.settings.public_origin.is_some());
    let Ok(Form(form)) = Form::<SetupForm>::from_request(request, &()).await else {
        return (
            StatusCode::BAD_REQUEST,
            setup_form("", "", Some("fill in every field")),
        )
            .into_response();
    };
    let outcome = {
        let server = server.clone();
        let (token, name, password) = (form.token.clone(), form.name.clone(), form.password);
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let user = server.accounts.complete_setup(&token, &name, &password)?;
            let session = server.accounts.create_session(user.id, &address, true)?;
            Ok::<_, AccountsError>(session)
        })
        .await
    };
    match outcome {
        Ok(Ok(session)) => {
            let entry = AuditEntry {
                actor: &format!("user:{}", form.name),
                address: &address,
                action: "setup: first administrator created",
                target: "/setup",
                result: Ok(()),
            };
            if let Err(error) = server.accounts.audit(&entry) {
                tracing::error!("cannot write the audit record of the setup: {error}");
            }
            with_cookie(
                Redirect::to("/account?ok=welcome%3B+add+a+second+factor+now"),
                set_session(&session.cookie_value, server.secure_cookies()),
            )
        }
        Ok(Err(error)) => {
            let status = match error {
                AccountsError::InvalidInput(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::FORBIDDEN,
            };
            (
                status,
                setup_form(&form.token, &form.name, Some(&error.to_string())),
            )
                .into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn with_cookie(redirect: Redirect, cookie: axum::http::HeaderValue) -> Response {
    let mut response = redirect.into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

use axum::extract::FromRequest;

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/plans?x=1")), "/plans?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "\\\\evil",
            "/\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}

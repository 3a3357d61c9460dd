//! `/account`: the signed-in user's own page: enrol a TOTP second factor (QR code, then a
//! code to confirm, then the recovery codes shown once) and change the password.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::context::PageContext;
use super::layout::{page, trusted_svg, Section};
use super::{redirect_error, redirect_ok, run_on_server as run, WebError};
use crate::app::ServerState;
use crate::ApiError;

fn user_name(context: &PageContext) -> Result<String, WebError> {
    context
        .user_name
        .clone()
        .ok_or(WebError(ApiError::Forbidden(
            "only a signed-in user has an account page; API tokens have none".into(),
        )))
}

pub async fn account(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let name = user_name(&context)?;
    let user = run(&server, move |s| Ok(s.accounts.user(&name)?)).await?;
    let body = html! {
        section.panel aria-labelledby="second-factor" {
            h2 id="second-factor" { "Second factor" }
            @if user.totp_enabled {
                p { span.badge.ok { "on" } " Sign-ins ask for a code from your authenticator app." }
            } @else {
                p { span.badge.warn { "off" } " Add an authenticator app (TOTP) so a stolen password is not enough." }
                form method="post" action="/account/totp/begin" {
                    (context.csrf_field())
                    button type="submit" { "Set up a second factor" }
                }
            }
        }
        section.panel aria-labelledby="password" {
            h2 id="password" { "Password" }
            form method="post" action="/account/password" {
                (context.csrf_field())
                label for="new-password" { "New password" }
                input id="new-password" name="password" type="password" autocomplete="new-password" minlength="12" required;
                p.hint { "At least 12 characters. Other sessions of yours end." }
                p { button type="submit" { "Change password" } }
            }
        }
    };
    Ok(page(&context, Section::Account, "My account", body))
}

pub async fn begin_totp(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let name = user_name(&context)?;
    let enrolment = run(&server, move |s| {
        let user = s.accounts.user(&name)?;
        Ok(s.accounts.begin_totp(user.id, "cairn")?)
    })
    .await?;
    Ok(page(
        &context,
        Section::Account,
        "Set up a second factor",
        totp_enrolment_body(&context, &enrolment.qr_svg, &enrolment.secret_base32, None),
    ))
}

fn totp_enrolment_body(
    context: &PageContext,
    qr_svg: &str,
    secret: &str,
    error: Option<&str>,
) -> Markup {
    html! {
        div.panel {
            p { "Scan this code with your authenticator app, then enter the 6-digit code it shows." }
            figure.qr aria-label="QR code of the TOTP secret" { (trusted_svg(qr_svg)) }
            p { "Or type the secret: " code id="totp-secret" { (secret) } }
            @if let Some(error) = error { p.field-error role="alert" { (error) } }
            form method="post" action="/account/totp/confirm" {
                (context.csrf_field())
                label for="code" { "Code" }
                input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required;
                p { button type="submit" { "Turn on" } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn confirm_totp(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Form(form): Form<CodeForm>,
) -> Result<Response, WebError> {
    let name = user_name(&context)?;
    let result = run(&server, move |s| {
        let user = s.accounts.user(&name)?;
        Ok(s.accounts.confirm_totp(user.id, &form.code)?)
    })
    .await;
    match result {
        Ok(codes) => {
            let body = html! {
                div.panel {
                    p.flash.ok role="status" { "Your second factor is on." }
                    p { "Keep these recovery codes somewhere safe. Each one signs you in once without the app. They are shown only now." }
                    ul id="recovery-codes" { @for code in &codes { li { code { (code) } } } }
                    p { a.button href="/" { "Done" } }
                }
            };
            Ok(page(&context, Section::Account, "Recovery codes", body).into_response())
        }
        Err(error) => Ok(redirect_error("/account", &error.to_string()).into_response()),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn change_password(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Form(form): Form<PasswordForm>,
) -> Result<Redirect, WebError> {
    let name = user_name(&context)?;
    let result = run(&server, move |s| {
        Ok(s.accounts.set_password(&name, &form.password)?)
    })
    .await;
    Ok(match result {
        Ok(()) => redirect_ok("/login", "password changed; sign in again"),
        Err(error) => redirect_error("/account", &error.to_string()),
    })
}

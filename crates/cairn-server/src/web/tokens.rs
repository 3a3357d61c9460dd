//! `/tokens` (admins): API tokens with role, scopes, expiry and last use; create one (its
//! secret shown once, on the page that answers the form) and revoke.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use cairn_access::{Role, Scopes};
use maud::{html, Markup};
use serde::Deserialize;

use super::context::PageContext;
use super::format::time;
use super::layout::{page, Section};
use super::{redirect_error, redirect_ok, run_admin, WebError};
use crate::app::ServerState;

pub async fn list(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let tokens = run_admin(&server, &context, |s| Ok(s.accounts.tokens()?)).await?;
    let body = html! {
        table {
            thead { tr { th scope="col" { "Token" } th scope="col" { "Role" } th scope="col" { "Scopes" } th scope="col" { "Expires" } th scope="col" { "Last used" } th scope="col" { span.skip { "Actions" } } } }
            tbody { @for token in &tokens { tr data-token=(token.name) {
                td { (token.name) br; span.muted { "by " (token.created_by) } }
                td { (token.role) }
                td { code { (token.scopes) } }
                td { (time(token.expires_at)) }
                td { (time(token.last_used_at)) }
                td { @if token.revoked { span.badge.bad { "revoked" } } @else {
                    form.inline method="post" action={ "/tokens/" (token.name) "/revoke" } data-confirm={ "Revoke token " (token.name) "?" } {
                        (context.csrf_field()) button.danger type="submit" { "Revoke" }
                    }
                } }
            } } }
        }
        section.panel aria-labelledby="new-token" {
            h2 id="new-token" { "Create a token" }
            form method="post" action="/tokens" {
                (context.csrf_field())
                label for="token-name" { "Name" }
                input id="token-name" name="name" type="text" required;
                label for="token-role" { "Role" }
                select id="token-role" name="role" { @for role in Role::ALL { option value=(role) selected[role == Role::Viewer] { (role) } } }
                label for="token-scopes" { "Scopes" }
                input id="token-scopes" name="scopes" type="text" placeholder="*" aria-describedby="scopes-hint";
                p.hint id="scopes-hint" { "Comma-separated: * (everything), repo:NAME, plan:NAME, !repo:NAME, !plan:NAME. Empty: everything." }
                label for="token-expires" { "Expires after (days, empty: never)" }
                input id="token-expires" name="expires_in_days" type="number" min="1";
                p { button type="submit" { "Create token" } }
            }
        }
    };
    Ok(page(&context, Section::Tokens, "API tokens", body))
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    name: String,
    role: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, WebError> {
    let created_by = context.principal.actor();
    let result = run_admin(&server, &context, move |s| {
        let role: Role = form.role.parse()?;
        let scopes = Scopes::parse_all(form.scopes.split(','))?;
        let expires = match form.expires_in_days.trim() {
            "" => None,
            days => {
                let days: i64 = days.parse().map_err(|_| {
                    crate::ApiError::BadRequest(format!("{days:?} is not a number of days"))
                })?;
                Some(chrono::Utc::now() + chrono::Duration::days(days))
            }
        };
        Ok(s.accounts
            .create_token(&form.name, role, scopes, expires, &created_by)?)
    })
    .await;
    match result {
        Ok((record, secret)) => {
            let body = html! {
                div.panel {
                    p.flash.ok role="status" { "Token " (record.name) " created." }
                    p { "Copy it now: it is not shown again. Send it as " code { "Authorization: Bearer TOKEN" } "." }
                    p { code id="new-token-secret" { (secret) } }
                    p { a.button href="/tokens" { "Done" } }
                }
            };
            Ok(page(&context, Section::Tokens, "New API token", body).into_response())
        }
        Err(error) => Ok(redirect_error("/tokens", &error.to_string()).into_response()),
    }
}

pub async fn revoke(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Path(name): Path<String>,
) -> Redirect {
    let message = format!("token {name} revoked");
    let result = run_admin(&server, &context, move |s| {
        Ok(s.accounts.revoke_token(&name)?)
    })
    .await;
    match result {
        Ok(()) => redirect_ok("/tokens", &message),
        Err(error) => redirect_error("/tokens", &error.to_string()),
    }
}

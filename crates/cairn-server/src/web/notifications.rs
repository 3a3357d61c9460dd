//! `/notifications`: the channels the daemon tells, whether each is failing, and a button
//! that sends a test event (as `cairn notify test`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Redirect;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::Daemon;
use maud::{html, Markup};

use super::context::PageContext;
use super::layout::{page, Section};
use super::{blocking_page, redirect_error, redirect_ok, WebError};
use crate::api::notifications::{channels, send_test};

pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let channels = blocking_page(&daemon, channels).await?;
    let may_test = context.may(Action::Run, Resource::Global);
    let body = html! {
        @if channels.is_empty() {
            p { "No channels. Add a " code { "[[notify]]" } " table (webhook, ntfy, healthchecks or email) to the config." }
        } @else {
            table {
                thead { tr { th scope="col" { "Channel" } th scope="col" { "Kind" } th scope="col" { "Events" } th scope="col" { "State" } th scope="col" { span.skip { "Actions" } } } }
                tbody { @for channel in &channels { tr data-channel=(channel.name) {
                    td { (channel.name) @if !channel.plans.is_empty() { br; span.muted { "plans: " (channel.plans.join(", ")) } } }
                    td { (channel.kind) }
                    td { (channel.on.join(", ")) }
                    td { @if channel.failing { span.badge.failing { "failing" } } @else { span.badge.ok { "ok" } } }
                    td { @if may_test {
                        form.inline method="post" action={ "/notifications/" (channel.name) "/test" } {
                            (context.csrf_field())
                            button.secondary type="submit" { "Send test" }
                        }
                    } }
                } } }
            }
        }
    };
    Ok(page(
        &context,
        Section::Notifications,
        "Notifications",
        body,
    ))
}

pub async fn test(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(name): Path<String>,
) -> Result<Redirect, WebError> {
    context
        .principal
        .require(Action::Run, Resource::Global)
        .map_err(|e| WebError(e.into()))?;
    Ok(match send_test(&daemon, &name).await {
        Ok(answer) if answer["delivered"] == true => redirect_ok(
            "/notifications",
            &format!(
                "test delivered to {name}: {}",
                answer["answer"].as_str().unwrap_or("ok")
            ),
        ),
        Ok(answer) => redirect_error(
            "/notifications",
            &format!(
                "test to {name} failed: {}",
                answer["error"].as_str().unwrap_or("unknown")
            ),
        ),
        Err(error) => redirect_error("/notifications", &error.to_string()),
    })
}

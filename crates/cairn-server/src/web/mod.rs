//! The web UI: server-rendered pages (maud) with a little script for live progress, all
//! assets embedded. Pages call the same daemon and library functions the JSON API calls;
//! forms post back to page routes that answer with a redirect and a one-line message.
//!
//! # Layout
//! - [`layout`]: the page shell (landmarks, navigation, skip link).
//! - [`context`]: who is asking, the CSRF token forms carry, the message from the last action.
//! - One module per page: [`dashboard`], [`queue`] (and a job), [`plans`].
//! - [`assets`]: the stylesheet and script.

pub mod account;
pub mod assets;
pub mod audit;
pub mod browse;
pub mod context;
pub mod dashboard;
pub mod drills;
pub mod fields_form;
pub mod format;
pub mod layout;
pub mod notifications;
pub mod offsite;
pub mod peer_actions;
pub mod peers;
pub mod plan;
pub mod plans;
pub mod queue;
pub mod repositories;
pub mod settings;
pub mod sparkline;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use cairn_jobs::daemon::Daemon;
use maud::html;

use crate::ApiError;
use context::percent_encode;

/// The UI's routes over `daemon` (a layer in front says who calls, as for the API).
pub fn routes(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/", get(dashboard::dashboard))
        .route("/plans", get(plans::list))
        .route("/plans/{name}", get(plan::show))
        .route("/plans/{name}/run", post(plans::run))
        .route("/drills", get(drills::list))
        .route("/notifications", get(notifications::list))
        .route("/notifications/{name}/test", post(notifications::test))
        .route("/settings", get(settings::show))
        .route("/repositories", get(repositories::list))
        .route("/repositories/{name}", get(repositories::snapshots))
        .route("/repositories/{name}/search", get(repositories::search))
        .route("/repositories/{name}/offsite", get(offsite::show))
        .route("/repositories/{name}/history", get(browse::history))
        .route("/repositories/{name}/restore", post(browse::restore))
        .route(
            "/repositories/{name}/snapshots/{snapshot}/browse",
            get(browse::directory),
        )
        .route("/queue", get(queue::queue))
        .route("/jobs/{id}", get(queue::job))
        .route("/jobs/{id}/cancel", post(queue::cancel))
        .route("/jobs/{id}/retry", post(queue::retry))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .with_state(daemon)
}

/// The pages that need the accounts: the user's own page and the admin pages.
pub fn account_routes(server: Arc<crate::app::ServerState>) -> Router {
    Router::new()
        .route("/account", get(account::account))
        .route("/account/totp/begin", post(account::begin_totp))
        .route("/account/totp/confirm", post(account::confirm_totp))
        .route("/account/password", post(account::change_password))
        .route("/users", get(users::list).post(users::add))
        .route("/users/{name}/role", post(users::set_role))
        .route("/users/{name}/reset-2fa", post(users::reset_second_factor))
        .route("/users/{name}/remove", post(users::remove))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{name}/revoke", post(tokens::revoke))
        .route("/audit", get(audit::list))
        .with_state(server)
}

/// Runs an admin page's accounts call off the async threads, after the admin check.
async fn run_admin<T: Send + 'static>(
    server: &Arc<crate::app::ServerState>,
    context: &context::PageContext,
    call: impl FnOnce(&crate::app::ServerState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, WebError> {
    context
        .principal
        .require(
            cairn_access::Action::Administer,
            cairn_access::Resource::Global,
        )
        .map_err(|e| WebError(e.into()))?;
    run_on_server(server, call).await
}

/// Runs an accounts call off the async threads.
async fn run_on_server<T: Send + 'static>(
    server: &Arc<crate::app::ServerState>,
    call: impl FnOnce(&crate::app::ServerState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, WebError> {
    crate::api::off_async_threads(server, call)
        .await
        .map_err(WebError)
}

/// A page that could not be made: the API's error, shown as a small page.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WebError(pub ApiError);

impl From<ApiError> for WebError {
    fn from(error: ApiError) -> WebError {
        WebError(error)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/login").into_response();
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("page failed: {}", self.0);
        }
        let body = layout::bare_page(
            status.canonical_reason().unwrap_or("Error"),
            html! { p.error-text { (self.0.to_string()) } p { a href="/" { "Back to the dashboard" } } },
        );
        (status, body).into_response()
    }
}

/// Runs a daemon call off the async threads (as the API's `blocking`).
async fn blocking_page<T: Send + 'static>(
    daemon: &Arc<Daemon>,
    call: impl FnOnce(&Daemon) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, WebError> {
    crate::api::off_async_threads(daemon, call)
        .await
        .map_err(WebError)
}

fn redirect_ok(to: &str, message: &str) -> Redirect {
    Redirect::to(&format!("{to}?ok={}", percent_encode(message)))
}

fn redirect_error(to: &str, message: &str) -> Redirect {
    Redirect::to(&format!("{to}?error={}", percent_encode(message)))
}

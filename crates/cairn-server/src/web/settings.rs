//! `/settings` (admins): the server's settings, read from the config file, which stays the
//! one place they are changed.

use std::sync::Arc;

use axum::extract::State;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::Daemon;
use maud::{html, Markup};

use super::context::PageContext;
use super::layout::{page, Section};
use super::WebError;
use crate::api::settings::settings;

pub async fn show(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    context
        .principal
        .require(Action::Administer, Resource::Global)
        .map_err(|e| WebError(e.into()))?;
    let values = settings(&daemon);
    let row = |label: &str, value: &serde_json::Value| {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "not set".to_string(),
            other => other.to_string(),
        };
        html! { tr { th scope="row" { (label) } td { code { (text) } } } }
    };
    let server = &values["server"];
    let body = html! {
        p { "These come from " code { (values["config_file"].as_str().unwrap_or("")) } " (the " code { "[server]" } " and " code { "[daemon]" } " tables); change them there and send the daemon SIGHUP, or restart it for the listener and TLS." }
        table {
            tbody {
                (row("Version", &values["version"]))
                (row("State directory", &values["state_dir"]))
                (row("Jobs at once", &values["max_concurrent_jobs"]))
                (row("Listen", &server["listen"]))
                (row("Public URL", &server["public_url"]))
                (row("TLS", &server["tls"]))
                (row("Second factor required", &server["require_totp"]))
                (row("Session idle timeout (s)", &server["session_idle_timeout_seconds"]))
                (row("Session maximum age (s)", &server["session_max_age_seconds"]))
                (row("Restores land below", &server["restore_root"]))
                (row("/metrics without a token", &server["metrics_public"]))
            }
        }
    };
    Ok(page(&context, Section::Settings, "Settings", body))
}

//! The audit of the unix socket: the CLI's changes through the daemon (`cairn jobs cancel`,
//! a run started over the socket) are recorded as the TCP listener's are, with the actor
//! `local` and the address `socket`, so the audit log holds every change whatever its door.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use cairn_jobs::daemon::Daemon;
use cairn_state::NewAuditRecord;

pub async fn audit_socket(
    State(daemon): State<Arc<Daemon>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return response;
    }
    let status = response.status();
    let failed = status.is_client_error() || status.is_server_error();
    let reason = status.canonical_reason().unwrap_or("failed").to_lowercase();
    let action = format!("{method} {path}");
    let record = NewAuditRecord {
        at: daemon.now(),
        actor: "local",
        address: "socket",
        action: &action,
        target: &path,
        result: if failed { "failed" } else { "ok" },
        detail: failed.then_some(reason.as_str()),
    };
    if let Err(error) = daemon.state().insert_audit(&record) {
        tracing::error!("cannot write the audit record of {action}: {error}");
    }
    response
}

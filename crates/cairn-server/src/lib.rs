//! cairn's HTTP face: the JSON API (`/api/v1/…`) and `/metrics`, served by the daemon on its
//! unix socket (and, with the server issue, on TCP with users).
//!
//! # Layout
//! - [`api`] — the router; one module per resource (`jobs`, `plans`, `health`), handlers that
//!   only translate HTTP to calls on [`cairn_jobs::daemon::Daemon`] and back.
//! - [`auth`] — [`auth::Caller`], the principal of a request, and the checks handlers make.
//! - [`error`] — [`ApiError`], mapping job errors to status codes and a JSON body.
//! - [`rest`] — restic's REST protocol at `/rest/NAME/` for repositories with `rest` enabled,
//!   with its own HTTP Basic logins (outside the web application's authentication).
//! - [`sync`] — multihost at run time: the sync endpoint (`/sync/v1`), the client's dialer,
//!   the `peer` API and the sync crate's stores on the state database.
//! - [`serve`] — serving a router on a unix socket (mode 0600) or a TCP address until shutdown.
//!
//! Invariant: handlers hold no business logic; what the API does, the daemon (or the CLI
//! through the same library calls) does.

pub mod api;
pub mod app;
pub mod auth;
pub mod error;
pub mod headers;
pub mod rest;
pub mod serve;
pub mod sync;
pub mod tls;
pub mod web;

pub use api::router;
pub use error::{ApiError, FieldError};

//! restic's REST protocol (v1 and v2) at `/rest/NAME/`, for repositories whose config has
//! `rest = { enabled = true, … }`: stock restic (`-r rest:https://USER:PASSWORD@HOST/rest/NAME/`)
//! and cairn's `rest:` store back up to the server without holding storage credentials.
//!
//! # Layout
//! - [`path`]: the request path, read raw and strictly (the path-traversal defence).
//! - [`login`]: HTTP Basic with the REST logins of `cairn rest-user`, cached verifications,
//!   the login throttle.
//! - [`rules`]: what append-only refuses, as restic's rest-server `--append-only`.
//! - [`served`]: the served repositories' stores (opened from the config through the
//!   `Storage` trait, local or S3) and their sizes for the quota.
//! - [`objects`]: the protocol's requests on a repository.
//!
//! # Invariants
//! - Mounted beside the web application, not behind its authentication layer: no session,
//!   cookie, bearer token or CSRF token means anything here, and a REST login means nothing
//!   anywhere else.
//! - A login reaches only the repositories it was given; any other repository name, existing
//!   or not, gets the same 404.
//! - Nothing reaches the store but a known kind and a 64-hex name; every upload is bounded
//!   ([`objects::OBJECT_SIZE_MAX`]), checked against its name and the quota before it is
//!   stored, and stored whole or not at all.
//! - Every refusal is logged at warn with the login, the repository and the object; never a
//!   password.

mod login;
mod objects;
mod path;
mod rules;
mod served;

use std::sync::Arc;

use axum::routing::any;
use axum::Router;
use cairn_access::accounts::REST_LOGIN_CACHE_TTL;
use cairn_access::RestLoginCache;

use crate::app::ServerState;

/// Uploads received at once: each holds up to one object in memory.
const CONCURRENT_UPLOADS_MAX: usize = 8;

/// What the endpoint's requests share.
pub struct RestState {
    pub(crate) server: Arc<ServerState>,
    /// Verified logins, so restic's many requests do not each cost an argon2 hash.
    pub(crate) logins: RestLoginCache,
    pub(crate) served: served::ServedRepositories,
    /// Bounds the memory uploads hold ([`CONCURRENT_UPLOADS_MAX`] objects).
    pub(crate) uploads: tokio::sync::Semaphore,
}

/// The endpoint's routes, to be merged outside the web application's authentication layer.
pub fn routes(server: Arc<ServerState>) -> Router {
    let clock = server_clock();
    let state = Arc::new(RestState {
        server,
        logins: RestLoginCache::new(clock, REST_LOGIN_CACHE_TTL),
        served: served::ServedRepositories::default(),
        uploads: tokio::sync::Semaphore::new(CONCURRENT_UPLOADS_MAX),
    });
    Router::new()
        .route("/rest/{*path}", any(objects::handle))
        .with_state(state)
}

fn server_clock() -> cairn_access::Clock {
    cairn_access::accounts::system_clock()
}

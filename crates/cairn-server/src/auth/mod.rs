//! Who is calling. The unix socket's router marks every request as [`Principal::local`]
//! (the socket is mode 0600: only the daemon's own user reaches it); the TCP listener's
//! authentication layer puts the session's or token's principal in the request instead.
//! Handlers take a [`Caller`] and ask it before they act; a request that reached a handler
//! without a principal is refused, so a route can never be open by omission.

pub mod cookies;
pub mod layer;
pub mod login;
pub mod origin;
pub mod socket_audit;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cairn_access::{Action, Principal, Resource};

use crate::ApiError;

/// The principal of the request, put there by the socket's or the TCP listener's layer.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    pub fn require(&self, action: Action, resource: Resource<'_>) -> Result<(), ApiError> {
        Ok(self.0.require(action, resource)?)
    }

    /// A job's resource: its plan (within its repository), else its repository, else the
    /// server (jobs without either, e.g. a server backup).
    pub fn require_job(
        &self,
        action: Action,
        job: &cairn_state::JobRecord,
    ) -> Result<(), ApiError> {
        self.require(action, job_resource(job))
    }

    pub fn may_see_job(&self, job: &cairn_state::JobRecord) -> bool {
        self.0.may(Action::Read, job_resource(job))
    }
}

pub fn job_resource(job: &cairn_state::JobRecord) -> Resource<'_> {
    match (&job.plan, &job.repository) {
        (Some(plan), Some(repository)) => Resource::Plan {
            name: plan,
            repository,
        },
        (Some(plan), None) => Resource::Plan {
            name: plan,
            repository: "",
        },
        (None, Some(repository)) => Resource::Repository(repository),
        (None, None) => Resource::Global,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or(ApiError::Unauthenticated)
    }
}

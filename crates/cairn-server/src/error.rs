//! One mapping from what went wrong to an HTTP answer: `{"error": "one line"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_jobs::JobError;
use cairn_state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Job(#[from] JobError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("log in first, or send an API token as Authorization: Bearer TOKEN")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Accounts(#[from] cairn_access::AccountsError),
    /// A config edit that does not validate: each error beside the form field it is about.
    #[error("the edit does not validate: {}", .0.first().map(|e| e.message.as_str()).unwrap_or(""))]
    Invalid(Vec<FieldError>),
    /// The request collides with the current state (a plan that exists, a file changed).
    #[error("{0}")]
    Conflict(String),
    /// The server could not do its part (write the config file).
    #[error("{0}")]
    Internal(String),
}

/// One error of a config edit: the form field (`schedule`, `retention.keep_daily`; empty
/// when it is about no single field) and one line saying what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl From<cairn_access::AccessError> for ApiError {
    fn from(error: cairn_access::AccessError) -> ApiError {
        match error {
            cairn_access::AccessError::Forbidden { .. } => ApiError::Forbidden(error.to_string()),
            cairn_access::AccessError::InvalidInput(text) => ApiError::BadRequest(text),
        }
    }
}

impl From<StateError> for ApiError {
    fn from(error: StateError) -> ApiError {
        ApiError::Job(JobError::State(error))
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_)
            | ApiError::Job(JobError::State(StateError::NoSuchJob(_)))
            | ApiError::Job(JobError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) | ApiError::Job(JobError::InvalidInput(_)) => {
                StatusCode::BAD_REQUEST
            }
            // The engine's kinds: a bad path, pattern or snapshot name is the caller's.
            ApiError::Job(JobError::Repo(e)) => match e.kind() {
                cairn_repo::ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
                cairn_repo::ErrorKind::NotFound => StatusCode::NOT_FOUND,
                cairn_repo::ErrorKind::Locked => StatusCode::CONFLICT,
                cairn_repo::ErrorKind::Transient => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Accounts(error) => {
                use cairn_access::AccountsError as E;
                match error {
                    E::BadCredentials | E::BadSecondFactor => StatusCode::UNAUTHORIZED,
                    E::BadSetupToken => StatusCode::FORBIDDEN,
                    E::NotFound(_) => StatusCode::NOT_FOUND,
                    E::InvalidInput(_) => StatusCode::BAD_REQUEST,
                    E::Conflict(_) => StatusCode::CONFLICT,
                    E::State(_) | E::Key(_) => StatusCode::INTERNAL_SERVER_ERROR,
                }
            }
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Job(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("API request failed: {self}");
        }
        if let ApiError::Invalid(errors) = self {
            return (status, Json(serde_json::json!({ "errors": errors }))).into_response();
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

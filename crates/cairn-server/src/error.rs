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
            ApiError::Job(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("API request failed: {self}");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

//! Why a notification was not delivered.
//!
//! Messages name the channel and the endpoint (scheme, host, port and path of a URL: never
//! its user, password or query, which may carry tokens) and never a secret.

/// What kind of failure, for callers that decide (retry, report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryErrorKind {
    /// The endpoint could not be reached or did not answer in time.
    Unreachable,
    /// The endpoint answered with an error that may pass (HTTP 5xx, 408, 429; SMTP 4xx).
    Transient,
    /// The endpoint refused the message for good (HTTP 4xx, SMTP 5xx, a redirect).
    Refused,
    /// The channel's secret (webhook secret file, SMTP password) could not be read.
    Secret,
    /// The channel's settings cannot be used as they are (a malformed address).
    InvalidInput,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    kind: DeliveryErrorKind,
    message: String,
}

impl DeliveryError {
    pub fn new(kind: DeliveryErrorKind, message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> DeliveryErrorKind {
        self.kind
    }

    /// Whether sending again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            DeliveryErrorKind::Unreachable | DeliveryErrorKind::Transient
        )
    }

    /// The same error with every occurrence of `secret` replaced by `***`: a server may echo
    /// what it was sent, and the message goes to the state database and the log.
    pub fn without(mut self, secret: &[u8]) -> DeliveryError {
        if let Ok(text) = std::str::from_utf8(secret) {
            if !text.is_empty() && self.message.contains(text) {
                self.message = self.message.replace(text, "***");
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_an_error_echoes_is_masked() {
        let error = DeliveryError::new(
            DeliveryErrorKind::Refused,
            "channel mail: 535 bad credentials hunter2 for ops",
        )
        .without(b"hunter2");
        assert_eq!(
            error.to_string(),
            "channel mail: 535 bad credentials *** for ops"
        );
        assert!(!error.is_retryable());
    }
}

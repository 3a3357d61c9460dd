//! The error of decoding repository bytes.

/// Why bytes read from a repository are not the object they claim to be. Decoders return this
/// for any malformed input; they never panic.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("invalid {what} JSON: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("cannot decompress {what}: {reason}")]
    Decompress { what: &'static str, reason: String },
}

impl FormatError {
    pub(crate) fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> FormatError {
        move |source| FormatError::Json { what, source }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> FormatError {
        FormatError::Invalid {
            what,
            reason: reason.into(),
        }
    }
}

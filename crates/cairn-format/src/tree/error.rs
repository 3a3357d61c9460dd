//! Why bytes are not a tree blob.

/// Why a tree blob, or a time in one, does not decode. Every variant names what is wrong; node
/// indexes count from 0 in the blob's `nodes` array.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The bytes are not JSON, or not shaped like `{"nodes":[...]}`.
    #[error("tree blob is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// One field of one node is malformed.
    #[error("tree blob node {index}: field `{field}`: {reason}")]
    Node {
        index: usize,
        field: &'static str,
        reason: String,
    },
    /// An element of `nodes` is `null` (restic would crash on it).
    #[error("tree blob node {index} is null")]
    NullNode { index: usize },
    /// A time is not RFC 3339 as Go's `time.Time` writes and reads it.
    #[error("invalid time {text:?}: {reason}")]
    Time { text: String, reason: &'static str },
}

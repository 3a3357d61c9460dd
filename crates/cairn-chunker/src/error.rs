//! The error of accepting a polynomial for chunking.

use crate::Polynomial;

/// Why a polynomial cannot be used: every variant is invalid input (a damaged or foreign
/// repository config), never worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkerError {
    #[error("invalid chunker polynomial {text:?}: expected hex digits without 0x, as restic writes them in the repository config")]
    InvalidPolynomialText { text: String },
    #[error("chunker polynomial {polynomial} has degree {degree}, but restic's chunker needs a degree from 8 to 53 (repositories use 53)")]
    UnsupportedPolynomialDegree { polynomial: Polynomial, degree: i32 },
}

impl ChunkerError {
    /// Always false: a polynomial does not become valid by asking again.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

//! Content-defined chunking with Rabin fingerprints, cutting exactly where restic's chunker
//! (github.com/restic/chunker, as used by restic 0.14) cuts, so that a file backed up by cairn and
//! by restic yields the same data blobs and the two deduplicate against each other.
//!
//! # Layout
//! - [`polynomial`]: [`Polynomial`], the repository's GF(2) polynomial: degree, irreducibility,
//!   random choice, hex text form.
//! - [`tables`]: [`ChunkerTables`], the per-polynomial lookup tables of the rolling fingerprint.
//! - [`chunker`]: [`Chunker`], the push-style streaming chunker, and [`chunk_lengths`].
//! - `scan`: the hot loop that finds the first boundary in a span, four lanes at a time.
//!
//! # Invariants
//! - Boundaries are a pure function of the polynomial, the size limits and the bytes of the file;
//!   how the caller splits the file into buffers never changes them.
//! - With the defaults every chunk but a file's last is 512 KiB to 8 MiB long; the last chunk
//!   ends with the file and may be shorter; an empty file has no chunks.
//!
//! The crate does no I/O and keeps no global state: callers build one [`ChunkerTables`] per
//! repository and share it by reference between threads.

pub mod chunker;
mod error;
pub mod polynomial;
mod scan;
pub mod tables;
#[cfg(test)]
mod testing;

pub use chunker::{chunk_lengths, Chunker, MAX_SIZE, MIN_SIZE, WINDOW_SIZE};
pub use error::ChunkerError;
pub use polynomial::Polynomial;
pub use tables::ChunkerTables;

//! Test-only support: a port of Go's `math/rand` and restic/chunker's own test vectors, which are
//! defined on bytes from that generator; and a literal model of restic's chunking loop that the
//! property tests compare the fast chunker with.

mod go_cooked;
pub(crate) mod go_math_rand;
mod reference;
mod restic_vectors;

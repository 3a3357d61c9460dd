//! Lookup tables that turn the Rabin fingerprint update into a few XORs per byte.
//!
//! The fingerprint of a window `w` of 64 bytes is `w(x) mod P`, where `w(x)` reads the window as a
//! 512-bit polynomial (first byte most significant) and `P` is the repository's polynomial of
//! degree `k`. Two tables per polynomial, both exactly as restic's chunker builds them:
//!
//! - `out[b] = b(x) * x^(8*63) mod P`, the contribution of byte `b` at the oldest window position.
//!   XORing it removes that byte from the fingerprint before the window slides.
//! - `reduce[t] = (t(x) * x^k mod P) | (t << k)`. After the fingerprint (degree < k) is shifted
//!   left by 8 bits, its top byte `t` sits at bits `k..k+8`; XORing `reduce[t]` clears those bits
//!   (the `t << k` half) and adds their remainder (the other half), which reduces modulo `P` again.
//!
//! Invariant: every fingerprint the tables produce has degree < `k`, so `fingerprint >> (k - 8)`
//! is always below 256.

use crate::{ChunkerError, Polynomial, WINDOW_SIZE};

/// The degrees the tables support: below 8 the top byte cannot be peeled off with one shift; above
/// 53 a fingerprint shifted by 8 bits overflows 64 bits (restic panics there too).
const DEGREE_MIN: i32 = 8;
const DEGREE_MAX: i32 = 53;

/// Precomputed tables for one polynomial; build once per repository, share via Arc/&.
#[derive(Clone)]
pub struct ChunkerTables {
    polynomial: Polynomial,
    /// `degree - 8`: how far to shift a fingerprint to get the byte that `reduce` is indexed by.
    pub(crate) shift: u32,
    pub(crate) out: [u64; 256],
    pub(crate) reduce: [u64; 256],
}

impl ChunkerTables {
    /// Builds the tables for `polynomial`.
    ///
    /// # Panics
    /// When the degree of `polynomial` is outside 8..=53; use [`ChunkerTables::try_new`] for a
    /// polynomial read from a repository.
    pub fn new(polynomial: Polynomial) -> ChunkerTables {
        match ChunkerTables::try_new(polynomial) {
            Ok(tables) => tables,
            Err(error) => panic!("{error}"),
        }
    }

    /// Builds the tables for `polynomial`, or says why they cannot be built. Irreducibility is not
    /// checked: the tables work for any polynomial of a supported degree, and restic checks it
    /// when it loads the config, not in the chunker.
    pub fn try_new(polynomial: Polynomial) -> Result<ChunkerTables, ChunkerError> {
        let degree = polynomial.degree();
        if !(DEGREE_MIN..=DEGREE_MAX).contains(&degree) {
            return Err(ChunkerError::UnsupportedPolynomialDegree { polynomial, degree });
        }
        let mut out = [0u64; 256];
        for (byte, entry) in out.iter_mut().enumerate() {
            // Append the byte, then WINDOW_SIZE - 1 zero bytes, reducing after each.
            let mut hash = Polynomial(byte as u64).modulo(polynomial);
            for _ in 0..WINDOW_SIZE - 1 {
                hash = Polynomial(hash.0 << 8).modulo(polynomial);
            }
            *entry = hash.0;
        }
        let mut reduce = [0u64; 256];
        for (top, entry) in reduce.iter_mut().enumerate() {
            let shifted = (top as u64) << degree;
            *entry = Polynomial(shifted).modulo(polynomial).0 | shifted;
        }
        Ok(ChunkerTables {
            polynomial,
            shift: (degree - 8) as u32,
            out,
            reduce,
        })
    }

    /// The polynomial the tables were built for.
    pub fn polynomial(&self) -> Polynomial {
        self.polynomial
    }

    /// One step of the rolling fingerprint: removes `outgoing` (the byte leaving the window) and
    /// appends `incoming`. The chunker's loops inline this.
    #[inline(always)]
    pub(crate) fn slide(&self, fingerprint: u64, outgoing: u8, incoming: u8) -> u64 {
        let removed = fingerprint ^ self.out[usize::from(outgoing)];
        // The invariant keeps the index below 256; truncating to u8 lets the compiler drop the
        // bounds check without changing the value.
        let top = (removed >> self.shift) as u8;
        ((removed << 8) | u64::from(incoming)) ^ self.reduce[usize::from(top)]
    }
}

impl std::fmt::Debug for ChunkerTables {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChunkerTables")
            .field("polynomial", &self.polynomial)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESTIC_TEST_POLYNOMIAL: Polynomial = Polynomial(0x3DA3358B4DC173);

    /// The fingerprint of `bytes` straight from the definition: the whole input as one polynomial
    /// modulo P, built by Horner's rule with full reductions.
    fn fingerprint_by_definition(bytes: &[u8], polynomial: Polynomial) -> u64 {
        bytes.iter().fold(0, |hash, &byte| {
            Polynomial((hash << 8) | u64::from(byte))
                .modulo(polynomial)
                .0
        })
    }

    #[test]
    fn out_table_is_byte_times_x_to_the_504() {
        let tables = ChunkerTables::new(RESTIC_TEST_POLYNOMIAL);
        // x^504 mod P by repeated multiplication, independent of the table's byte-appending loop.
        let mut x_power = Polynomial(1);
        for _ in 0..8 * (WINDOW_SIZE - 1) {
            x_power = x_power.multiply_modulo(Polynomial(2), RESTIC_TEST_POLYNOMIAL);
        }
        for byte in 0..=255u64 {
            let expected = Polynomial(byte).multiply_modulo(x_power, RESTIC_TEST_POLYNOMIAL);
            assert_eq!(tables.out[byte as usize], expected.0, "out[{byte}]");
        }
        assert_eq!(tables.out[0], 0);
    }

    #[test]
    fn table_values_for_restic_test_polynomial() {
        // Printed by restic/chunker's fillTables (run under Go 1.19) for Pol(0x3DA3358B4DC173).
        let tables = ChunkerTables::new(RESTIC_TEST_POLYNOMIAL);
        assert_eq!(tables.shift, 45);
        let expected = [
            (1, 0x0017eb4232e19216, 0x003da3358b4dc173),
            (2, 0x001275b1ee8ee55f, 0x0046e55e9dd64395),
            (128, 0x0005b54453ea6b5c, 0x1012ab55b228ad4d),
            (255, 0x000b80b98cecc39a, 0x1ff7ac8a5af476a7),
        ];
        for (index, out, reduce) in expected {
            assert_eq!(tables.out[index], out, "out[{index}]");
            assert_eq!(tables.reduce[index], reduce, "reduce[{index}]");
        }
    }

    #[test]
    fn reduce_table_clears_the_top_byte_and_adds_its_remainder() {
        let tables = ChunkerTables::new(RESTIC_TEST_POLYNOMIAL);
        for top in 0..=255u64 {
            let entry = tables.reduce[top as usize];
            assert_eq!(entry >> 53, top);
            let shifted = Polynomial(top << 53);
            assert_eq!(
                entry & ((1 << 53) - 1),
                shifted.modulo(RESTIC_TEST_POLYNOMIAL).0
            );
        }
    }

    #[test]
    fn sliding_equals_the_fingerprint_of_the_window() {
        let tables = ChunkerTables::new(RESTIC_TEST_POLYNOMIAL);
        let bytes: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let mut fingerprint = 0;
        for (index, &byte) in bytes.iter().enumerate() {
            let outgoing = if index >= WINDOW_SIZE {
                bytes[index - WINDOW_SIZE]
            } else {
                0
            };
            fingerprint = tables.slide(fingerprint, outgoing, byte);
            let window = &bytes[index.saturating_sub(WINDOW_SIZE - 1)..=index];
            assert_eq!(
                fingerprint,
                fingerprint_by_definition(window, RESTIC_TEST_POLYNOMIAL),
                "after byte {index}"
            );
        }
    }

    #[test]
    fn degrees_outside_8_to_53_are_rejected() {
        for bits in [0, 1, 0x7f, 1 << 54, u64::MAX] {
            assert!(
                ChunkerTables::try_new(Polynomial(bits)).is_err(),
                "{bits:x}"
            );
        }
        assert!(ChunkerTables::try_new(Polynomial(0x11b)).is_ok());
    }
}

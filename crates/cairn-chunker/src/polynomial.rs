//! Polynomials over GF(2) packed into a `u64`, as restic's chunker (`Pol`) uses them.
//!
//! Bit `i` is the coefficient of `x^i`; addition is XOR. A repository's config stores one
//! irreducible polynomial of degree 53 (`chunker_polynomial`, lowercase hex without `0x`), and the
//! chunker reduces its fingerprints modulo it. Degree 53 is the largest prime below 64 - 8, which
//! leaves room to shift a byte into a fingerprint without overflowing 64 bits.
//!
//! Arithmetic here runs once per repository (table set-up, irreducibility checks, picking a
//! polynomial at init), never per byte, so it favours clarity over speed.

use std::fmt;
use std::str::FromStr;

use crate::ChunkerError;

/// How many random candidates [`Polynomial::random`] tries, as restic's `randPolMaxTries`. About one
/// candidate in 53 is irreducible, so running out means the random source is broken.
const RANDOM_TRIES_MAX: usize = 1_000_000;

/// A polynomial over GF(2) of degree 53, as stored in a repository's config (`chunker_polynomial`, hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Polynomial(pub u64);

impl Polynomial {
    /// A random irreducible polynomial of degree 53, picked as restic's `DerivePolynomial` does: take
    /// 64 random bits, keep bits 0..=53, set bit 53 (degree 53) and bit 0 (else `x` divides it), and
    /// retry until the result is irreducible.
    ///
    /// # Panics
    /// When a million candidates are all reducible, which only a broken random source causes.
    pub fn random<R: rand::RngCore + ?Sized>(rng: &mut R) -> Polynomial {
        for _ in 0..RANDOM_TRIES_MAX {
            let mut bytes = [0u8; 8];
            rng.fill_bytes(&mut bytes);
            let bits = u64::from_le_bytes(bytes) & ((1 << 54) - 1) | (1 << 53) | 1;
            let candidate = Polynomial(bits);
            if candidate.is_irreducible() {
                return candidate;
            }
        }
        panic!("no irreducible polynomial among {RANDOM_TRIES_MAX} random candidates; the random number generator is broken");
    }

    /// The degree, or -1 for the zero polynomial (restic's `Deg`).
    pub fn degree(&self) -> i32 {
        if self.0 == 0 {
            -1
        } else {
            63 - self.0.leading_zeros() as i32
        }
    }

    /// Whether the polynomial has no factors but itself and 1, by Ben-Or's test as restic's
    /// `Irreducible`: `f` of degree `d` is irreducible iff `gcd(f, x^(2^i) - x mod f) = 1` for every
    /// `i` in `1..=d/2`.
    ///
    /// Unlike restic, constants (0 and 1) are not irreducible here; restic calls them irreducible but
    /// cannot chunk with them either.
    pub fn is_irreducible(&self) -> bool {
        let degree = self.degree();
        if degree < 1 {
            return false;
        }
        let x = Polynomial(2).modulo(*self);
        // power holds x^(2^i) mod self, squared once per round.
        let mut power = x;
        for _ in 1..=degree / 2 {
            power = power.multiply_modulo(power, *self);
            let candidate = Polynomial(power.0 ^ x.0);
            if self.gcd(candidate) != Polynomial(1) {
                return false;
            }
        }
        true
    }

    /// The quotient and remainder of dividing `self` by `divisor`.
    ///
    /// # Panics
    /// When `divisor` is zero.
    pub(crate) fn divide(self, divisor: Polynomial) -> (Polynomial, Polynomial) {
        assert!(divisor.0 != 0, "polynomial division by zero");
        let divisor_degree = divisor.degree();
        let mut quotient = 0u64;
        let mut remainder = self.0;
        while Polynomial(remainder).degree() >= divisor_degree {
            let shift = Polynomial(remainder).degree() - divisor_degree;
            quotient |= 1 << shift;
            remainder ^= divisor.0 << shift;
        }
        (Polynomial(quotient), Polynomial(remainder))
    }

    /// `self mod divisor`.
    pub(crate) fn modulo(self, divisor: Polynomial) -> Polynomial {
        self.divide(divisor).1
    }

    /// `self * other mod modulus`, without overflow for any operands: the product is formed in 128
    /// bits before it is reduced.
    pub(crate) fn multiply_modulo(self, other: Polynomial, modulus: Polynomial) -> Polynomial {
        assert!(modulus.0 != 0, "polynomial division by zero");
        let mut product = 0u128;
        for bit in 0..64 {
            if other.0 & (1 << bit) != 0 {
                product ^= u128::from(self.0) << bit;
            }
        }
        let modulus_degree = modulus.degree();
        while product != 0 {
            let product_degree = 127 - product.leading_zeros() as i32;
            if product_degree < modulus_degree {
                break;
            }
            product ^= u128::from(modulus.0) << (product_degree - modulus_degree);
        }
        Polynomial(product as u64)
    }

    /// The greatest common divisor (Euclid), as restic's `GCD`: `gcd(0, f) = f`.
    pub(crate) fn gcd(self, other: Polynomial) -> Polynomial {
        let (mut larger, mut smaller) = if self.degree() >= other.degree() {
            (self, other)
        } else {
            (other, self)
        };
        while smaller.0 != 0 {
            let remainder = larger.modulo(smaller);
            larger = smaller;
            smaller = remainder;
        }
        larger
    }
}

/// Lowercase hex without `0x`, as restic writes the polynomial into the config (Go `%x`).
impl fmt::Display for Polynomial {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:x}", self.0)
    }
}

/// Parses hex digits without a prefix or sign, either case, as restic reads the config (Go
/// `strconv.ParseUint(text, 16, 64)`).
impl FromStr for Polynomial {
    type Err = ChunkerError;

    fn from_str(text: &str) -> Result<Polynomial, ChunkerError> {
        let invalid = || ChunkerError::InvalidPolynomialText {
            text: text.to_owned(),
        };
        // u64::from_str_radix would also take a leading '+', which Go rejects.
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        u64::from_str_radix(text, 16)
            .map(Polynomial)
            .map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The polynomial all of restic's chunker tests use.
    const RESTIC_TEST_POLYNOMIAL: Polynomial = Polynomial(0x3DA3358B4DC173);

    fn binary(text: &str) -> Polynomial {
        Polynomial(u64::from_str_radix(text, 2).unwrap())
    }

    #[test]
    fn degree_is_the_highest_set_bit() {
        assert_eq!(Polynomial(0).degree(), -1);
        assert_eq!(Polynomial(1).degree(), 0);
        assert_eq!(Polynomial(0b1101).degree(), 3);
        assert_eq!(Polynomial(0x3af4b284899).degree(), 41);
        assert_eq!(RESTIC_TEST_POLYNOMIAL.degree(), 53);
        assert_eq!(Polynomial(1 << 63).degree(), 63);
    }

    #[test]
    fn division_matches_restic_vectors() {
        // (dividend, divisor, quotient) from restic/chunker's polynomials_test.go.
        let quotients = [
            (Polynomial(10), Polynomial(50), Polynomial(0)),
            (Polynomial(0), Polynomial(1), Polynomial(0)),
            (binary("101101000"), binary("1010"), binary("100100")),
            (Polynomial(2), Polynomial(2), Polynomial(1)),
            (Polynomial(1 << 63), Polynomial(1 << 63), Polynomial(1)),
            (binary("1100"), binary("100"), binary("11")),
            (binary("1100001111"), binary("10011"), binary("110101")),
        ];
        for (dividend, divisor, quotient) in quotients {
            assert_eq!(
                dividend.divide(divisor).0,
                quotient,
                "{dividend} / {divisor}"
            );
        }
        // (dividend, divisor, remainder), same source.
        let remainders = [
            (Polynomial(10), Polynomial(50), Polynomial(10)),
            (Polynomial(0), Polynomial(1), Polynomial(0)),
            (binary("101101001"), binary("1010"), binary("1")),
            (Polynomial(2), Polynomial(2), Polynomial(0)),
            (Polynomial(1 << 63), Polynomial(1 << 63), Polynomial(0)),
            (binary("1100"), binary("100"), binary("0")),
            (binary("1100001111"), binary("10011"), binary("0")),
        ];
        for (dividend, divisor, remainder) in remainders {
            assert_eq!(
                dividend.modulo(divisor),
                remainder,
                "{dividend} mod {divisor}"
            );
        }
    }

    #[test]
    fn multiply_modulo_matches_restic_vectors() {
        let cases = [
            (0x1230, 0x230, 0x55, 0x22),
            (
                0x0eae8c07dbbb3026,
                0xd5d6db9de04771de,
                0xdd2bda3b77c9,
                0x425ae8595b7a,
            ),
        ];
        for (left, right, modulus, product) in cases {
            assert_eq!(
                Polynomial(left).multiply_modulo(Polynomial(right), Polynomial(modulus)),
                Polynomial(product)
            );
        }
    }

    #[test]
    fn gcd_matches_restic_vectors() {
        let cases = [
            (Polynomial(10), Polynomial(50), Polynomial(2)),
            (Polynomial(0), Polynomial(1), Polynomial(1)),
            (binary("101101001"), binary("1010"), binary("1")),
            (Polynomial(2), Polynomial(2), Polynomial(2)),
            (binary("1010"), binary("11"), binary("11")),
            (
                Polynomial(1 << 63),
                Polynomial(1 << 63),
                Polynomial(1 << 63),
            ),
            (binary("1100"), binary("101"), binary("11")),
            (binary("1100001111"), binary("10011"), binary("10011")),
            (
                RESTIC_TEST_POLYNOMIAL,
                RESTIC_TEST_POLYNOMIAL,
                RESTIC_TEST_POLYNOMIAL,
            ),
            (
                RESTIC_TEST_POLYNOMIAL,
                Polynomial(0x230d2259defd),
                Polynomial(1),
            ),
            (
                Polynomial(0x230d2259defd),
                Polynomial(0x51b492b3eff2),
                binary("10011"),
            ),
        ];
        for (left, right, divisor) in cases {
            assert_eq!(left.gcd(right), divisor, "gcd({left}, {right})");
            assert_eq!(right.gcd(left), divisor, "gcd({right}, {left})");
        }
    }

    #[test]
    fn irreducibility_matches_restic_vectors() {
        let cases = [
            (0x38f1e565e288df, false),
            (0x3DA3358B4DC173, true),
            (0x30a8295b9d5c91, false),
            (0x255f4350b962cb, false),
            (0x267f776110a235, false),
            (0x2f4dae10d41227, false),
            (0x2482734cacca49, true),
            (0x312daf4b284899, false),
            (0x29dfb6553d01d1, false),
            (0x3548245eb26257, false),
            (0x3199e7ef4211b3, false),
            (0x362f39017dae8b, false),
            (0x200d57aa6fdacb, false),
            (0x35e0a4efa1d275, false),
            (0x2ced55b026577f, false),
            (0x260b012010893d, false),
            (0x2df29cbcd59e9d, false),
            (0x3f2ac7488bd429, false),
            (0x3e5cb1711669fb, false),
            (0x226d8de57a9959, false),
            (0x3c8de80aaf5835, false),
            (0x2026a59efb219b, false),
            (0x39dfa4d13fb231, false),
            (0x3143d0464b3299, false),
        ];
        for (bits, irreducible) in cases {
            assert_eq!(Polynomial(bits).is_irreducible(), irreducible, "{bits:x}");
        }
    }

    #[test]
    fn small_polynomials_are_classified_correctly() {
        // x, x+1, x^2+x+1, x^3+x+1 are irreducible; x^2 = x*x, x^2+1 = (x+1)^2 and
        // x^4+x^2+1 = (x^2+x+1)^2 are not; constants are units, not irreducible.
        for bits in [0b10, 0b11, 0b111, 0b1011] {
            assert!(Polynomial(bits).is_irreducible(), "{bits:b}");
        }
        for bits in [0, 1, 0b100, 0b101, 0b10101] {
            assert!(!Polynomial(bits).is_irreducible(), "{bits:b}");
        }
        // (x^3+x+1) times restic's test polynomial: a product of two irreducible factors.
        let factor = RESTIC_TEST_POLYNOMIAL.0;
        let product = Polynomial((factor << 3) ^ (factor << 1) ^ factor);
        assert_eq!(product.degree(), 56);
        assert!(!product.is_irreducible());
    }

    #[test]
    fn random_polynomials_are_irreducible_of_degree_53() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let first = Polynomial::random(&mut rng);
        for polynomial in [first, Polynomial::random(&mut rng)] {
            assert_eq!(polynomial.degree(), 53);
            assert!(polynomial.is_irreducible());
            assert_eq!(polynomial.0 & 1, 1);
        }
        assert_ne!(first, Polynomial::random(&mut rng));
    }

    #[test]
    fn text_form_is_go_hex() {
        assert_eq!(RESTIC_TEST_POLYNOMIAL.to_string(), "3da3358b4dc173");
        assert_eq!(
            "3da3358b4dc173".parse::<Polynomial>().unwrap(),
            RESTIC_TEST_POLYNOMIAL
        );
        assert_eq!(
            "3DA3358B4DC173".parse::<Polynomial>().unwrap(),
            RESTIC_TEST_POLYNOMIAL
        );
        for bad in ["", "0x3da3", "+3da3", "3da3 ", "xyz", "1ffffffffffffffff"] {
            assert!(bad.parse::<Polynomial>().is_err(), "{bad:?}");
        }
    }
}

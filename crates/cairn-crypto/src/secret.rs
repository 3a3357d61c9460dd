//! `Secret<T>`: a value that never prints.
//!
//! Invariants: `Debug` and `Display` show `***` whatever `T` is, so a secret that ends up in a
//! log line, an error message or a `dbg!` leaks nothing; the inner value is wiped with
//! `zeroize` when the secret is dropped. Reading the value needs an explicit `expose()`, which is
//! easy to find in review.

use std::fmt;

use zeroize::Zeroize;

/// A value that never prints: `Debug` and `Display` show `***`, `expose()` gives the inner
/// value, and the value is zeroized on drop.
///
/// `T` must implement [`Zeroize`]: Rust cannot give a type a `Drop` only for some `T`, and a
/// secret that is not wiped when dropped would break the promise of the type. `Vec<u8>`,
/// `String` and byte arrays all qualify.
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The inner value. Call it where the secret is used, not to pass it around.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The inner value, mutably (to fill a buffer in place without an unwiped copy).
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Secret<T> {
        Secret(value)
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Secret<T> {
        Secret(self.0.clone())
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new(String::from("hunter2"));
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:#?}"), "***");
        assert!(!format!("{:?}", Some(&secret)).contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn bytes_do_not_print() {
        let secret = Secret::new(vec![0xAB_u8; 8]);
        let printed = format!("{secret:?} {secret}");
        assert!(!printed.contains("171"), "{printed}");
        assert!(!printed.to_lowercase().contains("ab"), "{printed}");
    }
}

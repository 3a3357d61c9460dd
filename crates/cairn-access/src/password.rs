//! Password hashing: argon2id with the argon2 crate's defaults (19 MiB, 2 passes, 1 lane,
//! OWASP's recommendation), stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`), so
//! parameters raised later still verify old hashes.
//!
//! A login for a user that does not exist verifies against a fixed dummy hash, so both
//! failures cost the same time: the answer's timing does not tell which names exist.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;

/// The shortest password accepted.
pub const PASSWORD_LENGTH_MIN: usize = 12;
/// The longest (bytes): a bound on the work one login request can ask for.
pub const PASSWORD_LENGTH_MAX: usize = 1024;

/// Why `password` cannot be a user's password, if it cannot. Never repeats the password.
pub fn password_problem(password: &str) -> Option<String> {
    if password.chars().count() < PASSWORD_LENGTH_MIN {
        Some(format!(
            "the password is shorter than {PASSWORD_LENGTH_MIN} characters; choose a longer one"
        ))
    } else if password.len() > PASSWORD_LENGTH_MAX {
        Some(format!(
            "the password is longer than {PASSWORD_LENGTH_MAX} bytes; choose a shorter one"
        ))
    } else {
        None
    }
}

/// The argon2id PHC string of `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with default parameters hashes any password up to the length cap")
        .to_string()
}

/// Whether `password` matches `hash`; a hash that does not parse matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Spends the time of one verification and matches nothing (for unknown user names).
pub fn verify_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("cairn dummy password for unknown users"));
    let _ = verify_password(dummy, password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery "));
        assert_ne!(hash, hash_password("correct horse battery"), "salted");
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn short_and_huge_passwords_are_refused_without_being_repeated() {
        let problem = password_problem("short-pw").unwrap();
        assert!(problem.contains("shorter than 12"), "{problem}");
        assert!(!problem.contains("short-pw"));
        assert!(password_problem(&"x".repeat(2000)).is_some());
        assert!(password_problem("twelve chars").is_none());
    }
}

//! The second factor: TOTP enrolment (a pending seed, sealed, confirmed by a first code),
//! the check at login (a TOTP code not replayed, or an unused recovery code), and the ten
//! recovery codes handed out once at confirmation and stored hashed.

use super::{Accounts, AccountsError, Result, TotpEnrolment, TOTP_SEAL_PURPOSE};
use crate::secret::{normalize_recovery_code, recovery_code, sha256_hex};
use crate::totp;

/// How many recovery codes a confirmation hands out.
pub const RECOVERY_CODES: usize = 10;

impl Accounts {
    /// Login's second step: a six-digit TOTP code (each time step once) or an unused
    /// recovery code (used up).
    pub fn check_second_factor(&self, user_id: i64, code: &str) -> Result<()> {
        let user = self.stored_user_by_id(user_id)?;
        let Some(sealed) = user.totp_secret_sealed.as_deref() else {
            return Err(AccountsError::BadSecondFactor);
        };
        let typed = code.trim();
        if typed.len() == totp::DIGITS as usize && typed.bytes().all(|b| b.is_ascii_digit()) {
            let seed = self.key.open(TOTP_SEAL_PURPOSE, sealed)?;
            let step = totp::matching_step(&seed, typed, self.now())
                .ok_or(AccountsError::BadSecondFactor)?;
            // Accepted only when later than the last step used: a code seen over a shoulder or
            // replayed from a captured request is refused.
            return match self.state.advance_totp_step(user_id, step)? {
                true => Ok(()),
                false => Err(AccountsError::BadSecondFactor),
            };
        }
        let hash = sha256_hex(&normalize_recovery_code(typed));
        match self.state.use_recovery_code(user_id, &hash, self.now())? {
            true => Ok(()),
            false => Err(AccountsError::BadSecondFactor),
        }
    }

    /// Starts (or restarts) TOTP enrolment: a new seed, stored sealed as pending, shown once
    /// as base32, an `otpauth://` URL and its QR code.
    pub fn begin_totp(&self, user_id: i64, issuer: &str) -> Result<TotpEnrolment> {
        let user = self.stored_user_by_id(user_id)?;
        let seed = totp::new_seed();
        let sealed = self.key.seal(TOTP_SEAL_PURPOSE, &seed);
        self.state
            .set_totp_pending(user_id, Some(&sealed), self.now())?;
        let otpauth_url = totp::otpauth_url(issuer, &user.name, &seed);
        Ok(TotpEnrolment {
            secret_base32: totp::base32(&seed),
            qr_svg: totp::qr_svg(&otpauth_url),
            otpauth_url,
        })
    }

    /// Ends enrolment with a code from the app: the pending seed becomes the user's second
    /// factor. Returns the recovery codes, which are not kept in plaintext and cannot be
    /// shown again.
    pub fn confirm_totp(&self, user_id: i64, code: &str) -> Result<Vec<String>> {
        let user = self.stored_user_by_id(user_id)?;
        let Some(pending) = user.totp_pending_sealed.as_deref() else {
            return Err(AccountsError::InvalidInput(format!(
                "user {:?} has no authenticator enrolment in progress; start it again",
                user.name
            )));
        };
        let seed = self.key.open(TOTP_SEAL_PURPOSE, pending)?;
        let step =
            totp::matching_step(&seed, code, self.now()).ok_or(AccountsError::BadSecondFactor)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| sha256_hex(&normalize_recovery_code(c)))
            .collect();
        // The seed is sealed again, so the pending and the active value never share a nonce.
        let sealed = self.key.seal(TOTP_SEAL_PURPOSE, &seed);
        if !self
            .state
            .enable_totp(user_id, &sealed, step, &hashes, self.now())?
        {
            return Err(AccountsError::NotFound(format!("user with id {user_id}")));
        }
        Ok(codes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Fixture, PASSWORD};
    use super::super::LoginStep;
    use super::*;
    use crate::Role;

    fn base32_decode(text: &str) -> Vec<u8> {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
        for c in text.bytes() {
            let value = alphabet.iter().position(|&a| a == c).unwrap() as u32;
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        out
    }

    fn code(seed: &[u8], f: &Fixture, offset_steps: i64) -> String {
        format!(
            "{:06}",
            totp::code_at_step(seed, totp::step_of(f.now()) + offset_steps)
        )
    }

    /// A user with TOTP on; its seed and recovery codes.
    fn enrolled(f: &Fixture) -> (i64, Vec<u8>, Vec<String>) {
        let user = f.accounts.add_user("alice", Role::Admin, PASSWORD).unwrap();
        let enrolment = f.accounts.begin_totp(user.id, "cairn").unwrap();
        assert!(enrolment.otpauth_url.contains(&enrolment.secret_base32));
        assert!(enrolment.qr_svg.contains("<svg"));
        let seed = base32_decode(&enrolment.secret_base32);
        // Not on yet: the password alone still logs in, and a code is no second factor.
        assert!(matches!(
            f.accounts.check_password("alice", PASSWORD).unwrap(),
            LoginStep::Done(_)
        ));
        let wrong = f.accounts.confirm_totp(user.id, "000000");
        let right = code(&seed, f, 0);
        if right != "000000" {
            assert!(matches!(wrong, Err(AccountsError::BadSecondFactor)));
        }
        let codes = f.accounts.confirm_totp(user.id, &right).unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        (user.id, seed, codes)
    }

    #[test]
    fn totp_codes_work_within_a_step_either_side_and_only_once() {
        let f = Fixture::new();
        let (id, seed, _) = enrolled(&f);
        assert!(matches!(
            f.accounts.check_password("alice", PASSWORD).unwrap(),
            LoginStep::NeedsSecondFactor(_)
        ));
        // The confirmation code's step is used: the same code again is a replay.
        let replay = f.accounts.check_second_factor(id, &code(&seed, &f, 0));
        assert!(matches!(replay, Err(AccountsError::BadSecondFactor)));
        f.advance(totp::STEP_SECONDS * 10);
        for offset in [-2, 2] {
            let refused = f.accounts.check_second_factor(id, &code(&seed, &f, offset));
            assert!(refused.is_err(), "offset {offset}");
        }
        f.accounts
            .check_second_factor(id, &code(&seed, &f, -1))
            .unwrap();
        f.accounts
            .check_second_factor(id, &code(&seed, &f, 0))
            .unwrap();
        f.accounts
            .check_second_factor(id, &code(&seed, &f, 1))
            .unwrap();
        // Each was accepted once; the earlier steps are refused from now on.
        for offset in [-1, 0, 1] {
            assert!(f
                .accounts
                .check_second_factor(id, &code(&seed, &f, offset))
                .is_err());
        }
    }

    #[test]
    fn a_recovery_code_works_once_and_reset_clears_everything() {
        let f = Fixture::new();
        let (id, seed, codes) = enrolled(&f);
        let typed = codes[3].to_uppercase();
        f.accounts.check_second_factor(id, &typed).unwrap();
        let again = f.accounts.check_second_factor(id, &codes[3]).unwrap_err();
        assert!(matches!(again, AccountsError::BadSecondFactor));
        assert!(!again.to_string().contains(&codes[3]));
        f.accounts.check_second_factor(id, &codes[4]).unwrap();
        assert!(f
            .accounts
            .check_second_factor(id, "zzzz-zzzz-zzzz")
            .is_err());

        f.accounts.reset_second_factor("alice").unwrap();
        assert!(!f.accounts.user("alice").unwrap().totp_enabled);
        assert!(matches!(
            f.accounts.check_password("alice", PASSWORD).unwrap(),
            LoginStep::Done(_)
        ));
        f.advance(totp::STEP_SECONDS * 5);
        assert!(f.accounts.check_second_factor(id, &codes[5]).is_err());
        assert!(f
            .accounts
            .check_second_factor(id, &code(&seed, &f, 0))
            .is_err());
    }

    #[test]
    fn the_seed_is_sealed_at_rest() {
        let f = Fixture::new();
        let (_, seed, _) = enrolled(&f);
        let stored = f.state.user_by_name("alice").unwrap().unwrap();
        let sealed = stored.totp_secret_sealed.unwrap();
        assert!(crate::InstanceKey::is_sealed(&sealed));
        assert!(!sealed.contains(&totp::base32(&seed)));
    }
}

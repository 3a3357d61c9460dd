//! Time-based one-time passwords (RFC 6238): HMAC-SHA-1 over the 30-second time step, six
//! digits, as every authenticator app computes them. A code is accepted for the current step
//! and one step either side (clock drift); the caller refuses a step at or before the last
//! one used (replay). Seeds are 20 random bytes, shown as base32 and as an `otpauth://` QR
//! code (an SVG string the enrolment page embeds).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use qrcode::render::svg;
use qrcode::QrCode;
use rand::rngs::OsRng;
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one.
pub const DRIFT_STEPS: i64 = 1;
pub const SEED_BYTES: usize = 20;

/// The time step of `at`.
pub fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECONDS)
}

/// The code of `step` (RFC 4226 dynamic truncation, six digits).
pub fn code_at_step(seed: &[u8], step: i64) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(seed).expect("HMAC takes any key length");
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(DIGITS)
}

/// The step whose code `typed` is, within the drift window around `at`.
pub fn matching_step(seed: &[u8], typed: &str, at: DateTime<Utc>) -> Option<i64> {
    let typed = typed.trim();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(at);
    // Every candidate is compared, in constant time, so timing does not tell which matched.
    let mut found = None;
    for step in now - DRIFT_STEPS..=now + DRIFT_STEPS {
        let expected = format!("{:06}", code_at_step(seed, step));
        if bool::from(expected.as_bytes().ct_eq(typed.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

pub fn new_seed() -> Vec<u8> {
    let mut seed = vec![0u8; SEED_BYTES];
    OsRng.fill_bytes(&mut seed);
    seed
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what authenticator apps take).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | byte as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// `otpauth://totp/ISSUER:NAME?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
pub fn otpauth_url(issuer: &str, account: &str, seed: &[u8]) -> String {
    format!(
        "otpauth://totp/{label}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        label = percent_encode(&format!("{issuer}:{account}")),
        secret = base32(seed),
        issuer = percent_encode(issuer),
    )
}

/// The QR code of `url` as an SVG document.
pub fn qr_svg(url: &str) -> String {
    QrCode::new(url.as_bytes())
        .expect("an otpauth URL fits in a QR code")
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build()
}

/// The bytes of a base32 text (RFC 4648, padding and case ignored), as an authenticator app
/// reads the secret the enrolment page shows; `None` for a character outside the alphabet.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut count, mut out) = (0u64, 0u32, Vec::new());
    for c in text.trim().trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn base32_round_trips() {
        for bytes in [&b""[..], b"f", b"12345678901234567890", &[0xff, 0x00, 0x7f]] {
            assert_eq!(from_base32(&base32(bytes)).unwrap(), bytes);
        }
        assert_eq!(from_base32("mzxw6==="), Some(b"foo".to_vec()));
        assert_eq!(from_base32("not base32!"), None);
    }

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        // Appendix B lists eight digits; the six low digits are what a 6-digit app shows.
        let seed = b"12345678901234567890";
        let vectors = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time, eight_digits) in vectors {
            assert_eq!(
                code_at_step(seed, step_of(at(time))),
                eight_digits % 1_000_000,
                "time {time}"
            );
        }
    }

    #[test]
    fn codes_match_one_step_either_side_and_no_further() {
        let seed = b"12345678901234567890";
        let now = at(1_800_000_015);
        let step = step_of(now);
        for offset in [-1, 0, 1] {
            let code = format!("{:06}", code_at_step(seed, step + offset));
            assert_eq!(matching_step(seed, &code, now), Some(step + offset));
        }
        for offset in [-2, 2] {
            let code = format!("{:06}", code_at_step(seed, step + offset));
            assert_eq!(matching_step(seed, &code, now), None, "offset {offset}");
        }
        assert_eq!(matching_step(seed, "12345", now), None);
        assert_eq!(matching_step(seed, "abcdef", now), None);
    }

    #[test]
    fn base32_and_the_otpauth_url() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        let url = otpauth_url("cairn backup", "alice", b"12345678901234567890");
        assert_eq!(
            url,
            "otpauth://totp/cairn%20backup:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=cairn%20backup&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&url);
        assert!(svg.contains("<svg"), "{svg}");
    }
}

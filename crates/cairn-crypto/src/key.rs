//! The master key and the encrypted-object format (restic's `crypto.Key`, `Seal`, `Open`).
//!
//! An encrypted object is `IV (16) || AES-256-CTR(plaintext) || Poly1305-AES MAC (16)`. The CTR
//! counter block is the whole IV, incremented as one 128-bit big-endian integer (Go's
//! `cipher.NewCTR`), and the MAC covers the ciphertext only (see [`crate::mac`]).
//!
//! Invariants:
//! - Every seal draws a fresh random IV from the OS; an all-zero IV is never written (restic
//!   refuses to open one).
//! - `open` and `open_in_place` check the MAC, in constant time, before a single byte is
//!   decrypted, and return no plaintext when it fails.
//! - Key bytes never print (`Debug` shows `MasterKey(***)`) and are zeroized on drop, together
//!   with the expanded AES key schedules (the `zeroize` feature of `aes`).
//!
//! Speed: the AES key schedules are expanded once per key, not once per object, and sealing
//! copies, encrypts and authenticates the plaintext in slices small enough to stay in the L1/L2
//! cache, so each byte comes from main memory once.

use std::fmt;

use aes::cipher::{InnerIvInit, KeyInit, StreamCipher};
use aes::{Aes128Enc, Aes256Enc};
use zeroize::Zeroize;

use crate::mac::{self, Authenticator, BLOCK_LEN};
use crate::random::{fill_random, random_bytes};
use crate::{CryptoError, IV_LEN, MAC_LEN, OVERHEAD};

/// AES-256 in CTR mode with the IV as a 128-bit big-endian counter.
type Keystream = ctr::Ctr128BE<Aes256Enc>;
type KeystreamCore = ctr::CtrCore<Aes256Enc, ctr::flavors::Ctr128BE>;

/// How many bytes `seal_into` copies, encrypts and authenticates at a time: a multiple of 64
/// (four Poly1305 blocks, the AVX2 backend's unit) that fits easily in L1/L2 next to the rest.
const SEAL_SLICE_LEN: usize = 16384;

/// The repository master key, or a key derived from a password (same shape): a 32-byte AES-256
/// encryption key and a Poly1305-AES MAC key `(k, r)`.
#[derive(Clone)]
pub struct MasterKey {
    pub(crate) encrypt: [u8; 32],
    pub(crate) mac_k: [u8; 16],
    pub(crate) mac_r: [u8; 16],
    /// `encrypt`, expanded once; CTR needs only the encryption direction.
    cipher: Aes256Enc,
    /// `mac_k`, expanded once, to turn each IV into Poly1305's additive key.
    mac_cipher: Aes128Enc,
}

impl MasterKey {
    /// A new random key from the OS RNG.
    pub fn generate() -> MasterKey {
        let mut encrypt = random_bytes::<32>();
        let mut mac_k = random_bytes::<16>();
        let mut mac_r = random_bytes::<16>();
        let key = MasterKey::from_parts(encrypt, mac_k, mac_r);
        encrypt.zeroize();
        mac_k.zeroize();
        mac_r.zeroize();
        key
    }

    /// A key from its three parts: AES-256 key, MAC k (AES-128 key), MAC r (Poly1305 key).
    ///
    /// `mac_r` is stored with Poly1305's clamp applied, as restic 0.14 does (`maskKey`): the MAC
    /// is the same either way, and `to_json` then writes what restic writes.
    pub fn from_parts(encrypt: [u8; 32], mac_k: [u8; 16], mac_r: [u8; 16]) -> MasterKey {
        let mac_r = mac::clamp_r(mac_r);
        MasterKey {
            cipher: Aes256Enc::new(&encrypt.into()),
            mac_cipher: Aes128Enc::new(&mac_k.into()),
            encrypt,
            mac_k,
            mac_r,
        }
    }

    /// Appends `IV || ciphertext || MAC` of `plaintext` to `out`, growing it at most once.
    pub fn seal_into(&self, plaintext: &[u8], out: &mut Vec<u8>) {
        out.reserve(plaintext.len() + OVERHEAD);
        let iv = new_iv();
        out.extend_from_slice(&iv);

        let mut keystream = self.keystream(&iv);
        let mut authenticator = Authenticator::new(&self.mac_cipher, &self.mac_r, &iv);
        // Whole Poly1305 blocks go through the MAC slice by slice; the partial block at the end
        // (if any) must be the last thing it sees.
        let full_len = plaintext.len() / BLOCK_LEN * BLOCK_LEN;
        let (whole_blocks, tail) = plaintext.split_at(full_len);
        for slice in whole_blocks.chunks(SEAL_SLICE_LEN) {
            let start = out.len();
            out.extend_from_slice(slice);
            let ciphertext = &mut out[start..];
            keystream.apply_keystream(ciphertext);
            authenticator.update_blocks(ciphertext);
        }
        let start = out.len();
        out.extend_from_slice(tail);
        let ciphertext_tail = &mut out[start..];
        keystream.apply_keystream(ciphertext_tail);
        let tag = authenticator.finish(ciphertext_tail);
        out.extend_from_slice(&tag);
    }

    /// `IV || ciphertext || MAC` of `plaintext` in a new vector.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.seal_into(plaintext, &mut out);
        out
    }

    /// Checks the MAC of `sealed`, then decrypts it into a new vector.
    ///
    /// Errors: [`CryptoError::TooShort`] under 32 bytes, [`CryptoError::MacMismatch`] when the
    /// object was altered or sealed with another key, [`CryptoError::ZeroIv`] for an IV that
    /// restic would refuse.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (iv, ciphertext) = self.authenticate(sealed)?;
        let mut plaintext = vec![0u8; ciphertext.len()];
        self.keystream(&iv)
            .apply_keystream_b2b(ciphertext, &mut plaintext)
            .expect("input and output have the same length");
        Ok(plaintext)
    }

    /// Like [`MasterKey::open`], decrypting inside `sealed` and returning the plaintext, which is
    /// `sealed[16..len - 16]`. On error `sealed` is unchanged.
    pub fn open_in_place<'a>(&self, sealed: &'a mut [u8]) -> Result<&'a mut [u8], CryptoError> {
        let (iv, _) = self.authenticate(sealed)?;
        let end = sealed.len() - MAC_LEN;
        let plaintext = &mut sealed[IV_LEN..end];
        self.keystream(&iv).apply_keystream(plaintext);
        Ok(plaintext)
    }

    /// Splits `sealed` and checks its MAC: the IV and the authenticated ciphertext.
    fn authenticate<'a>(&self, sealed: &'a [u8]) -> Result<([u8; IV_LEN], &'a [u8]), CryptoError> {
        if sealed.len() < OVERHEAD {
            return Err(CryptoError::TooShort { len: sealed.len() });
        }
        let (iv, rest) = sealed.split_at(IV_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - MAC_LEN);
        let iv: [u8; IV_LEN] = iv.try_into().expect("split at IV_LEN");
        let tag: &[u8; MAC_LEN] = tag.try_into().expect("split at MAC_LEN from the end");
        if !mac::verify(&self.mac_cipher, &self.mac_r, &iv, ciphertext, tag) {
            return Err(CryptoError::MacMismatch);
        }
        // Checked after the MAC so that any change to an object reads as MacMismatch; an
        // authentic zero IV can only come from a writer holding the key and a bug.
        if iv == [0u8; IV_LEN] {
            return Err(CryptoError::ZeroIv);
        }
        Ok((iv, ciphertext))
    }

    fn keystream(&self, iv: &[u8; IV_LEN]) -> Keystream {
        // Cloning the expanded schedule (240 bytes) is far cheaper than expanding it again.
        Keystream::from_core(KeystreamCore::inner_iv_init(self.cipher.clone(), iv.into()))
    }
}

/// A fresh IV. restic panics on sealing with an all-zero IV and refuses to open one; drawing
/// again costs nothing and happens with probability 2^-128.
fn new_iv() -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    while iv == [0u8; IV_LEN] {
        fill_random(&mut iv);
    }
    iv
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        // The expanded schedules wipe themselves (aes's `zeroize` feature).
        self.encrypt.zeroize();
        self.mac_k.zeroize();
        self.mac_r.zeroize();
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("MasterKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
            .collect()
    }

    /// restic's `testValues` (internal/crypto/crypto_int_test.go): an object sealed by restic's
    /// Go code with a fixed key.
    fn restic_test_key() -> MasterKey {
        MasterKey::from_parts(
            hex("303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef")
                .try_into()
                .unwrap(),
            hex("ef4d8824cb80b2bcc5fbff8a9b12a42c").try_into().unwrap(),
            hex("cc8d4b948ee0ebfe1d415de921d10353").try_into().unwrap(),
        )
    }
    const RESTIC_CIPHERTEXT: &str = "69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a54ea63338a813bcf3f75d8c3cc75dddf8750";
    const RESTIC_PLAINTEXT: &[u8] = b"Dies ist ein Test!";

    #[test]
    fn opens_restic_test_vector() {
        let key = restic_test_key();
        let sealed = hex(RESTIC_CIPHERTEXT);
        assert_eq!(sealed.len(), RESTIC_PLAINTEXT.len() + OVERHEAD);
        assert_eq!(key.open(&sealed).unwrap(), RESTIC_PLAINTEXT);
        let mut buffer = sealed.clone();
        assert_eq!(key.open_in_place(&mut buffer).unwrap(), RESTIC_PLAINTEXT);
    }

    #[test]
    fn restic_test_vector_fails_with_another_key() {
        let sealed = hex(RESTIC_CIPHERTEXT);
        for part in 0..3 {
            let mut encrypt: [u8; 32] = restic_test_key().encrypt;
            let mut mac_k = restic_test_key().mac_k;
            let mut mac_r = restic_test_key().mac_r;
            match part {
                0 => encrypt[0] ^= 1,
                1 => mac_k[0] ^= 1,
                _ => mac_r[0] ^= 1,
            }
            let key = MasterKey::from_parts(encrypt, mac_k, mac_r);
            let result = key.open(&sealed);
            if part == 0 {
                // A wrong encryption key is not detectable by the MAC (restic's scheme is
                // encrypt-then-MAC with independent keys): the MAC passes, the plaintext differs.
                assert_ne!(result.unwrap(), RESTIC_PLAINTEXT);
            } else {
                assert!(
                    matches!(result, Err(CryptoError::MacMismatch)),
                    "part {part}"
                );
            }
        }
    }

    #[test]
    fn reseal_with_known_iv_reproduces_restic_bytes() {
        // Seal with the IV restic used and compare every byte: proves the CTR counter layout
        // and the MAC construction, not just that we can read.
        let key = restic_test_key();
        let expected = hex(RESTIC_CIPHERTEXT);
        let iv: [u8; IV_LEN] = expected[..IV_LEN].try_into().unwrap();
        let mut out = iv.to_vec();
        let start = out.len();
        out.extend_from_slice(RESTIC_PLAINTEXT);
        key.keystream(&iv).apply_keystream(&mut out[start..]);
        let tag = mac::compute(&key.mac_cipher, &key.mac_r, &iv, &out[start..]);
        out.extend_from_slice(&tag);
        assert_eq!(out, expected);
    }

    #[test]
    fn counter_carries_across_all_128_bits() {
        // An IV of all 0xff except the first byte: the second block's counter must carry into
        // byte 0 (a 64-bit counter, as in some CTR variants, would wrap instead).
        let key = MasterKey::generate();
        let mut iv = [0xffu8; IV_LEN];
        iv[0] = 0x01;
        let mut keystream = [0u8; 32];
        key.keystream(&iv).apply_keystream(&mut keystream);
        let mut next_iv = [0u8; IV_LEN];
        next_iv[0] = 0x02;
        let mut second_block = [0u8; 16];
        key.keystream(&next_iv).apply_keystream(&mut second_block);
        assert_eq!(keystream[16..], second_block);
    }

    #[test]
    fn seal_slicing_matches_one_pass() {
        // Lengths around the slice boundary: the sliced seal must equal a one-pass CTR + MAC.
        let key = MasterKey::generate();
        for len in [
            0,
            1,
            15,
            16,
            17,
            SEAL_SLICE_LEN - 1,
            SEAL_SLICE_LEN,
            SEAL_SLICE_LEN + 17,
            3 * SEAL_SLICE_LEN + 5,
        ] {
            let plaintext: Vec<u8> = (0..len).map(|index| (index % 251) as u8).collect();
            let sealed = key.seal(&plaintext);
            let iv: [u8; IV_LEN] = sealed[..IV_LEN].try_into().unwrap();
            let mut ciphertext = plaintext.clone();
            key.keystream(&iv).apply_keystream(&mut ciphertext);
            assert_eq!(sealed[IV_LEN..IV_LEN + len], ciphertext[..], "len {len}");
            let tag = mac::compute(&key.mac_cipher, &key.mac_r, &iv, &ciphertext);
            assert_eq!(sealed[IV_LEN + len..], tag, "len {len}");
        }
    }

    #[test]
    fn zero_iv_is_refused_even_when_authentic() {
        let key = MasterKey::generate();
        let iv = [0u8; IV_LEN];
        let mut sealed = iv.to_vec();
        sealed.extend_from_slice(b"data");
        key.keystream(&iv).apply_keystream(&mut sealed[IV_LEN..]);
        let tag = mac::compute(&key.mac_cipher, &key.mac_r, &iv, &sealed[IV_LEN..]);
        sealed.extend_from_slice(&tag);
        assert!(matches!(key.open(&sealed), Err(CryptoError::ZeroIv)));
    }

    #[test]
    fn seal_into_appends_after_existing_bytes() {
        let key = MasterKey::generate();
        let mut pack = b"previous blob".to_vec();
        key.seal_into(b"hello", &mut pack);
        assert_eq!(&pack[..13], b"previous blob");
        assert_eq!(pack.len(), 13 + 5 + OVERHEAD);
        assert_eq!(key.open(&pack[13..]).unwrap(), b"hello");
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let key = MasterKey::generate();
        assert_ne!(key.seal(b"same"), key.seal(b"same"));
    }

    #[test]
    fn can_be_shared_across_threads() {
        // The engine seals on a thread pool with one key behind an Arc.
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MasterKey>();
    }

    #[test]
    fn debug_hides_key_bytes() {
        let key = MasterKey::from_parts([0x41; 32], [0x42; 16], [0x43; 16]);
        let printed = format!("{key:?} {key:#?} {:?}", Some(&key));
        assert_eq!(format!("{key:?}"), "MasterKey(***)");
        for needle in ["65", "41", "66", "42", "67", "43", "AAAA", "QUFB"] {
            assert!(!printed.contains(needle), "{printed} contains {needle}");
        }
    }
}

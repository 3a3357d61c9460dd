//! Poly1305-AES, the MAC of every encrypted object (restic's `poly1305MAC`).
//!
//! For an object with IV `n` and MAC key `(k, r)`, the one-time Poly1305 key is
//! `r || AES-128_k(n)`: `r` is the polynomial key (the Poly1305 implementation clamps it, as Go's
//! does) and the AES block is the additive key `s`. The MAC covers the ciphertext only, not the
//! IV; the IV is bound through `s`, because a different IV gives a different `s`.
//!
//! Invariant: the one-time key is built in a zeroized buffer and never outlives the MAC state,
//! and Poly1305's own state is wiped on drop (the `zeroize` feature of `poly1305`).
//!
//! Speed: the `poly1305` crate picks its AVX2 backend at run time (`cpufeatures`), no build
//! flag needed. That backend processes four blocks at a time only when fed through
//! `UniversalHash::update`; `Poly1305::compute_unpadded` goes block by block, so
//! [`Authenticator`] feeds whole blocks through `update_padded` (with lengths that are multiples
//! of 16 the padding never applies) and leaves only the final partial block to
//! `compute_unpadded`.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt};
use aes::Aes128Enc;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::Poly1305;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{IV_LEN, MAC_LEN};

/// Poly1305 works on 16-byte blocks.
pub(crate) const BLOCK_LEN: usize = 16;

/// Clears the bits of `r` that Poly1305 ignores (Bernstein's mask: top four bits of bytes 3, 7,
/// 11, 15, bottom two bits of bytes 4, 8, 12).
///
/// The MAC is the same with or without it, since Poly1305 clamps `r` itself; restic 0.14 masks
/// `r` whenever it builds a MAC key (`maskKey`), so keys it writes, and what `restic cat
/// masterkey` prints, carry the masked value. Masking on construction makes our JSON match.
pub(crate) fn clamp_r(mut r: [u8; 16]) -> [u8; 16] {
    for index in [3, 7, 11, 15] {
        r[index] &= 0x0f;
    }
    for index in [4, 8, 12] {
        r[index] &= 0xfc;
    }
    r
}

/// A running Poly1305-AES computation for one IV.
pub(crate) struct Authenticator {
    poly: Poly1305,
}

impl Authenticator {
    /// Starts the MAC of an object sealed under `iv`, with MAC key (`mac_cipher` = AES-128 keyed
    /// with k, `mac_r` = r).
    pub(crate) fn new(
        mac_cipher: &Aes128Enc,
        mac_r: &[u8; 16],
        iv: &[u8; IV_LEN],
    ) -> Authenticator {
        let mut one_time_key = Zeroizing::new([0u8; 32]);
        let (r, s) = one_time_key.split_at_mut(16);
        r.copy_from_slice(mac_r);
        mac_cipher.encrypt_block_b2b(
            GenericArray::from_slice(iv),
            GenericArray::from_mut_slice(s),
        );
        Authenticator {
            poly: Poly1305::new(GenericArray::from_slice(&one_time_key[..])),
        }
    }

    /// Feeds whole blocks. `blocks.len()` must be a multiple of 16: a partial block may only come
    /// last, through [`Authenticator::finish`], because Poly1305 pads it differently.
    pub(crate) fn update_blocks(&mut self, blocks: &[u8]) {
        debug_assert_eq!(
            blocks.len() % BLOCK_LEN,
            0,
            "partial block fed before the end"
        );
        self.poly.update_padded(blocks);
    }

    /// Feeds the last bytes of the message (any length, usually < 16) and returns the tag.
    pub(crate) fn finish(self, tail: &[u8]) -> [u8; MAC_LEN] {
        let full_len = tail.len() / BLOCK_LEN * BLOCK_LEN;
        let mut poly = self.poly;
        poly.update_padded(&tail[..full_len]);
        poly.compute_unpadded(&tail[full_len..]).into()
    }
}

/// The Poly1305-AES tag of `message` under IV `iv`.
pub(crate) fn compute(
    mac_cipher: &Aes128Enc,
    mac_r: &[u8; 16],
    iv: &[u8; IV_LEN],
    message: &[u8],
) -> [u8; MAC_LEN] {
    Authenticator::new(mac_cipher, mac_r, iv).finish(message)
}

/// Whether `expected` is the tag of `message`, compared in constant time so that the time taken
/// says nothing about how many tag bytes matched.
pub(crate) fn verify(
    mac_cipher: &Aes128Enc,
    mac_r: &[u8; 16],
    iv: &[u8; IV_LEN],
    message: &[u8],
    expected: &[u8; MAC_LEN],
) -> bool {
    compute(mac_cipher, mac_r, iv, message)
        .ct_eq(expected)
        .into()
}

#[cfg(test)]
mod tests {
    use aes::cipher::KeyInit as _;

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
            .collect()
    }

    struct Vector {
        message: &'static str,
        r: &'static str,
        k: &'static str,
        nonce: &'static str,
        mac: &'static str,
    }

    /// The Poly1305-AES examples of Bernstein's paper (cr.yp.to/mac/poly1305-20050329.pdf,
    /// appendix B), which restic tests its `poly1305MAC` with (`crypto_int_test.go`).
    const VECTORS: [Vector; 4] = [
        Vector {
            message: "f3f6",
            r: "851fc40c3467ac0be05cc20404f3f700",
            k: "ec074c835580741701425b623235add6",
            nonce: "fb447350c4e868c52ac3275cf9d4327e",
            mac: "f4c633c3044fc145f84f335cb81953de",
        },
        Vector {
            message: "",
            r: "a0f3080000f46400d0c7e9076c834403",
            k: "75deaa25c09f208e1dc4ce6b5cad3fbf",
            nonce: "61ee09218d29b0aaed7e154a2c5509cc",
            mac: "dd3fab2251f11ac759f0887129cc2ee7",
        },
        Vector {
            message: "663cea190ffb83d89593f3f476b6bc24d7e679107ea26adb8caf6652d0656136",
            r: "48443d0bb0d21109c89a100b5ce2c208",
            k: "6acb5f61a7176dd320c5c1eb2edcdc74",
            nonce: "ae212a55399729595dea458bc621ff0e",
            mac: "0ee1c16bb73f0f4fd19881753c01cdbe",
        },
        Vector {
            message: "ab0812724a7f1e342742cbed374d94d136c6b8795d45b3819830f2c04491faf0990c62e48b8018b2c3e4a0fa3134cb67fa83e158c994d961c4cb21095c1bf9",
            r: "12976a08c4426d0ce8a82407c4f48207",
            k: "e1a5668a4d5b66a5f68cc5424ed5982d",
            nonce: "9ae831e743978d3a23527c7128149e3a",
            mac: "5154ad0d2cb26e01274fc51148491f1b",
        },
    ];

    #[test]
    fn matches_bernstein_poly1305_aes_examples() {
        for (index, vector) in VECTORS.iter().enumerate() {
            let mac_cipher = Aes128Enc::new_from_slice(&hex(vector.k)).unwrap();
            let r: [u8; 16] = hex(vector.r).try_into().unwrap();
            let nonce: [u8; 16] = hex(vector.nonce).try_into().unwrap();
            let expected: [u8; 16] = hex(vector.mac).try_into().unwrap();
            let message = hex(vector.message);
            assert_eq!(
                compute(&mac_cipher, &r, &nonce, &message),
                expected,
                "vector {index}"
            );
            assert!(
                verify(&mac_cipher, &r, &nonce, &message, &expected),
                "vector {index}"
            );
            let mut wrong = expected;
            wrong[15] ^= 1;
            assert!(
                !verify(&mac_cipher, &r, &nonce, &message, &wrong),
                "vector {index}"
            );
        }
    }

    #[test]
    fn clamping_r_does_not_change_the_mac() {
        let mac_cipher = Aes128Enc::new_from_slice(&[1u8; 16]).unwrap();
        let r = [0xffu8; 16];
        let clamped = clamp_r(r);
        assert_eq!(
            clamped,
            [
                0xff, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f, 0xfc, 0xff,
                0xff, 0x0f
            ]
        );
        let iv = [2u8; 16];
        assert_eq!(
            compute(&mac_cipher, &r, &iv, b"message"),
            compute(&mac_cipher, &clamped, &iv, b"message")
        );
    }

    #[test]
    fn streaming_in_pieces_matches_one_shot() {
        let mac_cipher = Aes128Enc::new_from_slice(&[7u8; 16]).unwrap();
        let r = [0x55u8; 16];
        let iv = [9u8; 16];
        let message: Vec<u8> = (0..1000u32).map(|value| (value * 31 % 251) as u8).collect();
        let one_shot = compute(&mac_cipher, &r, &iv, &message);
        // Piece sizes that are multiples of 16 but not of 64 exercise the AVX2 backend's
        // unaligned path.
        for piece_len in [16, 48, 64, 320] {
            let full_len = message.len() / BLOCK_LEN * BLOCK_LEN;
            let mut authenticator = Authenticator::new(&mac_cipher, &r, &iv);
            for piece in message[..full_len].chunks(piece_len) {
                authenticator.update_blocks(piece);
            }
            assert_eq!(
                authenticator.finish(&message[full_len..]),
                one_shot,
                "piece {piece_len}"
            );
        }
    }
}

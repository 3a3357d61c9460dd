//! Properties of sealed objects that must hold for every input: round trips, tamper detection,
//! truncation, and no panic on arbitrary bytes (all of it is untrusted: it comes from storage).

use cairn_crypto::{CryptoError, KdfParams, MasterKey, MEMORY_BYTES_MAX, OVERHEAD};
use proptest::prelude::*;

fn key() -> MasterKey {
    MasterKey::from_parts([0x5a; 32], [0xa5; 16], [0x3c; 16])
}

#[test]
fn every_single_byte_change_is_a_mac_mismatch() {
    let key = key();
    for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 200] {
        let plaintext: Vec<u8> = (0..len).map(|index| index as u8).collect();
        let sealed = key.seal(&plaintext);
        for position in 0..sealed.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut tampered = sealed.clone();
                tampered[position] ^= mask;
                let region = match position {
                    position if position < 16 => "IV",
                    position if position < 16 + len => "ciphertext",
                    _ => "MAC",
                };
                assert!(
                    matches!(key.open(&tampered), Err(CryptoError::MacMismatch)),
                    "len {len}, {region} byte {position}, mask {mask:#x}"
                );
                let before = tampered.clone();
                assert!(matches!(
                    key.open_in_place(&mut tampered),
                    Err(CryptoError::MacMismatch)
                ));
                assert_eq!(
                    tampered, before,
                    "a failed open_in_place must not touch the buffer"
                );
            }
        }
    }
}

#[test]
fn truncation_is_detected() {
    let key = key();
    let sealed = key.seal(b"a plaintext long enough to truncate in the ciphertext");
    for len in 0..sealed.len() {
        let result = key.open(&sealed[..len]);
        if len < OVERHEAD {
            assert!(
                matches!(result, Err(CryptoError::TooShort { len: reported }) if reported == len),
                "len {len}"
            );
        } else {
            assert!(matches!(result, Err(CryptoError::MacMismatch)), "len {len}");
        }
    }
}

#[test]
fn another_key_is_a_mac_mismatch() {
    let sealed = key().seal(b"secret");
    assert!(matches!(
        MasterKey::generate().open(&sealed),
        Err(CryptoError::MacMismatch)
    ));
}

proptest! {
    #[test]
    fn seal_then_open_round_trips(plaintext in proptest::collection::vec(any::<u8>(), 0..5000), prefix_len in 0usize..40) {
        let key = key();
        let sealed = key.seal(&plaintext);
        prop_assert_eq!(sealed.len(), plaintext.len() + OVERHEAD);
        prop_assert_eq!(&key.open(&sealed).unwrap(), &plaintext);

        let mut pack = vec![0xee; prefix_len];
        key.seal_into(&plaintext, &mut pack);
        prop_assert_eq!(&pack[..prefix_len], &vec![0xee; prefix_len][..]);
        let opened = key.open_in_place(&mut pack[prefix_len..]).unwrap();
        prop_assert_eq!(&opened[..], &plaintext[..]);
    }

    #[test]
    fn any_change_is_detected(
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let key = key();
        let mut sealed = key.seal(&plaintext);
        let position = position.index(sealed.len());
        sealed[position] ^= mask;
        prop_assert!(matches!(key.open(&sealed), Err(CryptoError::MacMismatch)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let key = key();
        let result = key.open(&bytes);
        let expected = matches!(result, Err(CryptoError::TooShort { .. }) | Err(CryptoError::MacMismatch));
        prop_assert!(expected, "{:?}", result);
        let mut buffer = bytes.clone();
        prop_assert!(key.open_in_place(&mut buffer).is_err());
        let _ = MasterKey::from_json(&bytes);
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(k in ".{0,40}", r in ".{0,40}", encrypt in ".{0,60}") {
        let json = serde_json::json!({"mac": {"k": k, "r": r}, "encrypt": encrypt}).to_string();
        if let Err(error) = MasterKey::from_json(json.as_bytes()) {
            let expected = matches!(error, CryptoError::InvalidKeyJson { .. });
            prop_assert!(expected, "{}", error);
        }
    }

    #[test]
    fn accepted_kdf_params_have_bounded_memory(n in any::<u64>(), log_n in 0u32..64, r in any::<u32>(), p in any::<u32>(), small in any::<bool>()) {
        // Half the cases use a power of two so that validation gets past the first check.
        let n = if small { 1u64 << log_n } else { n };
        let params = KdfParams { n, r: if small { r % 64 } else { r }, p: if small { p % 64 } else { p } };
        if params.validate().is_ok() {
            let memory = 128 * u128::from(params.r) * (u128::from(params.n) + u128::from(params.p));
            prop_assert!(memory <= u128::from(MEMORY_BYTES_MAX));
            prop_assert!(params.n.is_power_of_two() && params.n > 1 && params.r >= 1 && params.p >= 1);
        }
    }
}

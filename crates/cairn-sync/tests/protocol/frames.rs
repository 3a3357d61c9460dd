//! The frame decoder on every message kind and on garbage.

use cairn_sync::frame::{decode_plaintext, encode_plaintext, MESSAGE_VERSION};
use cairn_sync::{ByeReason, ChangeKind, JobChange, Message, Refusal};
use proptest::prelude::*;

use crate::common::{hello, incarnation, instance, job};

fn samples() -> Vec<Message> {
    vec![
        Message::Hello(hello(&instance(1))),
        Message::Heartbeat {
            seq: 3,
            sent_at_ms: 99,
            log_end: 0,
        },
        Message::OpsBatch {
            incarnation: incarnation(1),
            after: 4,
            changes: vec![
                JobChange {
                    seq: 5,
                    job_id: 1,
                    kind: ChangeKind::Upsert(job(1, "web", "main", "failed")),
                },
                JobChange {
                    seq: 6,
                    job_id: 2,
                    kind: ChangeKind::Tombstone {
                        plan: None,
                        repository: Some("main".into()),
                    },
                },
            ],
            upto: 6,
        },
        Message::ConfigAck {
            generation: 2,
            result: Err("plan web: bad schedule".into()),
        },
        Message::Refused {
            about: "Command".into(),
            reason: Refusal::Protocol("x".into()),
        },
        Message::Bye {
            reason: ByeReason::Replaced,
        },
    ]
}

#[test]
fn every_sample_round_trips_and_damage_is_an_error() {
    for message in samples() {
        let plaintext = encode_plaintext(&message).unwrap();
        assert_eq!(plaintext[0], MESSAGE_VERSION);
        assert_eq!(decode_plaintext(&plaintext).unwrap(), message);
        let mut other_version = plaintext.clone();
        other_version[0] = 2;
        assert!(decode_plaintext(&other_version)
            .unwrap_err()
            .to_string()
            .contains("message version 2"));
        let mut trailing = plaintext.clone();
        trailing.push(0);
        assert!(decode_plaintext(&trailing).is_err());
        for cut in 0..plaintext.len() {
            let _ = decode_plaintext(&plaintext[..cut]);
        }
    }
    assert!(decode_plaintext(&[]).is_err());
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut framed = vec![MESSAGE_VERSION];
        framed.extend_from_slice(&bytes);
        if let Ok(message) = decode_plaintext(&framed) {
            let again = encode_plaintext(&message).unwrap();
            prop_assert_eq!(decode_plaintext(&again).unwrap(), message);
        }
        cairn_sync::handshake::payload::decode_any_payload(&bytes);
        let _ = cairn_sync::PairingToken::parse(&String::from_utf8_lossy(&bytes));
    }
}

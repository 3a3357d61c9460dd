//! Pairing tokens of a multihost server: an id, a label, the grant (permissions and scopes as
//! the sync crate writes them), expiry, use counts, and `SHA-256("cairn-pairing-v1" ||
//! secret)`: the secret itself is shown once, inside the token, and never stored.
//!
//! Redeeming counts a use with one conditional `UPDATE` inside an immediate transaction, so
//! with max uses N exactly N of any number of concurrent pairings succeed.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::peers::{insert_or_replace_peer, NewPeer};
use crate::store::{from_millis, millis, StateStore};
use crate::users::immediate;
use crate::Result;

/// A token to record.
#[derive(Debug, Clone)]
pub struct NewPairingToken<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub secret_hash: &'a [u8; 32],
    /// Comma-separated permission names.
    pub permissions: &'a str,
    /// A JSON list of scope strings.
    pub scopes: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub max_uses: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredPairingToken {
    pub id: String,
    pub label: String,
    #[serde(skip)]
    pub secret_hash: Vec<u8>,
    pub permissions: String,
    pub scopes: String,
    #[serde(rename = "created")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "expires")]
    pub expires_at: DateTime<Utc>,
    pub max_uses: u32,
    pub uses: u32,
    #[serde(rename = "revoked")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a token was not redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemRefusal {
    Unknown,
    WrongSecret,
    Revoked,
    Expired,
    UsedUp,
}

const PAIRING_TOKEN_COLUMNS: &str = "SELECT id, label, secret_hash, permissions, scopes, \
    created_at, expires_at, max_uses, uses, revoked_at FROM pairing_tokens";

fn pairing_token_from_row(r: &Row<'_>) -> rusqlite::Result<StoredPairingToken> {
    Ok(StoredPairingToken {
        id: r.get(0)?,
        label: r.get(1)?,
        secret_hash: r.get(2)?,
        permissions: r.get(3)?,
        scopes: r.get(4)?,
        created_at: from_millis(r.get(5)?),
        expires_at: from_millis(r.get(6)?),
        max_uses: r.get(7)?,
        uses: r.get(8)?,
        revoked_at: r.get::<_, Option<i64>>(9)?.map(from_millis),
    })
}

impl StateStore {
    pub fn insert_pairing_token(&self, token: &NewPairingToken<'_>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO pairing_tokens (id, label, secret_hash, permissions, scopes, \
                 created_at, expires_at, max_uses) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    token.id,
                    token.label,
                    token.secret_hash.as_slice(),
                    token.permissions,
                    token.scopes,
                    millis(token.created_at),
                    millis(token.expires_at),
                    token.max_uses,
                ],
            )
        })
        .map(|_| ())
    }

    /// Every pairing token, newest first.
    pub fn pairing_tokens(&self) -> Result<Vec<StoredPairingToken>> {
        self.with(|c| {
            let mut query = c.prepare(&format!(
                "{PAIRING_TOKEN_COLUMNS} ORDER BY created_at DESC, id"
            ))?;
            let rows = query.query_map([], pairing_token_from_row)?;
            rows.collect()
        })
    }

    /// Revokes a token; false when there is none with that id or it was revoked already.
    pub fn revoke_pairing_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE pairing_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, millis(at)],
            )
        })
        .map(|n| n == 1)
    }

    /// Redeems token `id` for `peer`, all in one transaction: the token must exist, `verify`
    /// must accept its stored secret hash (the caller compares the proof in constant time),
    /// and one use is counted only while it is unrevoked, unexpired and not used up. The peer
    /// is then recorded (or re-paired) with the token's grant, which is returned.
    pub fn redeem_pairing_token(
        &self,
        id: &str,
        peer: &NewPeer<'_>,
        now: DateTime<Utc>,
        verify: impl FnOnce(&[u8]) -> bool,
    ) -> Result<std::result::Result<StoredPairingToken, RedeemRefusal>> {
        self.with(|c| {
            let transaction = immediate(c)?;
            let token = transaction
                .query_row(
                    &format!("{PAIRING_TOKEN_COLUMNS} WHERE id = ?1"),
                    params![id],
                    pairing_token_from_row,
                )
                .optional()?;
            let Some(token) = token else {
                return Ok(Err(RedeemRefusal::Unknown));
            };
            // The proof first: a client without the secret learns nothing about the token.
            if !verify(&token.secret_hash) {
                return Ok(Err(RedeemRefusal::WrongSecret));
            }
            let counted = transaction.execute(
                "UPDATE pairing_tokens SET uses = uses + 1 WHERE id = ?1 AND uses < max_uses \
                 AND revoked_at IS NULL AND expires_at > ?2",
                params![id, millis(now)],
            )?;
            if counted == 0 {
                let refusal = if token.revoked_at.is_some() {
                    RedeemRefusal::Revoked
                } else if token.expires_at <= now {
                    RedeemRefusal::Expired
                } else {
                    RedeemRefusal::UsedUp
                };
                return Ok(Err(refusal));
            }
            // A peer that brings no label of its own is named by the token's.
            let label = if peer.label.is_empty() {
                token.label.as_str()
            } else {
                peer.label
            };
            let peer = NewPeer {
                label,
                permissions: &token.permissions,
                scopes: &token.scopes,
                token: Some(id),
                ..peer.clone()
            };
            insert_or_replace_peer(&transaction, &peer)?;
            transaction.commit()?;
            Ok(Ok(token))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::PeerRole;
    use chrono::{Duration, TimeZone};
    use std::sync::{Arc, Barrier};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn token<'a>(id: &'a str, hash: &'a [u8; 32], max_uses: u32) -> NewPairingToken<'a> {
        NewPairingToken {
            id,
            label: "laptop",
            secret_hash: hash,
            permissions: "ops.read",
            scopes: "[\"*\"]",
            created_at: at(0),
            expires_at: at(0) + Duration::hours(1),
            max_uses,
        }
    }

    fn peer(id: &str) -> NewPeer<'_> {
        NewPeer {
            id,
            label: "client",
            permissions: "",
            scopes: "[]",
            role: PeerRole::Client,
            urls: None,
            fingerprint: None,
            token: None,
            paired_at: at(1),
        }
    }

    #[test]
    fn a_token_is_refused_for_each_reason_and_redeemed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let hash = [7u8; 32];
        store.insert_pairing_token(&token("t1", &hash, 1)).unwrap();
        let right = |stored: &[u8]| stored == hash;
        let refusal = |id: &str, now, verify: &dyn Fn(&[u8]) -> bool| {
            store
                .redeem_pairing_token(id, &peer("p"), now, verify)
                .unwrap()
                .unwrap_err()
        };
        assert_eq!(refusal("nope", at(1), &right), RedeemRefusal::Unknown);
        assert_eq!(refusal("t1", at(1), &|_| false), RedeemRefusal::WrongSecret);
        assert_eq!(refusal("t1", at(3600), &right), RedeemRefusal::Expired);
        let redeemed = store
            .redeem_pairing_token("t1", &peer("p"), at(1), right)
            .unwrap()
            .unwrap();
        assert_eq!(redeemed.permissions, "ops.read");
        assert_eq!(refusal("t1", at(2), &right), RedeemRefusal::UsedUp);
        let stored = store.peer("p").unwrap().unwrap();
        assert_eq!(
            (stored.permissions.as_str(), stored.token.as_deref()),
            ("ops.read", Some("t1"))
        );
        store.insert_pairing_token(&token("t2", &hash, 5)).unwrap();
        assert!(store.revoke_pairing_token("t2", at(2)).unwrap());
        assert_eq!(refusal("t2", at(3), &right), RedeemRefusal::Revoked);
        let listed = store.pairing_tokens().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(!serde_json::to_string(&listed).unwrap().contains("secret"));
    }

    #[test]
    fn max_uses_admits_exactly_that_many_of_twenty_concurrent_pairings() {
        let dir = tempfile::tempdir().unwrap();
        let hash = [3u8; 32];
        StateStore::open(dir.path())
            .unwrap()
            .insert_pairing_token(&token("many", &hash, 7))
            .unwrap();
        let barrier = Arc::new(Barrier::new(20));
        let threads: Vec<_> = (0..20)
            .map(|i| {
                let barrier = barrier.clone();
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    // One connection per thread, as separate processes would have.
                    let store = StateStore::open(&path).unwrap();
                    let id = format!("peer{i}");
                    barrier.wait();
                    store
                        .redeem_pairing_token("many", &peer(&id), at(5), |h| h == hash)
                        .unwrap()
                })
            })
            .collect();
        let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let admitted = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(admitted, 7, "{outcomes:?}");
        assert!(outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .all(|r| *r == RedeemRefusal::UsedUp));
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.pairing_tokens().unwrap()[0].uses, 7);
        assert_eq!(store.peers().unwrap().len(), 7);
    }
}

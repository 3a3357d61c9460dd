//! Multihost peers. On a server: the clients paired with its tokens (role `client`), their
//! grant (permissions and scopes as the sync crate writes them), when they were last seen,
//! and whether the pairing was revoked. On a client: the server it paired with (role
//! `server`), with the URLs to dial and the fingerprint its identity must match.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::store::{from_millis, millis, StateStore};
use crate::{Result, StateError};

/// What the other side of a pairing is to this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerRole {
    /// The server this client dials.
    Server,
    /// A client that dials this server.
    Client,
}

impl PeerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerRole::Server => "server",
            PeerRole::Client => "client",
        }
    }

    fn parse(text: &str) -> Result<PeerRole> {
        match text {
            "server" => Ok(PeerRole::Server),
            "client" => Ok(PeerRole::Client),
            other => Err(StateError::BadValue {
                column: "peers.role",
                value: other.into(),
            }),
        }
    }
}

/// A peer to record.
#[derive(Debug, Clone)]
pub struct NewPeer<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub permissions: &'a str,
    pub scopes: &'a str,
    pub role: PeerRole,
    /// A server's URLs, a JSON list.
    pub urls: Option<&'a str>,
    /// A server's identity fingerprint (SHA-256 of its ed25519 key).
    pub fingerprint: Option<&'a [u8]>,
    /// The pairing token's id (never its secret).
    pub token: Option<&'a str>,
    pub paired_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredPeer {
    pub id: String,
    #[serde(skip)]
    pub public_key: Option<Vec<u8>>,
    pub label: String,
    pub permissions: String,
    pub scopes: String,
    pub role: PeerRole,
    pub urls: Option<String>,
    #[serde(skip)]
    pub fingerprint: Option<Vec<u8>>,
    pub token: Option<String>,
    pub paired_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const PEER_COLUMNS: &str = "SELECT id, public_key, label, permissions, scopes, role, urls, \
    fingerprint, token, paired_at, last_seen, revoked_at FROM peers";

fn peer_from_row(r: &Row<'_>) -> rusqlite::Result<(StoredPeer, String)> {
    Ok((
        StoredPeer {
            id: r.get(0)?,
            public_key: r.get(1)?,
            label: r.get(2)?,
            permissions: r.get(3)?,
            scopes: r.get(4)?,
            role: PeerRole::Client,
            urls: r.get(6)?,
            fingerprint: r.get(7)?,
            token: r.get(8)?,
            paired_at: from_millis(r.get(9)?),
            last_seen: r.get::<_, Option<i64>>(10)?.map(from_millis),
            revoked_at: r.get::<_, Option<i64>>(11)?.map(from_millis),
        },
        r.get(5)?,
    ))
}

fn with_role((mut peer, role): (StoredPeer, String)) -> Result<StoredPeer> {
    peer.role = PeerRole::parse(&role)?;
    Ok(peer)
}

/// Records a peer, replacing an earlier pairing of the same instance (a re-pairing clears a
/// revocation: it took a new token).
pub(crate) fn insert_or_replace_peer(c: &Connection, peer: &NewPeer<'_>) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO peers (id, label, permissions, scopes, role, urls, fingerprint, token, \
         paired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (id) DO UPDATE SET label = excluded.label, \
         permissions = excluded.permissions, scopes = excluded.scopes, role = excluded.role, \
         urls = excluded.urls, fingerprint = excluded.fingerprint, token = excluded.token, \
         paired_at = excluded.paired_at, revoked_at = NULL",
        params![
            peer.id,
            peer.label,
            peer.permissions,
            peer.scopes,
            peer.role.as_str(),
            peer.urls,
            peer.fingerprint,
            peer.token,
            millis(peer.paired_at),
        ],
    )
    .map(|_| ())
}

impl StateStore {
    pub fn insert_peer(&self, peer: &NewPeer<'_>) -> Result<()> {
        self.with(|c| insert_or_replace_peer(c, peer))
    }

    pub fn peer(&self, id: &str) -> Result<Option<StoredPeer>> {
        self.with(|c| {
            c.query_row(
                &format!("{PEER_COLUMNS} WHERE id = ?1"),
                params![id],
                peer_from_row,
            )
            .optional()
        })?
        .map(with_role)
        .transpose()
    }

    /// Every peer, by label then id.
    pub fn peers(&self) -> Result<Vec<StoredPeer>> {
        self.with(|c| {
            let mut query = c.prepare(&format!("{PEER_COLUMNS} ORDER BY label, id"))?;
            let rows = query.query_map([], peer_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?
        .into_iter()
        .map(with_role)
        .collect()
    }

    /// The peer connected: its identity key (known from the handshake), its label (from its
    /// `Hello`), and the time.
    pub fn peer_seen(
        &self,
        id: &str,
        public_key: &[u8],
        label: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE peers SET public_key = ?2, label = COALESCE(?3, label), last_seen = ?4 \
                 WHERE id = ?1",
                params![id, public_key, label, millis(at)],
            )
        })
        .map(|_| ())
    }

    /// Revokes a peer; false when there is none with that id or it was revoked already.
    pub fn revoke_peer(&self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE peers SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, millis(at)],
            )
        })
        .map(|n| n == 1)
    }
}

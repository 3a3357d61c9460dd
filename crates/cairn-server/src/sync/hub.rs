//! [`Multihost`]: one instance's multihost state at run time — its identity, the state
//! database, the live sessions (server: one per client, by the [`SessionRegistry`]'s rule;
//! client: the one to its server) and what `cairn peer …` asks of them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_access::Scopes;
use cairn_state::{PeerRole, StateStore, StoredPairingToken};
use cairn_sync::job::SyncJob;
use cairn_sync::{
    ByeReason, CommandKind, Identity, InstanceId, PairingToken, PeerGrant, PeerPermission,
    SessionId, SessionRegistry, TokenId, TokenSecret,
};
use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::driver::Control;
use super::stores::{grant_columns, peer_grant};

/// The identity file under the state directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// What the daemon's config says about multihost.
#[derive(Debug, Clone, Default)]
pub struct MultihostSettings {
    pub state_dir: PathBuf,
    /// This instance's display name (its host name).
    pub label: String,
    /// The URLs clients dial (`[server] public_url`, else `listen`); empty when this
    /// instance serves no listener and so cannot be a server.
    pub server_urls: Vec<String>,
    /// `[multihost] server`: a pairing token to pair with at start when not paired yet.
    pub server_token: Option<String>,
    /// `[multihost] ca_file`: the certificate(s) to trust for the server's HTTPS, instead of
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The seed of the dialer's backoff jitter; `None` (the daemon) draws it from the OS.
    /// Tests fix it so that when each client dials again can be predicted.
    pub backoff_seed: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MultihostError {
    #[error("multihost identity: {0}")]
    Identity(#[from] cairn_sync::SyncError),
    #[error(transparent)]
    State(#[from] cairn_state::StateError),
    #[error("{0}")]
    Refused(String),
}

/// A live session, as `peer list` shows it and `peer revoke` ends it.
pub(crate) struct LivePeer {
    pub session: SessionId,
    pub rtt_ms: Option<u64>,
    pub lag: Option<u64>,
    pub control: mpsc::UnboundedSender<Control>,
}

/// A pairing the CLI asked for, with where to say how it went.
pub(crate) struct PairRequest {
    pub token: PairingToken,
    pub reply: oneshot::Sender<Result<PeerView, String>>,
}

/// One peer as `cairn peer list --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub id: String,
    pub label: String,
    pub role: PeerRole,
    pub permissions: Vec<String>,
    pub scopes: Scopes,
    /// `connected`, `disconnected` or `revoked`.
    pub state: &'static str,
    pub paired_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub rtt_ms: Option<u64>,
    /// Client side: its changes the server has not acknowledged yet.
    pub lag: Option<u64>,
}

/// A job of a client's history: the fields of `cairn jobs --json`, and the client's
/// incarnation it belongs to (job ids start again in a client restored from an old copy).
#[derive(Debug, Clone, Serialize)]
pub struct PeerJob {
    #[serde(flatten)]
    pub job: SyncJob,
    pub incarnation: String,
}

pub struct Multihost {
    pub(crate) identity: Identity,
    pub(crate) state: Arc<StateStore>,
    pub(crate) settings: MultihostSettings,
    pub(crate) registry: Mutex<SessionRegistry>,
    pub(crate) live: Mutex<BTreeMap<InstanceId, LivePeer>>,
    /// Wakes the dialer (a pairing was stored or revoked).
    pub(crate) dial_now: tokio::sync::Notify,
    pub(crate) pair_requests: tokio::sync::Mutex<mpsc::Receiver<PairRequest>>,
    /// The URLs tokens name (known once the listener is bound: `listen` may say port 0).
    server_urls: Mutex<Vec<String>>,
    pair_sender: mpsc::Sender<PairRequest>,
    started: Instant,
    /// The daemon, which runs what a server's commands ask for on this client.
    daemon: std::sync::OnceLock<Arc<cairn_jobs::daemon::Daemon>>,
}

impl std::fmt::Debug for Multihost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multihost")
            .field("instance", &self.identity.instance_id())
            .finish()
    }
}

impl Multihost {
    /// Loads (or makes) the identity and opens the state.
    pub fn open(settings: MultihostSettings) -> Result<Arc<Multihost>, MultihostError> {
        // The state first: it creates the directory (0700) the identity file goes into.
        let state = Arc::new(StateStore::open(&settings.state_dir)?);
        let identity =
            Identity::load_or_create(&settings.state_dir.join(IDENTITY_FILE), &mut OsRng)?;
        let (pair_sender, pair_receiver) = mpsc::channel(4);
        let server_urls = Mutex::new(settings.server_urls.clone());
        Ok(Arc::new(Multihost {
            identity,
            state,
            settings,
            registry: Mutex::new(SessionRegistry::new()),
            live: Mutex::new(BTreeMap::new()),
            dial_now: tokio::sync::Notify::new(),
            pair_requests: tokio::sync::Mutex::new(pair_receiver),
            server_urls,
            pair_sender,
            started: Instant::now(),
            daemon: std::sync::OnceLock::new(),
        }))
    }

    pub fn instance_id(&self) -> InstanceId {
        self.identity.instance_id()
    }

    /// Milliseconds on this process's monotonic clock (what sessions measure time by).
    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The daemon a server's commands run on (set once, at start).
    pub fn set_daemon(&self, daemon: Arc<cairn_jobs::daemon::Daemon>) {
        let _ = self.daemon.set(daemon);
    }

    pub(crate) fn daemon(&self) -> Option<&Arc<cairn_jobs::daemon::Daemon>> {
        self.daemon.get()
    }

    /// Server: sends `kind` to a connected client and waits (60 s at most) for its answer.
    pub async fn command(&self, id: &str, kind: CommandKind) -> Result<Vec<u8>, String> {
        let peer = InstanceId::try_from(id.to_string()).map_err(|e| e.to_string())?;
        let control = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&peer)
            .map(|live| live.control.clone());
        let Some(control) = control else {
            return Err(format!("peer {id} is not connected; see `cairn peer list`"));
        };
        let (answer, answered) = oneshot::channel();
        control
            .send(Control::Command(kind, answer))
            .map_err(|_| format!("the session with {id} just ended; try again"))?;
        match tokio::time::timeout(Duration::from_secs(60), answered).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(format!("the session with {id} ended before it answered")),
            Err(_) => Err(format!("peer {id} did not answer within 60 s")),
        }
    }

    /// The URLs tokens name, once the listener is bound.
    pub fn set_server_urls(&self, urls: Vec<String>) {
        *self.server_urls.lock().unwrap_or_else(|e| e.into_inner()) = urls;
    }

    /// Starts the client's dialer (it waits while there is no server to dial).
    pub fn start_dialer(self: &Arc<Multihost>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(super::dialer::run(self.clone()))
    }

    /// `peer token create`: a token for this server; only its hash is stored.
    pub fn create_token(
        &self,
        label: &str,
        ttl: Duration,
        max_uses: u32,
        grant: &PeerGrant,
    ) -> Result<String, MultihostError> {
        let server_urls = self
            .server_urls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if server_urls.is_empty() {
            return Err(MultihostError::Refused(
                "this instance serves no listener, so no client could reach it; set [server] listen (and public_url behind a proxy)".into(),
            ));
        }
        if grant.permissions.is_empty() {
            return Err(MultihostError::Refused(
                "a token needs at least one permission (--permissions ops.read,...)".into(),
            ));
        }
        let now = Utc::now();
        let expires_at = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .ok_or_else(|| MultihostError::Refused("--ttl is too long".into()))?;
        let token = PairingToken {
            server_urls,
            server_fingerprint: self.identity.public().fingerprint(),
            token_id: TokenId::generate(&mut OsRng),
            secret: TokenSecret::generate(&mut OsRng),
            expires_at,
        };
        let (permissions, scopes) = grant_columns(grant);
        self.state
            .insert_pairing_token(&cairn_state::NewPairingToken {
                id: token.token_id.as_str(),
                label,
                secret_hash: &token.secret.hash().0,
                permissions: &permissions,
                scopes: &scopes,
                created_at: now,
                expires_at,
                max_uses,
            })?;
        Ok(token.to_text())
    }

    pub fn tokens(&self) -> Result<Vec<StoredPairingToken>, MultihostError> {
        Ok(self.state.pairing_tokens()?)
    }

    /// Every peer with its live state.
    pub fn peers(&self) -> Result<Vec<PeerView>, MultihostError> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        self.state
            .peers()?
            .into_iter()
            .map(|peer| {
                let grant = peer_grant(&peer).map_err(|e| MultihostError::Refused(e.0))?;
                let session = InstanceId::try_from(peer.id.clone())
                    .ok()
                    .and_then(|id| live.get(&id));
                let state = if peer.revoked_at.is_some() {
                    "revoked"
                } else if session.is_some() {
                    "connected"
                } else {
                    "disconnected"
                };
                Ok(PeerView {
                    permissions: grant
                        .permissions
                        .iter()
                        .map(|p| p.as_str().to_string())
                        .collect(),
                    scopes: grant.scopes,
                    state,
                    rtt_ms: session.and_then(|s| s.rtt_ms),
                    lag: session.and_then(|s| s.lag),
                    id: peer.id,
                    label: peer.label,
                    role: peer.role,
                    paired_at: peer.paired_at,
                    last_seen: peer.last_seen,
                })
            })
            .collect()
    }

    /// `peer revoke`: the pairing ends and its live session with it (at once: the session's
    /// task is told, sends `Bye {Revoked}` and closes).
    pub fn revoke(&self, id: &str) -> Result<(), MultihostError> {
        let known = self.state.peer(id)?;
        if known.is_none() {
            return Err(MultihostError::Refused(format!(
                "no peer {id}; see `cairn peer list`"
            )));
        }
        if !self.state.revoke_peer(id, Utc::now())? {
            return Err(MultihostError::Refused(format!(
                "peer {id} is revoked already"
            )));
        }
        if let Ok(peer) = InstanceId::try_from(id.to_string()) {
            self.registry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .revoke(&peer);
            let live = self
                .live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&peer);
            if let Some(live) = live {
                let _ = live.control.send(Control::Close(ByeReason::Revoked));
            }
        }
        tracing::info!("peer {id} revoked");
        Ok(())
    }

    /// `peer jobs`: the operation history a client sent (every incarnation it had).
    pub fn peer_jobs(&self, id: &str) -> Result<Vec<PeerJob>, MultihostError> {
        let Some(peer) = self.state.peer(id)? else {
            return Err(MultihostError::Refused(format!(
                "no peer {id}; see `cairn peer list`"
            )));
        };
        let grant = peer_grant(&peer).map_err(|e| MultihostError::Refused(e.0))?;
        if peer.role != PeerRole::Client || !grant.has(PeerPermission::OpsRead) {
            return Err(MultihostError::Refused(format!(
                "peer {id} does not send its operation history here (it needs ops.read)"
            )));
        }
        let mut jobs: Vec<PeerJob> = self
            .state
            .replica_records(id)?
            .into_iter()
            .filter_map(|record| {
                let job = serde_json::from_str(&record.record).ok()?;
                Some(PeerJob {
                    job,
                    incarnation: record.incarnation,
                })
            })
            .collect();
        jobs.sort_by_key(|j| std::cmp::Reverse((j.job.created, j.job.id)));
        Ok(jobs)
    }

    /// `peer pair TOKEN`: the dialer pairs with the token's server; answers once the server
    /// admitted (or refused) this instance.
    pub async fn pair(&self, text: &str) -> Result<PeerView, String> {
        let token = PairingToken::parse(text).map_err(|e| e.to_string())?;
        // One server at a time: the dialer runs one session.
        let paired = self.state.peers().map_err(|e| e.to_string())?;
        if let Some(server) = paired
            .iter()
            .find(|p| p.role == PeerRole::Server && p.revoked_at.is_none())
        {
            return Err(format!(
                "this instance is paired with {} ({}) already; `cairn peer revoke {}` first",
                server.label, server.id, server.id
            ));
        }
        if token.is_expired(Utc::now()) {
            return Err(cairn_sync::PairingRefusal::Expired.to_string());
        }
        let (reply, answer) = oneshot::channel();
        self.pair_sender
            .send(PairRequest { token, reply })
            .await
            .map_err(|_| "the daemon's dialer is not running".to_string())?;
        self.dial_now.notify_one();
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err("the dialer stopped before the pairing finished".into()),
            Err(_) => {
                Err("the server did not answer within 30 s; check its URL and that it runs".into())
            }
        }
    }

    pub(crate) fn set_live(&self, peer: &InstanceId, live: LivePeer) -> Option<LivePeer> {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer.clone(), live)
    }

    pub(crate) fn update_live(
        &self,
        peer: &InstanceId,
        session: SessionId,
        f: impl FnOnce(&mut LivePeer),
    ) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = live.get_mut(peer).filter(|l| l.session == session) {
            f(entry);
        }
    }

    /// A session ended: it leaves the live table unless a newer one took its place.
    pub(crate) fn remove_live(&self, peer: &InstanceId, session: SessionId) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.get(peer).is_some_and(|l| l.session == session) {
            live.remove(peer);
        }
    }
}

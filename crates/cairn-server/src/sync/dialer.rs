//! The client's dialer: it dials its server's sync endpoint (from the `peers` row written at
//! pairing, or a pairing the CLI asks for, or `[multihost] server`), runs the session, and
//! dials again after the crate's full-jitter backoff. Refused as revoked or unknown, it
//! marks its pairing revoked and stops dialing until it pairs again.

use std::sync::Arc;
use std::time::Instant;

use cairn_sync::handshake::HANDSHAKE_DEADLINE;
use cairn_sync::identity::Fingerprint;
use cairn_sync::{
    Backoff, ByeReason, ClientHandshake, Connection, Hello, InstanceId, Message, PairingRefusal,
    PairingToken, PeerGrant, ServerExpectation, Session, SessionConfig, SessionEvent, SessionId,
};
use chrono::Utc;
use futures::FutureExt;
use rand::rngs::OsRng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::command::{run_command, LocalPlans};
use super::driver::{drive, Control, SessionHooks};
use super::endpoint::SYNC_PATH;
use super::hub::{LivePeer, Multihost, PeerView};
use super::socket::{FrameSocket, FRAME_LEN_MAX};
use super::stores::{grant_columns, peer_grant, StateChangeLog};

/// Whom to dial, and how to prove who we are.
struct Target {
    urls: Vec<String>,
    expectation: ServerExpectation,
    /// The grant stored at pairing (`None` when pairing now).
    grant: Option<PeerGrant>,
    reply: Option<oneshot::Sender<Result<PeerView, String>>>,
    /// The token is `[multihost] server`.
    from_config: bool,
}

/// How one dial ended.
enum DialEnd {
    /// The session ran (or the connection failed); dial again after the backoff.
    Again(String),
    /// The server refused this instance; dialing again cannot help.
    Refused(PairingRefusal),
}

pub(crate) async fn run(hub: Arc<Multihost>) {
    let mut backoff = match hub.settings.backoff_seed {
        Some(seed) => Backoff::new(seed),
        None => Backoff::from_rng(&mut OsRng),
    };
    // A refusal of the config's token is final (used up, expired, revoked); a failure to
    // reach the server is not, and the token is tried again after the backoff.
    let mut config_token_refused = false;
    loop {
        let target = match next_target(&hub, config_token_refused).await {
            Some(target) => target,
            None => continue,
        };
        // A wake-up from before this dial was for this target: left stored, it would cut
        // the backoff's first delay after the session ends, and every client paired in this
        // run would dial again at the same instant (a storm after a server restart).
        let _ = hub.dial_now.notified().now_or_never();
        let pairing = target.grant.is_none();
        let from_config = target.from_config;
        let started = Instant::now();
        match dial(&hub, target).await {
            DialEnd::Again(why) => tracing::info!("sync: session with the server ended: {why}"),
            DialEnd::Refused(refusal) => {
                tracing::error!("sync: the server refused this instance: {refusal}");
                if !pairing {
                    revoke_server_locally(&hub);
                }
                config_token_refused |= from_config;
                continue;
            }
        }
        backoff.session_ended(started.elapsed());
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = hub.dial_now.notified() => {}
        }
    }
}

/// A pairing the CLI asked for comes first, then the stored server, then the config's
/// token (unless the server refused it); with none of them, waits to be woken.
async fn next_target(hub: &Multihost, config_token_refused: bool) -> Option<Target> {
    let mut requests = hub.pair_requests.lock().await;
    if let Ok(request) = requests.try_recv() {
        return Some(pairing_target(request.token, Some(request.reply)));
    }
    match stored_server(hub) {
        Ok(Some(target)) => return Some(target),
        Ok(None) => {}
        Err(error) => tracing::error!("sync: cannot read the paired server: {error}"),
    }
    if let Some(text) = hub
        .settings
        .server_token
        .as_ref()
        .filter(|_| !config_token_refused)
    {
        match PairingToken::parse(text) {
            Ok(token) => {
                return Some(Target {
                    from_config: true,
                    ..pairing_target(token, None)
                })
            }
            Err(error) => tracing::error!("sync: [multihost] server: {error}"),
        }
    }
    tokio::select! {
        request = requests.recv() => request.map(|r| pairing_target(r.token, Some(r.reply))),
        _ = hub.dial_now.notified() => None,
    }
}

fn pairing_target(
    token: PairingToken,
    reply: Option<oneshot::Sender<Result<PeerView, String>>>,
) -> Target {
    Target {
        urls: token.server_urls.clone(),
        expectation: ServerExpectation::Token(token),
        grant: None,
        reply,
        from_config: false,
    }
}

fn stored_server(hub: &Multihost) -> Result<Option<Target>, String> {
    let peers = hub.state.peers().map_err(|e| e.to_string())?;
    let Some(server) = peers
        .into_iter()
        .find(|p| p.role == cairn_state::PeerRole::Server && p.revoked_at.is_none())
    else {
        return Ok(None);
    };
    let urls: Vec<String> =
        serde_json::from_str(server.urls.as_deref().unwrap_or("[]")).map_err(|e| e.to_string())?;
    let fingerprint: [u8; 32] = server
        .fingerprint
        .as_deref()
        .and_then(|f| f.try_into().ok())
        .ok_or("the paired server has no fingerprint")?;
    Ok(Some(Target {
        urls,
        expectation: ServerExpectation::Pinned(Fingerprint::from_bytes(fingerprint)),
        grant: Some(peer_grant(&server).map_err(|e| e.0)?),
        reply: None,
        from_config: false,
    }))
}

fn revoke_server_locally(hub: &Multihost) {
    if let Ok(peers) = hub.state.peers() {
        for server in peers
            .iter()
            .filter(|p| p.role == cairn_state::PeerRole::Server && p.revoked_at.is_none())
        {
            let _ = hub.state.revoke_peer(&server.id, Utc::now());
        }
    }
}

async fn dial(hub: &Arc<Multihost>, mut target: Target) -> DialEnd {
    let reply = target.reply.take();
    let mut hooks = ClientHooks {
        hub: hub.clone(),
        reply,
        pairing: match &target.expectation {
            ServerExpectation::Token(token) => Some(token.clone()),
            ServerExpectation::Pinned(_) => None,
        },
        server: None,
        server_key: None,
        session: SessionId(0),
        last_seq: 0,
        refused: None,
        control: None,
    };
    let end = dial_with(hub, target, &mut hooks).await;
    if let Some(reply) = hooks.reply.take() {
        let why = match &end {
            DialEnd::Again(why) => why.clone(),
            DialEnd::Refused(refusal) => refusal.to_string(),
        };
        let _ = reply.send(Err(why));
    }
    if let Some(server) = &hooks.server {
        hub.remove_live(server, hooks.session);
    }
    end
}

async fn dial_with(hub: &Arc<Multihost>, target: Target, hooks: &mut ClientHooks) -> DialEnd {
    let mut last_error = String::from("the token names no server URL");
    for url in &target.urls {
        let connected = tokio::time::timeout(
            HANDSHAKE_DEADLINE,
            connect_and_handshake(hub, url, target.expectation.clone()),
        )
        .await;
        let (mut socket, established) = match connected {
            Ok(Ok(done)) => done,
            Ok(Err(error)) => {
                last_error = format!("{url}: {error}");
                continue;
            }
            Err(_) => {
                last_error = format!(
                    "{url}: the handshake did not finish within {}s",
                    HANDSHAKE_DEADLINE.as_secs()
                );
                continue;
            }
        };
        let server = established.peer.instance_id();
        hooks.server = Some(server.clone());
        hooks.server_key = Some(established.peer.to_bytes());
        let log = match StateChangeLog::open(hub.state.clone()) {
            Ok(log) => log,
            Err(error) => return DialEnd::Again(format!("the change log: {error}")),
        };
        hooks.last_seq = hub.state.last_change_seq().unwrap_or(0);
        let hello = Hello {
            instance_id: hub.instance_id(),
            label: hub.settings.label.clone(),
            incarnation: None,
            capabilities: Vec::new(),
            grant: None,
        };
        let session = Session::client(
            SessionConfig::default(),
            hello,
            server.clone(),
            target.grant.clone(),
            Box::new(log),
            Box::new(LocalPlans::of(hub)),
            hub.now_ms(),
        );
        let mut connection = Connection::new(established.channel, session);
        let (control_sender, mut control) = mpsc::unbounded_channel();
        hooks.control = Some(control_sender);
        let ended = drive(&mut socket, &mut connection, hooks, &mut control, || {
            hub.now_ms()
        })
        .await;
        if let Some(refusal) = hooks.refused {
            return DialEnd::Refused(refusal);
        }
        return DialEnd::Again(match ended {
            Ok(()) => "closed".into(),
            Err(error) => error,
        });
    }
    DialEnd::Again(last_error)
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type ClientSocket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// TCP (and TLS for `https`), the WebSocket upgrade, then handshake messages 1 to 3.
async fn connect_and_handshake(
    hub: &Multihost,
    url: &str,
    expectation: ServerExpectation,
) -> Result<(ClientSocket, cairn_sync::Established), String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("not an http(s) URL".into());
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (host, port) = split_authority(authority, if tls { 443 } else { 80 })?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let stream: Box<dyn Io> = if tls {
        let connector = tokio_rustls::TlsConnector::from(tls_config(hub)?);
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("{host}: {e}"))?;
        Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?,
        )
    } else {
        Box::new(tcp)
    };
    let scheme = if tls { "wss" } else { "ws" };
    let ws_url = format!("{scheme}://{authority}{path}{SYNC_PATH}");
    let config = WebSocketConfig::default()
        .max_message_size(Some(FRAME_LEN_MAX))
        .max_frame_size(Some(FRAME_LEN_MAX));
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(ws_url, stream, Some(config))
        .await
        .map_err(|e| format!("WebSocket upgrade: {e}"))?;
    let (state, message1) = ClientHandshake::start(&hub.identity, expectation, &mut OsRng)
        .map_err(|e| e.to_string())?;
    socket.send_frame(message1).await?;
    let message2 = socket
        .recv_frame()
        .await
        .unwrap_or_else(|| Err("the server closed the connection".into()))?;
    let (message3, established) = state
        .finish(&hub.identity, &message2)
        .map_err(|e| e.to_string())?;
    socket.send_frame(message3).await?;
    Ok((socket, established))
}

fn split_authority(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || format!("{authority:?} is not host[:port]");
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad())?,
            None => default_port,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_string(), port.parse().map_err(|_| bad())?)),
        None => Ok((authority.to_string(), default_port)),
    }
}

/// The roots the server's certificate must chain to: `[multihost] ca_file`, else the
/// system's. (TLS only carries the stream; the Noise handshake authenticates the server.)
fn tls_config(hub: &Multihost) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match &hub.settings.ca_file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            for certificate in certificates {
                let certificate =
                    certificate.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                roots
                    .add(certificate)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            }
        }
        None => {
            for certificate in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(certificate);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

struct ClientHooks {
    hub: Arc<Multihost>,
    reply: Option<oneshot::Sender<Result<PeerView, String>>>,
    /// The token being redeemed (first contact), whose URLs and fingerprint are stored.
    pairing: Option<PairingToken>,
    server: Option<InstanceId>,
    server_key: Option<[u8; 32]>,
    session: SessionId,
    last_seq: u64,
    refused: Option<PairingRefusal>,
    control: Option<mpsc::UnboundedSender<Control>>,
}

impl ClientHooks {
    /// The server admitted us: on first contact, the pairing is stored now.
    fn admitted(&mut self, label: &str, connection: &Connection) -> Result<(), String> {
        let server = self.server.clone().ok_or("no server")?;
        if let Some(token) = self.pairing.take() {
            let (permissions, scopes) = grant_columns(connection.session().grant());
            let urls = serde_json::to_string(&token.server_urls).map_err(|e| e.to_string())?;
            self.hub
                .state
                .insert_peer(&cairn_state::NewPeer {
                    id: server.as_str(),
                    label,
                    permissions: &permissions,
                    scopes: &scopes,
                    role: cairn_state::PeerRole::Server,
                    urls: Some(&urls),
                    fingerprint: Some(token.server_fingerprint.as_bytes()),
                    token: Some(token.token_id.as_str()),
                    paired_at: Utc::now(),
                })
                .map_err(|e| e.to_string())?;
            tracing::info!("sync: paired with {server} ({label})");
        }
        if let Some(key) = self.server_key {
            self.hub
                .state
                .peer_seen(server.as_str(), &key, None, Utc::now())
                .map_err(|e| e.to_string())?;
        }
        if let Some(control) = &self.control {
            self.hub.set_live(
                &server,
                LivePeer {
                    session: self.session,
                    rtt_ms: None,
                    lag: None,
                    control: control.clone(),
                },
            );
        }
        Ok(())
    }
}

impl SessionHooks for ClientHooks {
    fn on_event(&mut self, event: SessionEvent, connection: &mut Connection) {
        match event {
            SessionEvent::PeerHello(hello) => {
                let outcome = self.admitted(&hello.label, connection);
                if let Err(error) = &outcome {
                    tracing::error!("sync: cannot record the server: {error}");
                    connection.session_mut().close(ByeReason::Shutdown);
                }
                if let Some(reply) = self.reply.take() {
                    let view = outcome.and_then(|()| {
                        let id = self.server.as_ref().map(|s| s.to_string());
                        self.hub
                            .peers()
                            .map_err(|e| e.to_string())?
                            .into_iter()
                            .find(|p| Some(&p.id) == id.as_ref())
                            .ok_or_else(|| "the pairing was not stored".to_string())
                    });
                    let _ = reply.send(view);
                }
                super::config::client_connected(&self.hub, connection);
            }
            SessionEvent::PairingRefused(refusal) => self.refused = Some(refusal),
            SessionEvent::Received(Message::Command(command)) => {
                // Authorized by the session against the grant and this client's own plans.
                // It runs off the session's task (opening a repository takes a while); the
                // answer comes back through the session's control channel.
                tracing::info!("sync: the server asks: {:?}", command.kind);
                let (Some(control), hub) = (self.control.clone(), self.hub.clone()) else {
                    return;
                };
                tokio::spawn(async move {
                    let ran = tokio::task::spawn_blocking(move || run_command(&hub, &command.kind));
                    let outcome = ran
                        .await
                        .unwrap_or_else(|e| Err(format!("the command stopped: {e}")));
                    if let Err(error) = &outcome {
                        tracing::warn!("sync: the server's command failed: {error}");
                    }
                    let _ = control.send(Control::Answer(command.id, outcome));
                });
            }
            SessionEvent::Received(
                message @ (Message::ConfigPush { .. } | Message::SharedRepositories { .. }),
            ) => {
                if let Some(control) = self.control.clone() {
                    let grant = connection.session().grant().clone();
                    super::config::client_received(self.hub.clone(), message, grant, control);
                }
            }
            SessionEvent::IncarnationBehind {
                server_high_water,
                last_seq,
            } => {
                tracing::warn!(
                    "sync: the server holds changes up to {server_high_water} of this state, which ends at {last_seq} (restored from an older copy?); starting a new history"
                );
                let fresh = cairn_sync::Incarnation::generate(&mut OsRng);
                if let Err(error) = self.hub.state.replace_sync_incarnation(fresh.as_str()) {
                    tracing::error!("sync: cannot start a new history: {error}");
                }
            }
            SessionEvent::RoundTrip { rtt_ms } => {
                if let Some(server) = &self.server {
                    self.hub
                        .update_live(server, self.session, |live| live.rtt_ms = Some(rtt_ms));
                }
            }
            SessionEvent::OpsAcknowledged { upto } => {
                let lag = self.last_seq.saturating_sub(upto);
                if let Some(server) = &self.server {
                    self.hub
                        .update_live(server, self.session, |live| live.lag = Some(lag));
                }
            }
            SessionEvent::RefusedInbound { message, reason } => {
                tracing::warn!("sync: refused {message} from the server: {reason}");
            }
            SessionEvent::RefusedByPeer { about, reason } => {
                tracing::warn!("sync: the server refused our {about}: {reason}");
            }
            SessionEvent::Closed { reason, by_peer } => {
                let by = if by_peer { "by the server" } else { "here" };
                tracing::info!("sync: session closed {by}: {reason:?}");
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, connection: &mut Connection) {
        // Jobs are written by the daemon and by `cairn run` alike: the log is the one place
        // that sees them all, so it is polled (one indexed MAX per tick).
        let Ok(last_seq) = self.hub.state.last_change_seq() else {
            return;
        };
        if last_seq > self.last_seq {
            self.last_seq = last_seq;
            if let Err(error) = connection.session_mut().changes_recorded() {
                tracing::warn!("sync: cannot send new changes: {error}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_authority;

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_authority("backup.example.com", 443).unwrap(),
            ("backup.example.com".into(), 443)
        );
        assert_eq!(
            split_authority("127.0.0.1:8470", 80).unwrap(),
            ("127.0.0.1".into(), 8470)
        );
        assert_eq!(
            split_authority("[::1]:8470", 80).unwrap(),
            ("::1".into(), 8470)
        );
        assert_eq!(split_authority("[::1]", 443).unwrap(), ("::1".into(), 443));
        assert!(split_authority("host:port", 80).is_err());
        assert!(split_authority("[::1", 80).is_err());
    }
}

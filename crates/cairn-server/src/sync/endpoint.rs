//! The server's sync endpoint: `GET /sync/v1`, a WebSocket on the server's listener, outside
//! the web application's sessions and CSRF checks (the Noise handshake authenticates both
//! sides). Per connection: the handshake within 10 s, admission (a token redeemed in one
//! transaction, or a known, unrevoked peer), then the session until it closes. A connection
//! becomes its peer's current session only once the client's `Hello` arrived, replacing
//! (and closing) the previous one.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use cairn_sync::handshake::HANDSHAKE_DEADLINE;
use cairn_sync::{
    admit, ByeReason, CommandKind, Connection, Hello, InstanceId, PublicIdentity, ServerHandshake,
    Session, SessionConfig, SessionEvent, SessionId,
};
use chrono::Utc;
use rand::rngs::OsRng;
use tokio::sync::{mpsc, oneshot};

use super::driver::{drive, Control, SessionHooks};
use super::hub::{LivePeer, Multihost};
use super::socket::{FrameSocket, FRAME_LEN_MAX};
use super::stores::{StatePairings, StateReplicas};

pub const SYNC_PATH: &str = "/sync/v1";

pub fn routes(hub: Arc<Multihost>) -> Router {
    Router::new().route(SYNC_PATH, get(upgrade)).with_state(hub)
}

async fn upgrade(State(hub): State<Arc<Multihost>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(FRAME_LEN_MAX)
        .max_frame_size(FRAME_LEN_MAX)
        .on_upgrade(move |socket| serve_peer(hub, socket))
}

async fn serve_peer(hub: Arc<Multihost>, mut socket: WebSocket) {
    let session = hub
        .registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .open();
    let established =
        match tokio::time::timeout(HANDSHAKE_DEADLINE, handshake(&hub, &mut socket)).await {
            Ok(Ok(Some(established))) => established,
            Ok(Ok(None)) => return,
            Ok(Err(error)) => {
                tracing::info!("sync handshake failed: {error}");
                return;
            }
            Err(_) => {
                tracing::info!(
                    "sync handshake did not finish within {}s; connection dropped",
                    HANDSHAKE_DEADLINE.as_secs()
                );
                return;
            }
        };
    let peer_key = established.peer;
    let peer = peer_key.instance_id();
    let mut channel = established.channel;
    // Redeeming writes in an immediate transaction: off the async threads.
    let admitted = {
        let mut pairings = StatePairings {
            state: hub.state.clone(),
        };
        let (peer, claim) = (peer.clone(), established.claim.clone());
        tokio::task::spawn_blocking(move || admit(&mut pairings, &peer, claim.as_ref(), Utc::now()))
            .await
    };
    let grant = match admitted {
        Ok(Ok(Ok(grant))) => grant,
        Ok(Ok(Err(refusal))) => {
            tracing::warn!("sync: refused {peer}: {refusal}");
            for message in Session::refusal(refusal) {
                match channel.seal(&message) {
                    Ok(frame) => {
                        if socket.send_frame(frame).await.is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            socket.close().await;
            return;
        }
        Ok(Err(error)) => {
            tracing::error!("sync: cannot decide on {peer}'s admission: {error}");
            socket.close().await;
            return;
        }
        Err(error) => {
            tracing::error!("sync: the admission of {peer} stopped: {error}");
            socket.close().await;
            return;
        }
    };
    let hello = Hello {
        instance_id: hub.instance_id(),
        label: hub.settings.label.clone(),
        incarnation: None,
        capabilities: Vec::new(),
        grant: None,
    };
    let replicas = StateReplicas {
        state: hub.state.clone(),
    };
    let server_session = Session::server(
        SessionConfig::default(),
        hello,
        peer.clone(),
        grant,
        Box::new(replicas),
        hub.now_ms(),
    );
    let mut connection = Connection::new(channel, server_session);
    let (control_sender, mut control) = mpsc::unbounded_channel();
    let mut hooks = ServerHooks {
        hub: hub.clone(),
        session,
        peer: peer.clone(),
        peer_key,
        control: control_sender,
        answers: BTreeMap::new(),
        shared_seen: None,
    };
    let ended = drive(
        &mut socket,
        &mut connection,
        &mut hooks,
        &mut control,
        || hub.now_ms(),
    )
    .await;
    if let Err(error) = ended {
        tracing::info!("sync session with {peer} ended: {error}");
    }
    hub.registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .closed(&peer, session);
    hub.remove_live(&peer, session);
}

/// Messages 1 to 3. `None`: no shared version (message 2 said so).
async fn handshake(
    hub: &Multihost,
    socket: &mut WebSocket,
) -> Result<Option<cairn_sync::Established>, String> {
    let message1 = receive(socket).await?;
    let (state, message2) = ServerHandshake::respond(&hub.identity, &message1, &mut OsRng)
        .map_err(|e| e.to_string())?;
    socket.send_frame(message2).await?;
    let Some(state) = state else {
        socket.close().await;
        return Ok(None);
    };
    let message3 = receive(socket).await?;
    state.finish(&message3).map(Some).map_err(|e| e.to_string())
}

async fn receive(socket: &mut WebSocket) -> Result<Vec<u8>, String> {
    socket
        .recv_frame()
        .await
        .unwrap_or_else(|| Err("the client closed the connection".into()))
}

struct ServerHooks {
    hub: Arc<Multihost>,
    session: SessionId,
    peer: InstanceId,
    peer_key: PublicIdentity,
    control: mpsc::UnboundedSender<Control>,
    /// Commands sent and not answered yet, by id.
    answers: BTreeMap<u64, oneshot::Sender<Result<Vec<u8>, String>>>,
    /// The server's config its shared repositories were last sent from.
    shared_seen: Option<Arc<cairn_config::Config>>,
}

impl SessionHooks for ServerHooks {
    fn on_event(&mut self, event: SessionEvent, connection: &mut Connection) {
        let peer = &self.peer;
        match event {
            SessionEvent::PeerHello(hello) => {
                // Authenticated: only now does this connection become the peer's session.
                let displaced = self
                    .hub
                    .registry
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .authenticated(peer, self.session);
                let previous = self.hub.set_live(
                    peer,
                    LivePeer {
                        session: self.session,
                        rtt_ms: None,
                        lag: None,
                        control: self.control.clone(),
                    },
                );
                if let Some(previous) = previous.filter(|p| Some(p.session) == displaced) {
                    let _ = previous.control.send(Control::Close(ByeReason::Replaced));
                }
                if let Err(error) = self.hub.state.peer_seen(
                    peer.as_str(),
                    &self.peer_key.to_bytes(),
                    None,
                    Utc::now(),
                ) {
                    tracing::error!("sync: cannot record {peer} as seen: {error}");
                }
                tracing::info!("sync: {peer} ({}) connected", hello.label);
                self.shared_seen = super::config::server_connected(&self.hub, peer, connection);
            }
            SessionEvent::Lag { changes } => {
                self.hub
                    .update_live(peer, self.session, |live| live.lag = Some(changes));
            }
            SessionEvent::RoundTrip { rtt_ms } => {
                self.hub
                    .update_live(peer, self.session, |live| live.rtt_ms = Some(rtt_ms));
                let _ = self.hub.state.peer_seen(
                    peer.as_str(),
                    &self.peer_key.to_bytes(),
                    None,
                    Utc::now(),
                );
            }
            SessionEvent::RefusedInbound { message, reason } => {
                tracing::warn!("sync: refused {message} from {peer}: {reason}");
            }
            SessionEvent::RefusedByPeer { about, reason } => {
                tracing::warn!("sync: {peer} refused our {about}: {reason}");
                // A refusal names no command id; the client judges commands in the order
                // they came, so it is the oldest one waiting.
                if about == "Command" {
                    if let Some((_, answer)) = self.answers.pop_first() {
                        let _ = answer.send(Err(format!("the peer refused: {reason}")));
                    }
                }
            }
            SessionEvent::OpsApplied {
                high_water,
                changes,
            } => {
                tracing::debug!("sync: {changes} changes from {peer}, high water {high_water}");
            }
            SessionEvent::CommandAnswered { id, outcome } => {
                if let Some(answer) = self.answers.remove(&id) {
                    let _ = answer.send(outcome);
                }
            }
            SessionEvent::Received(message) => {
                super::config::server_received(&self.hub, peer, message);
            }
            SessionEvent::Closed { reason, by_peer } => {
                let by = if by_peer { "by the peer" } else { "here" };
                tracing::info!("sync: session with {peer} closed {by}: {reason:?}");
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, connection: &mut Connection) {
        super::config::server_tick(&self.hub, &self.peer, &mut self.shared_seen, connection);
    }

    fn on_command(
        &mut self,
        kind: CommandKind,
        answer: oneshot::Sender<Result<Vec<u8>, String>>,
        connection: &mut Connection,
    ) {
        match connection.session_mut().send_command(kind) {
            Ok(id) => {
                self.answers.insert(id, answer);
            }
            Err(refusal) => {
                let _ = answer.send(Err(refusal.to_string()));
            }
        }
    }
}

//! One session after the handshake, sans-I/O: the caller feeds inbound messages
//! ([`Session::handle_message`]) and the time ([`Session::tick`]), and drains what to send
//! ([`Session::poll_message`]) and what happened ([`Session::poll_event`]).
//! [`crate::Connection`] adds the encrypted channel (frames in, frames out).
//!
//! Life of a session:
//! 1. Both sides send `Hello` first (the server only after admitting the client; a refused
//!    client gets `Refused {Pairing(..)}` and `Bye` instead). Until the peer's `Hello`
//!    arrives, anything but `Hello`, `Bye` and (at the client) that refusal is a protocol
//!    error.
//! 2. The server, on the client's `Hello` (instance id = handshake identity), registers the
//!    session ([`crate::SessionRegistry`]) and, with `ops.read`, sends `OpsSince`.
//! 3. Reconciliation runs ([`crate::reconcile`]); config, shared repositories and commands
//!    flow as the callers send them; every inbound message passes
//!    [`crate::authorize`](mod@crate::authorize).
//! 4. Heartbeats every 20 s from each side; 3 intervals without any inbound message and the
//!    session is dead (`Bye {Timeout}`, `Closed`).

use std::collections::{BTreeSet, VecDeque};

use crate::authorize::{authorize, LocalResources, Side};
use crate::chunk::{split_result, Assembler};
use crate::error::{StoreError, SyncError};
use crate::identity::InstanceId;
use crate::message::{ByeReason, Command, CommandKind, Hello, Message, Refusal};
use crate::permission::{PeerGrant, PeerPermission};
use crate::reconcile::{ChangeLog, ClientSync, ReplicaStore, SendLimits, ServerSync};
use crate::token::PairingRefusal;

#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    pub heartbeat_interval_ms: u64,
    /// Intervals without any inbound message after which the peer counts as dead.
    pub missed_heartbeats_max: u32,
    pub send_limits: SendLimits,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            heartbeat_interval_ms: 20_000,
            missed_heartbeats_max: 3,
            send_limits: SendLimits::default(),
        }
    }
}

/// What the caller learns from a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The peer's `Hello` arrived and names the handshake's identity. On the server this is
    /// the moment to register the session (it is authenticated).
    PeerHello(Hello),
    /// Client: the server announced a grant different from the one stored at pairing. The
    /// stored one stays in force; the caller logs this (or stores the new one on first
    /// pairing, where nothing was stored).
    GrantAnnounced(PeerGrant),
    /// A heartbeat's round trip.
    RoundTrip { rtt_ms: u64 },
    /// An inbound message was refused (`Refused` went back); the caller logs it.
    RefusedInbound {
        message: &'static str,
        reason: Refusal,
    },
    /// The peer refused one of ours.
    RefusedByPeer { about: String, reason: Refusal },
    /// Client: the server refused the pairing or admission; the session closes.
    PairingRefused(PairingRefusal),
    /// Client: the server holds changes up to `server_high_water` of this incarnation but the
    /// log's last seq is `last_seq`: the client's state went back in time (restored from an
    /// older copy). The session closes; the caller starts a new incarnation and dials again.
    IncarnationBehind {
        server_high_water: u64,
        last_seq: u64,
    },
    /// Server: a batch was applied.
    OpsApplied { high_water: u64, changes: usize },
    /// Server: the client's changes not yet in the replica, as of its last heartbeat (its
    /// log's end) and the replica's high-water mark.
    Lag { changes: u64 },
    /// Client: the server holds everything up to `upto`.
    OpsAcknowledged { upto: u64 },
    /// An authorized message for the caller to act on: `ConfigPush`, `ConfigAck`,
    /// `ConfigReport`, `SharedRepositories`, `Command`.
    Received(Message),
    /// Server: the whole answer to a command.
    CommandAnswered {
        id: u64,
        outcome: Result<Vec<u8>, String>,
    },
    /// The session is over; after draining [`Session::poll_message`] close the transport.
    Closed { reason: ByeReason, by_peer: bool },
}

enum Role {
    Client {
        log: Box<dyn ChangeLog + Send>,
        local: Box<dyn LocalResources + Send>,
        sync: ClientSync,
        /// Whether the grant came from the caller (stored at pairing).
        grant_stored: bool,
    },
    Server {
        replica: Box<dyn ReplicaStore + Send>,
        sync: Option<ServerSync>,
        commands_pending: BTreeSet<u64>,
        next_command_id: u64,
        answers: Assembler,
    },
}

pub struct Session {
    role: Role,
    config: SessionConfig,
    grant: PeerGrant,
    peer: InstanceId,
    peer_hello: bool,
    outgoing: VecDeque<Message>,
    events: VecDeque<SessionEvent>,
    last_received_ms: u64,
    next_heartbeat_ms: u64,
    heartbeat_seq: u64,
    last_rtt_ms: Option<u64>,
    /// Server: the client's change-log end from its last heartbeat.
    peer_log_end: Option<u64>,
    closed: bool,
}

impl Session {
    /// A client session, right after the handshake. `grant` is the one stored when pairing
    /// succeeded (`None` on the first connection, when the server's `Hello` brings it).
    pub fn client(
        config: SessionConfig,
        hello: Hello,
        server: InstanceId,
        grant: Option<PeerGrant>,
        log: Box<dyn ChangeLog + Send>,
        local: Box<dyn LocalResources + Send>,
        now_ms: u64,
    ) -> Session {
        let sync = ClientSync::new(log.incarnation(), config.send_limits);
        let grant_stored = grant.is_some();
        let hello = Hello {
            incarnation: Some(log.incarnation()),
            grant: None,
            ..hello
        };
        Session::new(
            Role::Client {
                log,
                local,
                sync,
                grant_stored,
            },
            config,
            grant.unwrap_or_default(),
            server,
            hello,
            now_ms,
        )
    }

    /// A server session for an admitted client (see [`crate::admit`]).
    pub fn server(
        config: SessionConfig,
        hello: Hello,
        client: InstanceId,
        grant: PeerGrant,
        replica: Box<dyn ReplicaStore + Send>,
        now_ms: u64,
    ) -> Session {
        let hello = Hello {
            incarnation: None,
            grant: Some(grant.clone()),
            ..hello
        };
        Session::new(
            Role::Server {
                replica,
                sync: None,
                commands_pending: BTreeSet::new(),
                next_command_id: 1,
                answers: Assembler::default(),
            },
            config,
            grant,
            client,
            hello,
            now_ms,
        )
    }

    fn new(
        role: Role,
        config: SessionConfig,
        grant: PeerGrant,
        peer: InstanceId,
        hello: Hello,
        now_ms: u64,
    ) -> Session {
        Session {
            role,
            config,
            grant,
            peer,
            peer_hello: false,
            outgoing: VecDeque::from([Message::Hello(hello)]),
            events: VecDeque::new(),
            last_received_ms: now_ms,
            next_heartbeat_ms: now_ms + config.heartbeat_interval_ms,
            heartbeat_seq: 0,
            last_rtt_ms: None,
            peer_log_end: None,
            closed: false,
        }
    }

    /// What the server tells a client it does not admit: send these, then close.
    pub fn refusal(reason: PairingRefusal) -> [Message; 2] {
        [
            Message::Refused {
                about: "pairing".into(),
                reason: Refusal::Pairing(reason),
            },
            Message::Bye {
                reason: ByeReason::Refused,
            },
        ]
    }

    pub fn peer(&self) -> &InstanceId {
        &self.peer
    }

    pub fn grant(&self) -> &PeerGrant {
        &self.grant
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn last_rtt_ms(&self) -> Option<u64> {
        self.last_rtt_ms
    }

    /// Client: changes sent in this session.
    pub fn changes_sent(&self) -> u64 {
        match &self.role {
            Role::Client { sync, .. } => sync.changes_sent,
            Role::Server { .. } => 0,
        }
    }

    pub fn poll_message(&mut self) -> Option<Message> {
        self.outgoing.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    fn side(&self) -> Side {
        match self.role {
            Role::Client { .. } => Side::Client,
            Role::Server { .. } => Side::Server,
        }
    }

    /// Ends the session from this side: `Bye` is queued and `Closed` reported.
    pub fn close(&mut self, reason: ByeReason) {
        if self.closed {
            return;
        }
        self.outgoing.push_back(Message::Bye { reason });
        self.closed = true;
        self.events.push_back(SessionEvent::Closed {
            reason,
            by_peer: false,
        });
    }

    fn refuse(&mut self, message: &Message, reason: Refusal) {
        self.outgoing.push_back(Message::Refused {
            about: message.name().to_string(),
            reason: reason.clone(),
        });
        self.events.push_back(SessionEvent::RefusedInbound {
            message: message.name(),
            reason,
        });
    }

    /// Time passes: heartbeats, the dead-peer check, stalled batches.
    pub fn tick(&mut self, now_ms: u64) -> Result<(), SyncError> {
        if self.closed {
            return Ok(());
        }
        let dead_after =
            self.config.heartbeat_interval_ms * u64::from(self.config.missed_heartbeats_max);
        if now_ms.saturating_sub(self.last_received_ms) >= dead_after {
            self.close(ByeReason::Timeout);
            return Ok(());
        }
        if now_ms >= self.next_heartbeat_ms {
            self.heartbeat_seq += 1;
            let log_end = match &self.role {
                Role::Client { log, .. } => log.last_seq()?,
                Role::Server { .. } => 0,
            };
            self.outgoing.push_back(Message::Heartbeat {
                seq: self.heartbeat_seq,
                sent_at_ms: now_ms,
                log_end,
            });
            self.next_heartbeat_ms = now_ms + self.config.heartbeat_interval_ms;
        }
        if let Role::Client { log, sync, .. } = &mut self.role {
            let out = sync.on_tick(now_ms, log.as_ref(), &self.grant);
            self.send_all(out)?;
        }
        Ok(())
    }

    fn send_all(&mut self, messages: Result<Vec<Message>, StoreError>) -> Result<(), SyncError> {
        match messages {
            Ok(messages) => {
                self.outgoing.extend(messages);
                Ok(())
            }
            Err(error) => {
                self.close(ByeReason::Shutdown);
                Err(error.into())
            }
        }
    }

    /// Client: the change log grew; sends what the window allows.
    pub fn changes_recorded(&mut self) -> Result<(), SyncError> {
        if self.closed {
            return Ok(());
        }
        if let Role::Client { log, sync, .. } = &mut self.role {
            let out = sync.on_local_change(log.as_ref(), &self.grant);
            self.send_all(out)?;
        }
        Ok(())
    }

    /// Server: sends a command; its id comes back in `CommandAnswered`. Refused here when
    /// the grant lacks the command's permission or scope (the client checks again).
    pub fn send_command(&mut self, kind: CommandKind) -> Result<u64, Refusal> {
        let Role::Server {
            commands_pending,
            next_command_id,
            ..
        } = &mut self.role
        else {
            return Err(Refusal::Protocol("only a server sends commands".into()));
        };
        let id = *next_command_id;
        let job_command = matches!(
            kind,
            CommandKind::CancelJob { .. } | CommandKind::FetchLog { .. }
        );
        let permission = kind.permission();
        let message = Message::Command(Command { id, kind });
        if job_command {
            // Which plan and repository a client's job belongs to, only the client knows
            // (it judges the scope by its own record); here, the permission alone.
            if !self.grant.has(permission) {
                return Err(Refusal::NotPermitted {
                    permission,
                    resource: "this peer".into(),
                });
            }
        } else {
            authorize(
                Side::Client,
                &self.grant,
                &message,
                &crate::authorize::NoLocalResources,
            )?;
        }
        *next_command_id += 1;
        commands_pending.insert(id);
        self.outgoing.push_back(message);
        Ok(id)
    }

    /// Client: answers a command (split into chunks as needed).
    pub fn send_command_result(&mut self, id: u64, outcome: Result<Vec<u8>, String>) {
        for chunk in split_result(id, outcome) {
            self.outgoing.push_back(Message::CommandResult(chunk));
        }
    }

    /// Sends a caller-built message (`ConfigPush`, `ConfigAck`, `ConfigReport`,
    /// `SharedRepositories`) after checking the receiver would accept it under the grant.
    pub fn send(&mut self, message: Message) -> Result<(), Refusal> {
        let receiver = match self.side() {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let allowed = matches!(
            message,
            Message::ConfigPush { .. }
                | Message::ConfigAck { .. }
                | Message::ConfigReport { .. }
                | Message::SharedRepositories { .. }
        );
        if !allowed {
            return Err(Refusal::Protocol(format!(
                "{} is sent by the session itself",
                message.name()
            )));
        }
        authorize(
            receiver,
            &self.grant,
            &message,
            &crate::authorize::NoLocalResources,
        )?;
        self.outgoing.push_back(message);
        Ok(())
    }

    /// One inbound message (already opened from its frame).
    pub fn handle_message(&mut self, message: Message, now_ms: u64) -> Result<(), SyncError> {
        if self.closed {
            return Ok(());
        }
        self.last_received_ms = now_ms;
        if !self.peer_hello {
            return self.before_hello(message);
        }
        let side = self.side();
        let local: &dyn LocalResources = match &self.role {
            Role::Client { local, .. } => local.as_ref(),
            Role::Server { .. } => &crate::authorize::NoLocalResources,
        };
        if let Err(reason) = authorize(side, &self.grant, &message, local) {
            self.refuse(&message, reason);
            return Ok(());
        }
        match message {
            Message::Hello(_) => {
                let reason = Refusal::Protocol("a second Hello".into());
                self.refuse(&message, reason);
            }
            Message::Heartbeat {
                seq,
                sent_at_ms,
                log_end,
            } => {
                self.outgoing.push_back(Message::HeartbeatAck {
                    seq,
                    sent_at_ms,
                    rtt_ms: self.last_rtt_ms.unwrap_or(0),
                });
                if let Role::Server {
                    sync: Some(sync), ..
                } = &self.role
                {
                    self.peer_log_end = Some(log_end);
                    self.events.push_back(SessionEvent::Lag {
                        changes: log_end.saturating_sub(sync.high_water()),
                    });
                }
            }
            Message::HeartbeatAck { sent_at_ms, .. } => {
                if sent_at_ms <= now_ms {
                    let rtt_ms = now_ms - sent_at_ms;
                    self.last_rtt_ms = Some(rtt_ms);
                    self.events.push_back(SessionEvent::RoundTrip { rtt_ms });
                }
            }
            Message::Refused { about, reason } => {
                self.events
                    .push_back(SessionEvent::RefusedByPeer { about, reason });
            }
            Message::Bye { reason } => {
                self.closed = true;
                self.events.push_back(SessionEvent::Closed {
                    reason,
                    by_peer: true,
                });
            }
            other => self.handle_role_message(other, now_ms)?,
        }
        Ok(())
    }

    fn before_hello(&mut self, message: Message) -> Result<(), SyncError> {
        match message {
            Message::Hello(hello) => self.handle_hello(hello),
            Message::Refused {
                reason: Refusal::Pairing(reason),
                ..
            } if self.side() == Side::Client => {
                self.events.push_back(SessionEvent::PairingRefused(reason));
                self.closed = true;
                self.events.push_back(SessionEvent::Closed {
                    reason: ByeReason::Refused,
                    by_peer: true,
                });
                Ok(())
            }
            Message::Bye { reason } => {
                self.closed = true;
                self.events.push_back(SessionEvent::Closed {
                    reason,
                    by_peer: true,
                });
                Ok(())
            }
            other => {
                self.close(ByeReason::ProtocolError);
                Err(SyncError::protocol(format!(
                    "{} arrived before the peer's Hello",
                    other.name()
                )))
            }
        }
    }

    fn handle_hello(&mut self, hello: Hello) -> Result<(), SyncError> {
        if hello.instance_id != self.peer {
            self.close(ByeReason::ProtocolError);
            return Err(SyncError::Auth(format!(
                "the peer's Hello names {} but its key is {}",
                hello.instance_id, self.peer
            )));
        }
        self.peer_hello = true;
        match &mut self.role {
            Role::Client { grant_stored, .. } => {
                if let Some(announced) = &hello.grant {
                    if !*grant_stored {
                        self.grant = announced.clone();
                        *grant_stored = true;
                        self.events
                            .push_back(SessionEvent::GrantAnnounced(announced.clone()));
                    } else if *announced != self.grant {
                        self.events
                            .push_back(SessionEvent::GrantAnnounced(announced.clone()));
                    }
                }
                self.events.push_back(SessionEvent::PeerHello(hello));
            }
            Role::Server { replica, sync, .. } => {
                let Some(incarnation) = hello.incarnation.clone() else {
                    self.close(ByeReason::ProtocolError);
                    return Err(SyncError::protocol("the client's Hello has no incarnation"));
                };
                self.events.push_back(SessionEvent::PeerHello(hello));
                if self.grant.has(PeerPermission::OpsRead) {
                    match ServerSync::start(self.peer.clone(), incarnation, replica.as_ref()) {
                        Ok((state, since)) => {
                            *sync = Some(state);
                            self.outgoing.push_back(since);
                        }
                        Err(error) => {
                            self.close(ByeReason::Shutdown);
                            return Err(error.into());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn handle_role_message(&mut self, message: Message, now_ms: u64) -> Result<(), SyncError> {
        let grant = &self.grant;
        match (&mut self.role, message) {
            (
                Role::Client { log, sync, .. },
                Message::OpsSince {
                    incarnation,
                    high_water,
                },
            ) => {
                if incarnation != *sync.incarnation() {
                    let message = Message::OpsSince {
                        incarnation,
                        high_water,
                    };
                    self.refuse(
                        &message,
                        Refusal::Protocol("OpsSince for another incarnation".into()),
                    );
                    return Ok(());
                }
                let last_seq = match log.last_seq() {
                    Ok(last_seq) => last_seq,
                    Err(error) => return self.send_all(Err(error)),
                };
                if high_water > last_seq {
                    self.events.push_back(SessionEvent::IncarnationBehind {
                        server_high_water: high_water,
                        last_seq,
                    });
                    self.close(ByeReason::Shutdown);
                    return Ok(());
                }
                let out = sync.on_ops_since(high_water, now_ms, log.as_ref(), grant);
                self.send_all(out)
            }
            (Role::Client { log, sync, .. }, Message::OpsAck { incarnation, upto }) => {
                if incarnation != *sync.incarnation() {
                    return Ok(());
                }
                let out = sync.on_ops_ack(upto, now_ms, log.as_ref(), grant);
                self.events
                    .push_back(SessionEvent::OpsAcknowledged { upto });
                self.send_all(out)
            }
            (
                Role::Server { replica, sync, .. },
                Message::OpsBatch {
                    incarnation,
                    after,
                    changes,
                    upto,
                },
            ) => {
                let Some(state) = sync.as_mut().filter(|s| *s.incarnation() == incarnation) else {
                    let message = Message::OpsBatch {
                        incarnation,
                        after,
                        changes,
                        upto,
                    };
                    self.refuse(
                        &message,
                        Refusal::Protocol("OpsBatch for another incarnation".into()),
                    );
                    return Ok(());
                };
                match state.on_batch(after, &changes, upto, replica.as_mut()) {
                    Ok(answer) => {
                        if let Some(Message::OpsAck { upto, .. }) = &answer {
                            self.events.push_back(SessionEvent::OpsApplied {
                                high_water: *upto,
                                changes: changes.len(),
                            });
                            if let Some(log_end) = self.peer_log_end {
                                self.events.push_back(SessionEvent::Lag {
                                    changes: log_end.saturating_sub(*upto),
                                });
                            }
                        }
                        self.outgoing.extend(answer);
                        Ok(())
                    }
                    Err(error) => {
                        self.close(ByeReason::Shutdown);
                        Err(error.into())
                    }
                }
            }
            (
                Role::Server {
                    commands_pending,
                    answers,
                    ..
                },
                Message::CommandResult(result),
            ) => {
                if !commands_pending.contains(&result.id) {
                    let reason = Refusal::Protocol(format!("no command {} is pending", result.id));
                    self.refuse(&Message::CommandResult(result), reason);
                    return Ok(());
                }
                let id = result.id;
                match answers.push(result) {
                    Ok(Some((id, outcome))) => {
                        commands_pending.remove(&id);
                        self.events
                            .push_back(SessionEvent::CommandAnswered { id, outcome });
                    }
                    Ok(None) => {}
                    Err(reason) => {
                        commands_pending.remove(&id);
                        self.events.push_back(SessionEvent::RefusedInbound {
                            message: "CommandResult",
                            reason,
                        });
                    }
                }
                Ok(())
            }
            (_, message) => {
                self.events.push_back(SessionEvent::Received(message));
                Ok(())
            }
        }
    }
}

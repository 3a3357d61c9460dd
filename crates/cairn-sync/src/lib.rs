//! cairn's multihost protocol, sans-I/O: no sockets, no async runtime, no database. Time and
//! randomness are passed in; the persistent parts are traits the state crate implements.
//! The server's WebSocket endpoint and the client's dialer drive these state machines.
//!
//! # Layout
//! - [`identity`]: the ed25519 identity key file, instance ids and fingerprints.
//! - [`token`]: pairing tokens (text form), the secret's hash, the proof, refusal reasons,
//!   the [`PairingAuthority`] trait with [`admit`], and an in-memory reference.
//! - [`handshake`]: Noise `XXpsk3` with an ML-KEM-768 psk (hybrid), payloads byte by byte.
//! - [`channel`] and [`frame`]: sealed frames (nonce-ordered) and their plaintext encoding.
//! - [`message`] and [`job`]: every message of protocol version 1 and the job record.
//! - [`permission`] and [`authorize`](mod@authorize): peer permissions, grants, and the check
//!   of every inbound message.
//! - [`reconcile`]: the client's change log and the server's replicas, their state machines.
//! - [`session`] and [`connection`]: one session's life (hello, heartbeats, dispatch), and
//!   the session over its channel.
//! - [`chunk`]: command answers larger than a frame.
//! - [`backoff`] and [`registry`]: when a client dials again; which session is a peer's.

pub mod authorize;
pub mod backoff;
pub mod channel;
pub mod chunk;
pub mod connection;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod identity;
pub mod job;
pub mod message;
pub mod permission;
pub mod reconcile;
pub mod registry;
pub mod session;
pub mod token;

pub use authorize::{authorize, permitted_items, LocalResources, NoLocalResources, Side};
pub use backoff::Backoff;
pub use channel::Channel;
pub use connection::{Connection, Output};
pub use error::{ErrorKind, StoreError, SyncError};
pub use handshake::{ClientHandshake, Established, ServerExpectation, ServerHandshake};
pub use identity::{Fingerprint, Identity, InstanceId, PublicIdentity};
pub use job::{ChangeKind, JobChange, JobId, SyncJob};
pub use message::{
    ByeReason, Command, CommandKind, CommandResult, ConfigItem, Hello, Message, Refusal,
};
pub use permission::{PeerGrant, PeerPermission};
pub use reconcile::{ChangeLog, Incarnation, ReplicaStore};
pub use registry::{SessionId, SessionRegistry};
pub use session::{Session, SessionConfig, SessionEvent};
pub use token::{
    admit, KnownPeer, MemoryPairings, PairingAuthority, PairingClaim, PairingRefusal, PairingToken,
    TokenId, TokenSecret,
};

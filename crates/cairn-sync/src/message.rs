//! The messages of protocol version 1, one enum. Each is one frame ([`crate::frame`]).
//!
//! The encoding is postcard: a variant is its index (a varint) in declaration order, fields
//! follow in declaration order. So variants and fields are only ever appended in a new
//! message version, never reordered, and a decoder refuses a version it does not know.
//!
//! Who sends what, and the permission the receiver checks: the table of
//! [`crate::authorize`](mod@crate::authorize).

use serde::{Deserialize, Serialize};

use crate::identity::InstanceId;
use crate::job::{JobChange, JobId};
use crate::permission::{PeerGrant, PeerPermission};
use crate::reconcile::Incarnation;
use crate::token::PairingRefusal;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// First message of each side after the handshake (the server's only once admitted).
    Hello(Hello),
    /// Every 20 s from each side; the other answers with `HeartbeatAck`.
    /// `log_end` is the client's last change seq (its change log's end; 0 from the server),
    /// so the server can show how far behind its replica is (`lag`).
    Heartbeat {
        seq: u64,
        sent_at_ms: u64,
        log_end: u64,
    },
    /// Echoes a heartbeat; the sender of the heartbeat computes the round trip. `rtt_ms` is
    /// the acker's own last measured round trip (0 if none yet), for display on both sides.
    HeartbeatAck {
        seq: u64,
        sent_at_ms: u64,
        rtt_ms: u64,
    },
    /// Server -> client: "I hold your changes of `incarnation` up to `high_water`; send the
    /// rest". Also sent again when a batch arrives after a gap.
    OpsSince {
        incarnation: Incarnation,
        high_water: u64,
    },
    /// Client -> server: every change with `after < seq <= upto` the client holds (changes
    /// the grant's scopes exclude are left out, but `upto` still passes them).
    OpsBatch {
        incarnation: Incarnation,
        after: u64,
        changes: Vec<JobChange>,
        upto: u64,
    },
    /// Server -> client: the server's high-water mark after applying.
    OpsAck { incarnation: Incarnation, upto: u64 },
    /// Server -> client: the desired plans and repositories, applied atomically as one
    /// generation (queued by the server while the client is offline).
    ConfigPush {
        generation: u64,
        plans: Vec<ConfigItem>,
        repositories: Vec<ConfigItem>,
    },
    /// Client -> server: how applying a generation went.
    ConfigAck {
        generation: u64,
        result: Result<(), String>,
    },
    /// Client -> server: the client's own config, secrets left out.
    ConfigReport {
        plans: Vec<ConfigItem>,
        repositories: Vec<ConfigItem>,
    },
    /// Server -> client: the repositories shared with this client (read-only there); the
    /// full set each time, so one that disappears is no longer shared.
    SharedRepositories {
        generation: u64,
        repositories: Vec<ConfigItem>,
    },
    /// Server -> client: do something; answered by one or more `CommandResult` chunks.
    Command(Command),
    /// Client -> server: one chunk of a command's answer ([`crate::chunk`]).
    CommandResult(CommandResult),
    /// Either side: "I did not accept your message" (logged by the receiver).
    Refused { about: String, reason: Refusal },
    /// Either side, last message before closing.
    Bye { reason: ByeReason },
}

impl Message {
    /// The variant's name, for logs and `Refused::about`.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello(_) => "Hello",
            Message::Heartbeat { .. } => "Heartbeat",
            Message::HeartbeatAck { .. } => "HeartbeatAck",
            Message::OpsSince { .. } => "OpsSince",
            Message::OpsBatch { .. } => "OpsBatch",
            Message::OpsAck { .. } => "OpsAck",
            Message::ConfigPush { .. } => "ConfigPush",
            Message::ConfigAck { .. } => "ConfigAck",
            Message::ConfigReport { .. } => "ConfigReport",
            Message::SharedRepositories { .. } => "SharedRepositories",
            Message::Command(_) => "Command",
            Message::CommandResult(_) => "CommandResult",
            Message::Refused { .. } => "Refused",
            Message::Bye { .. } => "Bye",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must be the instance id of the handshake's identity.
    pub instance_id: InstanceId,
    /// A display name only.
    pub label: String,
    /// Client: its incarnation (the random id of its state directory). Server: `None`.
    pub incarnation: Option<Incarnation>,
    /// Optional features the sender understands (none defined in version 1).
    pub capabilities: Vec<String>,
    /// Server: the grant of this pairing, which the client keeps and enforces too.
    /// Client: `None`.
    pub grant: Option<PeerGrant>,
}

/// A plan or a repository as config text: one TOML table (`[plans.NAME]` or
/// `[repositories.NAME]` body), which the receiver validates with its real config loader.
/// Never carries a secret (only references: `password_file`, ...), except a shared
/// repository's `password` in `SharedRepositories`, inside the encrypted session only; the
/// client seals it with its instance key at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigItem {
    pub name: String,
    /// For a plan: the repository it backs up into (what `repo:` scopes judge it by).
    pub repository: Option<String>,
    pub toml: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Chosen by the server, unique within its session.
    pub id: u64,
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandKind {
    /// Run a plan now (needs `cmd.run` on the plan).
    RunPlan { plan: String },
    /// Cancel a queued or running job (needs `cmd.run` on the job's plan or repository).
    CancelJob { job_id: JobId },
    /// List a directory of a snapshot (needs `snapshots.browse` on the repository).
    Browse {
        repository: String,
        snapshot: String,
        path: String,
    },
    /// Restore a path of a snapshot to a target on the client (needs `cmd.restore`).
    Restore {
        repository: String,
        snapshot: String,
        target: String,
        include: Vec<String>,
    },
    /// Fetch a job's log (needs `logs.read` on the job's plan or repository).
    FetchLog { job_id: JobId },
}

impl CommandKind {
    pub fn permission(&self) -> PeerPermission {
        match self {
            CommandKind::RunPlan { .. } | CommandKind::CancelJob { .. } => PeerPermission::CmdRun,
            CommandKind::Browse { .. } => PeerPermission::SnapshotsBrowse,
            CommandKind::Restore { .. } => PeerPermission::CmdRestore,
            CommandKind::FetchLog { .. } => PeerPermission::LogsRead,
        }
    }
}

/// One chunk of a command's answer: chunks are numbered from 0, the last says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub id: u64,
    pub chunk: u32,
    pub last: bool,
    /// `Ok(bytes)`: this chunk's part of the answer (JSON, or a log's text). `Err`: the
    /// command failed (only in a single, last chunk).
    pub outcome: Result<Vec<u8>, String>,
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The pairing or admission was refused (then the server closes).
    Pairing(PairingRefusal),
    /// The grant lacks the permission, or the resource is outside its scopes.
    NotPermitted {
        permission: PeerPermission,
        resource: String,
    },
    /// The message made no sense here (wrong direction, unknown command id, wrong
    /// incarnation).
    Protocol(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Pairing(reason) => write!(f, "{reason}"),
            Refusal::NotPermitted {
                permission,
                resource,
            } => write!(f, "{permission} on {resource} is not granted to this peer"),
            Refusal::Protocol(text) => write!(f, "protocol error: {text}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ByeReason {
    /// The process stops.
    Shutdown,
    /// A newer authenticated session of the same peer replaced this one.
    Replaced,
    /// The pairing was revoked.
    Revoked,
    /// Three heartbeats went unanswered.
    Timeout,
    /// The other side broke the protocol.
    ProtocolError,
    /// The pairing was refused (see the `Refused` sent before).
    Refused,
}

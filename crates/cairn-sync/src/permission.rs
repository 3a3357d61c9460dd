//! What a paired peer may do: a set of [`PeerPermission`]s narrowed by `cairn-access`
//! [`Scopes`] (`*`, `repo:NAME`, `plan:NAME`, `!repo:NAME`, `!plan:NAME`; deny wins).
//!
//! A [`PeerGrant`] belongs to a pairing: the server sets it when the token is redeemed and
//! tells the client in its `Hello`; both sides keep it and both check it with the one function
//! [`PeerGrant::allows`]: the sender before it sends (a change about a repository outside the
//! scopes is never sent) and the receiver on every inbound message
//! ([`crate::authorize`](mod@crate::authorize)).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use cairn_access::{Resource, Scopes};
use serde::{Deserialize, Serialize};

use crate::error::SyncError;

/// One thing a server may do with (or to) a paired client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PeerPermission {
    /// The client sends its operation history (job records) to the server.
    OpsRead,
    /// The client reports its config (without secrets) to the server.
    ConfigRead,
    /// The server pushes plans and repositories into the client's config.
    ConfigWrite,
    /// The server shares repositories with the client (read-only there).
    RepoReceiveShared,
    /// The server runs a plan or cancels a job on the client.
    CmdRun,
    /// The server restores a path from a snapshot to a target on the client.
    CmdRestore,
    /// The server lists a snapshot's directories on the client.
    SnapshotsBrowse,
    /// The server fetches a job's log from the client.
    LogsRead,
}

impl PeerPermission {
    pub const ALL: &'static [PeerPermission] = &[
        PeerPermission::OpsRead,
        PeerPermission::ConfigRead,
        PeerPermission::ConfigWrite,
        PeerPermission::RepoReceiveShared,
        PeerPermission::CmdRun,
        PeerPermission::CmdRestore,
        PeerPermission::SnapshotsBrowse,
        PeerPermission::LogsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PeerPermission::OpsRead => "ops.read",
            PeerPermission::ConfigRead => "config.read",
            PeerPermission::ConfigWrite => "config.write",
            PeerPermission::RepoReceiveShared => "repo.receive_shared",
            PeerPermission::CmdRun => "cmd.run",
            PeerPermission::CmdRestore => "cmd.restore",
            PeerPermission::SnapshotsBrowse => "snapshots.browse",
            PeerPermission::LogsRead => "logs.read",
        }
    }
}

impl fmt::Display for PeerPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PeerPermission {
    type Err = SyncError;

    fn from_str(text: &str) -> Result<PeerPermission, SyncError> {
        PeerPermission::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = PeerPermission::ALL.iter().map(|p| p.as_str()).collect();
                SyncError::InvalidToken(format!(
                    "{text:?} is not a peer permission; write one of {}",
                    known.join(", ")
                ))
            })
    }
}

impl TryFrom<String> for PeerPermission {
    type Error = SyncError;

    fn try_from(text: String) -> Result<PeerPermission, SyncError> {
        text.parse()
    }
}

impl From<PeerPermission> for String {
    fn from(permission: PeerPermission) -> String {
        permission.as_str().to_string()
    }
}

/// What one pairing allows: permissions, each limited to the scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerGrant {
    pub permissions: BTreeSet<PeerPermission>,
    pub scopes: Scopes,
}

impl PeerGrant {
    pub fn new(permissions: impl IntoIterator<Item = PeerPermission>, scopes: Scopes) -> Self {
        PeerGrant {
            permissions: permissions.into_iter().collect(),
            scopes,
        }
    }

    /// Parses `ops.read,config.read` (commas, or several flags joined by the caller).
    pub fn parse_permissions(text: &str) -> Result<BTreeSet<PeerPermission>, SyncError> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::parse)
            .collect()
    }

    /// The one check: `permission` is granted and `resource` lies within the scopes.
    /// [`Resource::Global`] (a job about no plan and no repository) needs unrestricted scopes.
    pub fn allows(&self, permission: PeerPermission, resource: Resource<'_>) -> bool {
        self.permissions.contains(&permission) && self.scopes.allows(resource)
    }

    pub fn has(&self, permission: PeerPermission) -> bool {
        self.permissions.contains(&permission)
    }
}

impl fmt::Display for PeerGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let permissions: Vec<&str> = self.permissions.iter().map(|p| p.as_str()).collect();
        write!(f, "{} on {}", permissions.join(","), self.scopes)
    }
}

/// The resource a job, a plan or a repository name stands for in scope checks.
pub fn job_resource<'a>(plan: Option<&'a str>, repository: Option<&'a str>) -> Resource<'a> {
    match (plan, repository) {
        (Some(name), repository) => Resource::Plan {
            name,
            repository: repository.unwrap_or(""),
        },
        (None, Some(repository)) => Resource::Repository(repository),
        (None, None) => Resource::Global,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_and_display_round_trip() {
        for permission in PeerPermission::ALL {
            assert_eq!(
                permission.as_str().parse::<PeerPermission>().unwrap(),
                *permission
            );
        }
        let error = "ops.write"
            .parse::<PeerPermission>()
            .unwrap_err()
            .to_string();
        assert!(error.contains("ops.read, config.read"), "{error}");
        let set = PeerGrant::parse_permissions("ops.read, cmd.run,").unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            [PeerPermission::OpsRead, PeerPermission::CmdRun]
        );
    }

    #[test]
    fn a_grant_needs_both_the_permission_and_the_scope() {
        let grant = PeerGrant::new(
            [PeerPermission::OpsRead],
            Scopes::parse_all(["*", "!repo:secret"]).unwrap(),
        );
        let main = job_resource(Some("web"), Some("main"));
        let secret = job_resource(Some("db"), Some("secret"));
        assert!(grant.allows(PeerPermission::OpsRead, main));
        assert!(!grant.allows(PeerPermission::OpsRead, secret));
        assert!(!grant.allows(PeerPermission::CmdRun, main));
        assert!(!grant.allows(PeerPermission::OpsRead, Resource::Repository("secret")));
        // A job about nothing in particular needs unrestricted scopes.
        assert!(!grant.allows(PeerPermission::OpsRead, job_resource(None, None)));
        let open = PeerGrant::new([PeerPermission::OpsRead], Scopes::all());
        assert!(open.allows(PeerPermission::OpsRead, job_resource(None, None)));
    }
}

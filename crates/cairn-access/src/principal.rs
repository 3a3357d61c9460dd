//! Who is asking, and the one check every request goes through.

use std::fmt;

use serde::Serialize;

use crate::{AccessError, Action, Resource, Role, Scopes};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Identity {
    /// A person logged in to the UI (or the API with a session cookie).
    User { id: i64, name: String },
    /// An API token (`Authorization: Bearer …`).
    Token { id: i64, name: String },
    /// The daemon's own user on the unix socket (mode 0600): the CLI.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub identity: Identity,
    pub role: Role,
    pub scopes: Scopes,
}

impl Principal {
    /// The CLI on the daemon's socket: whoever can open it owns the state directory anyway.
    pub fn local() -> Principal {
        Principal {
            identity: Identity::Local,
            role: Role::Admin,
            scopes: Scopes::all(),
        }
    }

    pub fn may(&self, action: Action, resource: Resource<'_>) -> bool {
        self.role.permits(action) && self.scopes.allows(resource)
    }

    /// [`Principal::may`], as an error that names who, what and where.
    pub fn require(&self, action: Action, resource: Resource<'_>) -> Result<(), AccessError> {
        if self.may(action, resource) {
            return Ok(());
        }
        Err(AccessError::Forbidden {
            who: self.to_string(),
            action: action.describe().to_string(),
            resource: match resource {
                Resource::Global => None,
                other => Some(other.to_string()),
            },
        })
    }

    /// How the audit log names the principal: `user:alice`, `token:ci`, `local`.
    pub fn actor(&self) -> String {
        match &self.identity {
            Identity::User { name, .. } => format!("user:{name}"),
            Identity::Token { name, .. } => format!("token:{name}"),
            Identity::Local => "local".to_string(),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.identity {
            Identity::User { name, .. } => write!(f, "{} {name}", self.role),
            Identity::Token { name, .. } => write!(f, "{} token {name:?}", self.role),
            Identity::Local => f.write_str("the local user"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_who_what_and_where() {
        let viewer = Principal {
            identity: Identity::User {
                id: 1,
                name: "vera".into(),
            },
            role: Role::Viewer,
            scopes: Scopes::all(),
        };
        let plan = Resource::Plan {
            name: "web",
            repository: "main",
        };
        assert!(viewer.may(Action::Read, plan));
        let error = viewer.require(Action::Run, plan).unwrap_err().to_string();
        assert_eq!(error, "viewer vera may not run jobs on plan \"web\"");
        let token = Principal {
            identity: Identity::Token {
                id: 2,
                name: "ci".into(),
            },
            role: Role::Operator,
            scopes: Scopes::parse_all(["plan:db"]).unwrap(),
        };
        assert!(!token.may(Action::Run, plan));
        assert!(token.require(Action::Read, Resource::Global).is_err());
    }
}

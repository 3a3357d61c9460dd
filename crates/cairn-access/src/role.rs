//! Roles and the actions each permits. Roles are ordered: each holds every action of the
//! ones below it, so a role check is one comparison with the least role an action needs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::AccessError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything in its scopes: plans, jobs, snapshots, file listings.
    Viewer,
    /// Also runs, cancels and retries jobs, browses file contents, downloads and restores.
    Operator,
    /// Everything: config edits, users, tokens, the audit log, settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn permits(self, action: Action) -> bool {
        self >= action.least_role()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AccessError;

    fn from_str(text: &str) -> Result<Role, AccessError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                AccessError::InvalidInput(format!(
                    "{text:?} is not a role; use admin, operator or viewer"
                ))
            })
    }
}

/// What a request does. Each handler names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Status, plans, jobs and their logs, snapshots, directory listings, file versions.
    Read,
    /// Start a plan's job, cancel or retry a job, send a test notification.
    Run,
    /// Read file contents: download a file or an archive of a directory.
    Download,
    /// Restore files or a database to a target on the server.
    Restore,
    /// Change the config (plans, repositories, offsite settings, notifications).
    EditConfig,
    /// Users, API tokens, the audit log, server settings.
    Administer,
}

impl Action {
    pub fn least_role(self) -> Role {
        match self {
            Action::Read => Role::Viewer,
            Action::Run | Action::Download | Action::Restore => Role::Operator,
            Action::EditConfig | Action::Administer => Role::Admin,
        }
    }

    /// How the action reads in a refusal: "viewer alice may not run jobs on plan \"web\"".
    pub fn describe(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Run => "run jobs",
            Action::Download => "download files",
            Action::Restore => "restore",
            Action::EditConfig => "edit the config",
            Action::Administer => "administer the server",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_holds_the_actions_of_the_ones_below() {
        let table = [
            (Action::Read, [true, true, true]),
            (Action::Run, [true, true, false]),
            (Action::Download, [true, true, false]),
            (Action::Restore, [true, true, false]),
            (Action::EditConfig, [true, false, false]),
            (Action::Administer, [true, false, false]),
        ];
        for (action, expected) in table {
            let got: Vec<bool> = Role::ALL.iter().map(|r| r.permits(action)).collect();
            assert_eq!(got, expected, "{action:?}");
        }
    }

    #[test]
    fn roles_parse_by_name_and_refuse_others() {
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        let error = "root".parse::<Role>().unwrap_err().to_string();
        assert!(error.contains("use admin, operator or viewer"), "{error}");
    }
}

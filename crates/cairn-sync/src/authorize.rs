//! Every inbound message is checked here against the pairing's grant, on the side that
//! receives it. A message outside the grant is refused whole (`Refused` back, a log line by
//! the caller) and nothing of it is applied.
//!
//! | message | sent by | receiver checks |
//! |---|---|---|
//! | `Hello`, `Heartbeat`, `HeartbeatAck`, `Refused`, `Bye` | both | nothing (session control) |
//! | `OpsSince`, `OpsAck` | server | `ops.read` |
//! | `OpsBatch` | client | `ops.read` on every change's plan/repository |
//! | `ConfigPush` | server | `config.write` on every plan and repository in it |
//! | `ConfigAck` | client | `config.write` |
//! | `ConfigReport` | client | `config.read` on every plan and repository in it |
//! | `SharedRepositories` | server | `repo.receive_shared` on every repository in it |
//! | `Command` | server | the command's permission on its plan, repository or job |
//! | `CommandResult` | client | the session checks it answers a command it sent |
//!
//! A plan is judged as `Resource::Plan {name, repository}` (a `repo:` scope reaches the plans
//! backing up into it), a repository as `Resource::Repository`, a job by its plan and
//! repository ([`crate::permission::job_resource`]). The sender applies the same checks
//! before sending ([`permitted_items`], and the client's change filter), so a peer that plays
//! by the rules never sees a refusal.

use cairn_access::Resource;

use crate::job::JobId;
use crate::message::{CommandKind, ConfigItem, Message, Refusal};
use crate::permission::{job_resource, PeerGrant, PeerPermission};

/// Which side receives (and so checks) a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// What the client knows about its own plans and jobs, to judge a command by the plan or
/// repository it really touches (never by what the server claims).
pub trait LocalResources {
    /// The repository a plan backs up into; `None` for an unknown plan.
    fn plan_repository(&self, plan: &str) -> Option<String>;
    /// A job's plan and repository; `None` for an unknown job.
    fn job_scope(&self, job_id: JobId) -> Option<(Option<String>, Option<String>)>;
}

/// No local knowledge (the server side, and tests that need none).
pub struct NoLocalResources;

impl LocalResources for NoLocalResources {
    fn plan_repository(&self, _: &str) -> Option<String> {
        None
    }

    fn job_scope(&self, _: JobId) -> Option<(Option<String>, Option<String>)> {
        None
    }
}

/// Checks one inbound message. `Ok` means it may be acted on.
pub fn authorize(
    receiver: Side,
    grant: &PeerGrant,
    message: &Message,
    local: &dyn LocalResources,
) -> Result<(), Refusal> {
    let wrong_direction = || {
        Err(Refusal::Protocol(format!(
            "{} is not sent to a {}",
            message.name(),
            match receiver {
                Side::Client => "client",
                Side::Server => "server",
            }
        )))
    };
    match (receiver, message) {
        (
            _,
            Message::Hello(_)
            | Message::Heartbeat { .. }
            | Message::HeartbeatAck { .. }
            | Message::Refused { .. }
            | Message::Bye { .. },
        ) => Ok(()),
        (Side::Client, Message::OpsSince { .. } | Message::OpsAck { .. }) => {
            need_permission(grant, PeerPermission::OpsRead)
        }
        (Side::Server, Message::OpsBatch { changes, .. }) => {
            need_permission(grant, PeerPermission::OpsRead)?;
            for change in changes {
                need(grant, PeerPermission::OpsRead, change.resource())?;
            }
            Ok(())
        }
        (
            Side::Client,
            Message::ConfigPush {
                plans,
                repositories,
                ..
            },
        ) => {
            need_permission(grant, PeerPermission::ConfigWrite)?;
            need_items(grant, PeerPermission::ConfigWrite, plans, repositories)
        }
        (Side::Server, Message::ConfigAck { .. }) => {
            need_permission(grant, PeerPermission::ConfigWrite)
        }
        (
            Side::Server,
            Message::ConfigReport {
                plans,
                repositories,
            },
        ) => {
            need_permission(grant, PeerPermission::ConfigRead)?;
            need_items(grant, PeerPermission::ConfigRead, plans, repositories)
        }
        (Side::Client, Message::SharedRepositories { repositories, .. }) => {
            need_permission(grant, PeerPermission::RepoReceiveShared)?;
            need_items(grant, PeerPermission::RepoReceiveShared, &[], repositories)
        }
        (Side::Client, Message::Command(command)) => {
            let permission = command.kind.permission();
            need_permission(grant, permission)?;
            match &command.kind {
                CommandKind::RunPlan { plan } => {
                    let repository = local.plan_repository(plan).unwrap_or_default();
                    need(
                        grant,
                        permission,
                        Resource::Plan {
                            name: plan,
                            repository: &repository,
                        },
                    )
                }
                CommandKind::CancelJob { job_id } | CommandKind::FetchLog { job_id } => {
                    let (plan, repository) = local.job_scope(*job_id).unwrap_or_default();
                    need(
                        grant,
                        permission,
                        job_resource(plan.as_deref(), repository.as_deref()),
                    )
                }
                CommandKind::Browse { repository, .. }
                | CommandKind::Restore { repository, .. } => {
                    need(grant, permission, Resource::Repository(repository))
                }
            }
        }
        (Side::Server, Message::CommandResult(_)) => Ok(()),
        _ => wrong_direction(),
    }
}

fn need_permission(grant: &PeerGrant, permission: PeerPermission) -> Result<(), Refusal> {
    if grant.has(permission) {
        Ok(())
    } else {
        Err(Refusal::NotPermitted {
            permission,
            resource: "this peer".into(),
        })
    }
}

fn need(
    grant: &PeerGrant,
    permission: PeerPermission,
    resource: Resource<'_>,
) -> Result<(), Refusal> {
    if grant.allows(permission, resource) {
        Ok(())
    } else {
        Err(Refusal::NotPermitted {
            permission,
            resource: resource.to_string(),
        })
    }
}

fn plan_resource(item: &ConfigItem) -> Resource<'_> {
    Resource::Plan {
        name: &item.name,
        repository: item.repository.as_deref().unwrap_or(""),
    }
}

fn need_items(
    grant: &PeerGrant,
    permission: PeerPermission,
    plans: &[ConfigItem],
    repositories: &[ConfigItem],
) -> Result<(), Refusal> {
    for plan in plans {
        need(grant, permission, plan_resource(plan))?;
    }
    for repository in repositories {
        need(grant, permission, Resource::Repository(&repository.name))?;
    }
    Ok(())
}

/// The sender's filter: the plans (`is_plan`) or repositories of `items` the grant lets
/// travel under `permission`. Build `ConfigPush`, `ConfigReport` and `SharedRepositories`
/// from what this returns.
pub fn permitted_items(
    grant: &PeerGrant,
    permission: PeerPermission,
    is_plan: bool,
    items: Vec<ConfigItem>,
) -> Vec<ConfigItem> {
    items
        .into_iter()
        .filter(|item| {
            let resource = if is_plan {
                plan_resource(item)
            } else {
                Resource::Repository(&item.name)
            };
            grant.allows(permission, resource)
        })
        .collect()
}

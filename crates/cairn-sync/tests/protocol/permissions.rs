//! A scoped grant (`*`, `!repo:secret`) refuses every message about that repository, on the
//! side that receives it, and the sending side does not send it in the first place.

use std::sync::{Arc, Mutex};

use cairn_access::Scopes;
use cairn_sync::reconcile::{MemoryChangeLog, MemoryReplica};
use cairn_sync::{
    ChangeKind, Command, CommandKind, ConfigItem, JobChange, JobId, LocalResources, Message,
    PeerGrant, PeerPermission, Refusal, SessionEvent,
};

use crate::common::{incarnation, instance, job, Ends, Link};

/// The client's own plans and jobs: plan `db` backs up into `secret`, `web` into `main`;
/// job 7 is a `db` job, job 8 a `web` job.
struct ClientResources;

impl LocalResources for ClientResources {
    fn plan_repository(&self, plan: &str) -> Option<String> {
        match plan {
            "db" => Some("secret".into()),
            "web" => Some("main".into()),
            _ => None,
        }
    }

    fn job_scope(&self, job_id: JobId) -> Option<(Option<String>, Option<String>)> {
        match job_id {
            7 => Some((Some("db".into()), Some("secret".into()))),
            8 => Some((Some("web".into()), Some("main".into()))),
            _ => None,
        }
    }
}

fn scoped_ends() -> Ends {
    Ends {
        client_id: instance(300),
        server_id: instance(301),
        grant: PeerGrant::new(
            PeerPermission::ALL.iter().copied(),
            Scopes::parse_all(["*", "!repo:secret"]).unwrap(),
        ),
        log: Arc::new(Mutex::new(MemoryChangeLog::new(incarnation(30)))),
        replica: Arc::new(Mutex::new(MemoryReplica::default())),
    }
}

fn item(name: &str, repository: Option<&str>) -> ConfigItem {
    ConfigItem {
        name: name.into(),
        repository: repository.map(Into::into),
        toml: String::new(),
    }
}

fn command(id: u64, kind: CommandKind) -> Message {
    Message::Command(Command { id, kind })
}

/// Delivers `message` to the client (or the server) of a fresh, greeted link and returns
/// whether it was accepted (not refused).
fn accepted(to_client: bool, message: Message) -> bool {
    let ends = scoped_ends();
    let mut link: Link = ends.connect_with(0, Box::new(ClientResources));
    assert!(link.run_clean(0));
    while link.client.poll_event().is_some() {}
    while link.server.poll_event().is_some() {}
    let receiver = if to_client {
        &mut link.client
    } else {
        &mut link.server
    };
    receiver.handle_message(message, 1).unwrap();
    let mut refused = false;
    while let Some(event) = receiver.poll_event() {
        if let SessionEvent::RefusedInbound { reason, .. } = event {
            assert!(
                matches!(reason, Refusal::NotPermitted { .. } | Refusal::Protocol(_)),
                "{reason:?}"
            );
            refused = true;
        }
    }
    if refused {
        let answer = receiver.poll_message();
        assert!(
            matches!(answer, Some(Message::Refused { .. })),
            "{answer:?}"
        );
    }
    !refused
}

#[test]
fn every_message_about_the_denied_repository_is_refused_by_the_client() {
    let about_secret = [
        Message::ConfigPush {
            generation: 1,
            plans: vec![item("db", Some("secret"))],
            repositories: vec![],
        },
        Message::ConfigPush {
            generation: 1,
            plans: vec![],
            repositories: vec![item("secret", None)],
        },
        Message::SharedRepositories {
            generation: 1,
            repositories: vec![item("secret", None)],
        },
        command(1, CommandKind::RunPlan { plan: "db".into() }),
        command(2, CommandKind::CancelJob { job_id: 7 }),
        command(3, CommandKind::FetchLog { job_id: 7 }),
        command(
            4,
            CommandKind::Browse {
                repository: "secret".into(),
                snapshot: "abc".into(),
                path: "/".into(),
            },
        ),
        command(
            5,
            CommandKind::Restore {
                repository: "secret".into(),
                snapshot: "abc".into(),
                target: "/tmp/x".into(),
                include: vec![],
            },
        ),
    ];
    for message in about_secret {
        let name = format!("{message:?}");
        assert!(!accepted(true, message), "accepted: {name}");
    }
    let about_main = [
        Message::ConfigPush {
            generation: 1,
            plans: vec![item("web", Some("main"))],
            repositories: vec![item("main", None)],
        },
        Message::SharedRepositories {
            generation: 1,
            repositories: vec![item("main", None)],
        },
        command(1, CommandKind::RunPlan { plan: "web".into() }),
        command(2, CommandKind::CancelJob { job_id: 8 }),
        command(3, CommandKind::FetchLog { job_id: 8 }),
        command(
            4,
            CommandKind::Browse {
                repository: "main".into(),
                snapshot: "abc".into(),
                path: "/".into(),
            },
        ),
    ];
    for message in about_main {
        let name = format!("{message:?}");
        assert!(accepted(true, message), "refused: {name}");
    }
    // An unknown job could be anything: only an unrestricted grant may touch it.
    assert!(!accepted(
        true,
        command(9, CommandKind::FetchLog { job_id: 99 })
    ));
}

#[test]
fn every_message_about_the_denied_repository_is_refused_by_the_server() {
    let ends = scoped_ends();
    let secret_change = JobChange {
        seq: 1,
        job_id: 7,
        kind: ChangeKind::Upsert(job(7, "db", "secret", "succeeded")),
    };
    let tombstone = JobChange {
        seq: 2,
        job_id: 7,
        kind: ChangeKind::Tombstone {
            plan: Some("db".into()),
            repository: Some("secret".into()),
        },
    };
    for change in [secret_change, tombstone] {
        let batch = Message::OpsBatch {
            incarnation: incarnation(30),
            after: 0,
            changes: vec![change],
            upto: 2,
        };
        assert!(!accepted(false, batch));
    }
    let report = Message::ConfigReport {
        plans: vec![],
        repositories: vec![item("secret", None)],
    };
    assert!(!accepted(false, report));
    // Wrong direction: a client does not send commands.
    assert!(!accepted(
        false,
        command(1, CommandKind::RunPlan { plan: "web".into() })
    ));
    let _ = ends;
}

#[test]
fn the_sender_does_not_send_what_the_receiver_would_refuse() {
    let ends = scoped_ends();
    {
        let mut log = ends.log.lock().unwrap();
        log.upsert(job(1, "db", "secret", "succeeded"));
        log.upsert(job(2, "web", "main", "succeeded"));
        log.delete(1);
    }
    let mut link = ends.connect(0);
    assert!(link.run_clean(0));
    let replica = ends.replica.lock().unwrap();
    let held = replica.replica(&ends.client_id, &incarnation(30)).unwrap();
    assert_eq!(held.entries.keys().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(
        held.high_water, 3,
        "the high water passes the changes left out"
    );
    drop(replica);

    let push = Message::ConfigPush {
        generation: 2,
        plans: vec![item("db", Some("secret"))],
        repositories: vec![],
    };
    assert!(link.server.send(push).is_err());
    let browse = CommandKind::Browse {
        repository: "secret".into(),
        snapshot: "abc".into(),
        path: "/".into(),
    };
    assert!(link.server.send_command(browse).is_err());
    // A job's scope is the client's to judge: a scoped server sends job commands, and the
    // client refuses the one of the denied repository.
    let on_secret = link
        .server
        .send_command(CommandKind::FetchLog { job_id: 7 })
        .expect("a scoped grant with logs.read sends FetchLog");
    link.server
        .send_command(CommandKind::CancelJob { job_id: 8 })
        .expect("a scoped grant with cmd.run sends CancelJob");
    assert!(on_secret < 2);
    let items = vec![item("db", Some("secret")), item("web", Some("main"))];
    let permitted =
        cairn_sync::permitted_items(&ends.grant, PeerPermission::ConfigRead, true, items);
    assert_eq!(permitted, [item("web", Some("main"))]);
}

#[test]
fn a_grant_without_the_permission_refuses_whatever_the_scope() {
    let mut ends = scoped_ends();
    ends.grant = PeerGrant::new([PeerPermission::OpsRead], Scopes::all());
    let mut link = ends.connect_with(0, Box::new(ClientResources));
    assert!(link.run_clean(0));
    link.client
        .handle_message(command(1, CommandKind::RunPlan { plan: "web".into() }), 1)
        .unwrap();
    let refused = std::iter::from_fn(|| link.client.poll_event()).any(|e| {
        matches!(
            e,
            SessionEvent::RefusedInbound {
                reason: Refusal::NotPermitted {
                    permission: PeerPermission::CmdRun,
                    ..
                },
                ..
            }
        )
    });
    assert!(refused);
}

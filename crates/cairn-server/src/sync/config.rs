//! Config over multihost. Server: `peer config push` stores the desired plans and repositories
//! of a client as a new generation (sent at once when it is connected, else on its next
//! connection, until it acknowledges), keeps the client's report for `peer config show`, and
//! sends each client the repositories whose `share_with` names it (the full set, on connect
//! and after every reload). Client: it validates what comes with its real config loader,
//! writes the managed file whole (`STATE_DIR/managed.toml`, a temporary file renamed over
//! it), reloads its daemon, acknowledges, and reports its config with secrets left out.

use std::sync::{Arc, Mutex};

use cairn_access::InstanceKey;
use cairn_config::pushed::{
    compose_managed, read_managed, reported_items, seal_shared, shared_item, split_fragment,
    ManagedParts, TableItem, TableItems,
};
use cairn_config::{managed_path, Config, Override, Overrides};
use cairn_state::PeerRole;
use cairn_sync::{
    authorize, permitted_items, ConfigItem, Connection, InstanceId, Message, NoLocalResources,
    PeerGrant, PeerPermission, Side,
};
use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::driver::Control;
use super::hub::{Multihost, MultihostError};
use super::stores::peer_grant;

/// One change of the managed file at a time (a push and a share may arrive together).
static APPLYING: Mutex<()> = Mutex::new(());

fn to_config_items(items: Vec<TableItem>) -> Vec<ConfigItem> {
    items
        .into_iter()
        .map(|i| ConfigItem {
            name: i.name,
            repository: i.repository,
            toml: i.toml,
        })
        .collect()
}

fn to_table_items(items: &[ConfigItem]) -> Vec<TableItem> {
    items
        .iter()
        .map(|i| TableItem {
            name: i.name.clone(),
            repository: i.repository.clone(),
            toml: i.toml.clone(),
        })
        .collect()
}

fn refused(text: String) -> MultihostError {
    MultihostError::Refused(text)
}

impl Multihost {
    fn client_grant(&self, id: &str) -> Result<PeerGrant, MultihostError> {
        let Some(peer) = self.state.peer(id)? else {
            return Err(refused(format!("no peer {id}; see `cairn peer list`")));
        };
        if peer.role != PeerRole::Client {
            return Err(refused(format!(
                "peer {id} is this instance's server; config goes from a server to its clients"
            )));
        }
        if peer.revoked_at.is_some() {
            return Err(refused(format!("peer {id} is revoked")));
        }
        peer_grant(&peer).map_err(|e| refused(e.0))
    }

    /// `peer config push`: stores `fragment` as the client's desired config (a new
    /// generation) and sends it if the client is connected. Refused whole when the grant
    /// lacks `config.write` or an item is outside its scopes.
    pub fn push_config(&self, id: &str, fragment: &str) -> Result<u64, MultihostError> {
        let grant = self.client_grant(id)?;
        let items = split_fragment(fragment).map_err(refused)?;
        let plans = to_config_items(items.plans);
        let repositories = to_config_items(items.repositories);
        let probe = Message::ConfigPush {
            generation: 0,
            plans: plans.clone(),
            repositories: repositories.clone(),
        };
        if let Err(refusal) = authorize(Side::Client, &grant, &probe, &NoLocalResources) {
            return Err(refused(format!(
                "{refusal}; nothing was pushed (see the token's --permissions and --scope)"
            )));
        }
        let as_json = |items: &[ConfigItem]| {
            serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| json!({"name": i.name, "repository": i.repository, "toml": i.toml}))
                    .collect(),
            )
            .to_string()
        };
        let generation = self.state.push_peer_config(
            id,
            &as_json(&plans),
            &as_json(&repositories),
            Utc::now(),
        )?;
        tracing::info!("sync: config generation {generation} stored for {id}");
        if let Some(control) = self.live_control(id) {
            let _ = control.send(Control::Send(Message::ConfigPush {
                generation,
                plans,
                repositories,
            }));
        }
        Ok(generation)
    }

    /// `peer config show`: what was pushed, how applying it went, and the client's own
    /// report (secrets never leave the client).
    pub fn peer_config(&self, id: &str) -> Result<Value, MultihostError> {
        let grant = self.client_grant(id)?;
        if !grant.has(PeerPermission::ConfigRead) && !grant.has(PeerPermission::ConfigWrite) {
            return Err(refused(format!(
                "peer {id} shows no config here (it needs config.read)"
            )));
        }
        let stored = self.state.peer_config(id)?;
        let parse = |text: Option<&str>| -> Value {
            text.and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null)
        };
        Ok(match stored {
            None => json!({"peer": id, "generation": 0, "acked_generation": 0, "report": null}),
            Some(stored) => json!({
                "peer": id,
                "generation": stored.generation,
                "pushed_at": stored.pushed_at,
                "pushed": {
                    "plans": parse(Some(&stored.plans)),
                    "repositories": parse(Some(&stored.repositories)),
                },
                "acked_generation": stored.acked_generation,
                "ack_error": stored.ack_error,
                "acked_at": stored.acked_at,
                "report": if grant.has(PeerPermission::ConfigRead) {
                    parse(stored.report.as_deref())
                } else {
                    Value::Null
                },
                "reported_at": stored.reported_at,
            }),
        })
    }

    fn live_control(&self, id: &str) -> Option<mpsc::UnboundedSender<Control>> {
        let peer = InstanceId::try_from(id.to_string()).ok()?;
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&peer)
            .map(|live| live.control.clone())
    }
}

/// Server, a client's `Hello` arrived: its desired config if not acknowledged yet, and the
/// repositories shared with it.
pub(crate) fn server_connected(
    hub: &Multihost,
    peer: &InstanceId,
    connection: &mut Connection,
) -> Option<Arc<Config>> {
    let grant = connection.session().grant().clone();
    if grant.has(PeerPermission::ConfigWrite) {
        match hub.state.peer_config(peer.as_str()) {
            Ok(Some(stored)) if stored.generation > stored.acked_generation => {
                let items = |text: &str| -> Vec<ConfigItem> {
                    serde_json::from_str::<Vec<Value>>(text)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|v| {
                            Some(ConfigItem {
                                name: v["name"].as_str()?.to_string(),
                                repository: v["repository"].as_str().map(str::to_string),
                                toml: v["toml"].as_str()?.to_string(),
                            })
                        })
                        .collect()
                };
                let message = Message::ConfigPush {
                    generation: stored.generation,
                    plans: items(&stored.plans),
                    repositories: items(&stored.repositories),
                };
                if let Err(refusal) = connection.session_mut().send(message) {
                    tracing::warn!("sync: config for {peer} not sent: {refusal}");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::error!("sync: cannot read the config pushed to {peer}: {error}"),
        }
    }
    let config = hub.daemon().map(|daemon| daemon.config());
    if let Some(config) = &config {
        send_shared(peer, config, connection);
    }
    config
}

/// Server, every tick: after a reload, the shared repositories again (the full set: one
/// taken out of `share_with` disappears from the client).
pub(crate) fn server_tick(
    hub: &Multihost,
    peer: &InstanceId,
    seen: &mut Option<Arc<Config>>,
    connection: &mut Connection,
) {
    let Some(config) = hub.daemon().map(|daemon| daemon.config()) else {
        return;
    };
    if seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &config)) {
        return;
    }
    if seen.is_some() {
        send_shared(peer, &config, connection);
    }
    *seen = Some(config);
}

fn send_shared(peer: &InstanceId, config: &Config, connection: &mut Connection) {
    let grant = connection.session().grant().clone();
    if !grant.has(PeerPermission::RepoReceiveShared) {
        return;
    }
    let mut items = Vec::new();
    for repository in config.repositories.values() {
        if !repository.share_with.iter().any(|id| id == peer.as_str()) {
            continue;
        }
        let what = format!("password of repository {}", repository.name);
        let password = match cairn_jobs::secret::read(&repository.password, &what) {
            Ok(password) => password,
            Err(error) => {
                tracing::error!("sync: repository {} not shared: {error}", repository.name);
                continue;
            }
        };
        let Ok(password) = std::str::from_utf8(password.expose()) else {
            tracing::error!(
                "sync: repository {} not shared: its password is not UTF-8 text",
                repository.name
            );
            continue;
        };
        match shared_item(&repository.name, &repository.location.to_string(), password) {
            Ok(item) => items.push(item),
            Err(error) => {
                tracing::error!("sync: repository {} not shared: {error}", repository.name)
            }
        }
    }
    let repositories = permitted_items(
        &grant,
        PeerPermission::RepoReceiveShared,
        false,
        to_config_items(items),
    );
    let message = Message::SharedRepositories {
        generation: Utc::now().timestamp_millis().max(1) as u64,
        repositories,
    };
    if let Err(refusal) = connection.session_mut().send(message) {
        tracing::warn!("sync: shared repositories for {peer} not sent: {refusal}");
    }
}

/// Server: a client's `ConfigAck` or `ConfigReport` (authorized by the session).
pub(crate) fn server_received(hub: &Multihost, peer: &InstanceId, message: Message) {
    let stored = match message {
        Message::ConfigAck { generation, result } => {
            match &result {
                Ok(()) => tracing::info!("sync: {peer} applied config generation {generation}"),
                Err(error) => {
                    tracing::warn!("sync: {peer} refused config generation {generation}: {error}")
                }
            }
            hub.state.ack_peer_config(
                peer.as_str(),
                generation,
                result.err().as_deref(),
                Utc::now(),
            )
        }
        Message::ConfigReport {
            plans,
            repositories,
        } => {
            let report = json!({
                "plans": plans.iter().map(|i| json!({"name": i.name, "repository": i.repository, "toml": i.toml})).collect::<Vec<_>>(),
                "repositories": repositories.iter().map(|i| json!({"name": i.name, "toml": i.toml})).collect::<Vec<_>>(),
            });
            hub.state
                .store_peer_config_report(peer.as_str(), &report.to_string(), Utc::now())
        }
        _ => Ok(()),
    };
    if let Err(error) = stored {
        tracing::error!("sync: cannot store what {peer} sent: {error}");
    }
}

/// Client: its config as reported to the server (secrets left out, scopes applied).
fn report(hub: &Multihost, grant: &PeerGrant) -> Option<Message> {
    if !grant.has(PeerPermission::ConfigRead) {
        return None;
    }
    let config = hub.daemon()?.config();
    let TableItems {
        plans,
        repositories,
    } = reported_items(&config);
    Some(Message::ConfigReport {
        plans: permitted_items(
            grant,
            PeerPermission::ConfigRead,
            true,
            to_config_items(plans),
        ),
        repositories: permitted_items(
            grant,
            PeerPermission::ConfigRead,
            false,
            to_config_items(repositories),
        ),
    })
}

/// Client, the server's `Hello` arrived: report the config.
pub(crate) fn client_connected(hub: &Multihost, connection: &mut Connection) {
    let grant = connection.session().grant().clone();
    if let Some(message) = report(hub, &grant) {
        if let Err(refusal) = connection.session_mut().send(message) {
            tracing::warn!("sync: config report not sent: {refusal}");
        }
    }
}

/// Client: a `ConfigPush` or `SharedRepositories` (authorized by the session against the
/// grant). Applied off the session's task; the acknowledgement and a new report go back
/// through the session's control channel.
pub(crate) fn client_received(
    hub: Arc<Multihost>,
    message: Message,
    grant: PeerGrant,
    control: mpsc::UnboundedSender<Control>,
) {
    tokio::spawn(async move {
        let worker = hub.clone();
        let applied = tokio::task::spawn_blocking(move || match message {
            Message::ConfigPush {
                generation,
                plans,
                repositories,
            } => {
                let pushed = TableItems {
                    plans: to_table_items(&plans),
                    repositories: to_table_items(&repositories),
                };
                let result = apply(&worker, |parts| {
                    parts.generation = generation;
                    parts.pushed = pushed;
                    Ok(())
                });
                match &result {
                    Ok(()) => tracing::info!("sync: applied the server's config generation {generation}"),
                    Err(error) => tracing::warn!(
                        "sync: refused the server's config generation {generation}, the old config stays: {error}"
                    ),
                }
                Some(Message::ConfigAck { generation, result })
            }
            Message::SharedRepositories {
                generation,
                repositories,
            } => {
                let result = apply(&worker, |parts| {
                    let key = InstanceKey::load_or_create(&parts_state_dir(&worker)?)
                        .map_err(|e| format!("cannot load the instance key: {e}"))?;
                    parts.shared = to_table_items(&repositories)
                        .iter()
                        .map(|item| seal_shared(item, |purpose, secret| key.seal(purpose, secret)))
                        .collect::<Result<_, _>>()?;
                    parts.shared_generation = generation;
                    Ok(())
                });
                match result {
                    Ok(()) => tracing::info!(
                        "sync: {} repositories shared by the server",
                        repositories.len()
                    ),
                    Err(error) => {
                        tracing::warn!("sync: cannot take the server's shared repositories: {error}")
                    }
                }
                None
            }
            _ => None,
        })
        .await;
        if let Ok(Some(ack)) = applied {
            let _ = control.send(Control::Send(ack));
        }
        if let Some(message) = report(&hub, &grant) {
            let _ = control.send(Control::Send(message));
        }
    });
}

fn parts_state_dir(hub: &Multihost) -> Result<std::path::PathBuf, String> {
    Ok(hub
        .daemon()
        .ok_or("this instance runs no daemon")?
        .config()
        .state_dir
        .clone())
}

/// Changes the managed file: reads its parts, lets `change` edit them, validates the result
/// with the user's file as a reload would, writes it whole and reloads the daemon. On any
/// error nothing is written and the running config stays.
fn apply(
    hub: &Multihost,
    change: impl FnOnce(&mut ManagedParts) -> Result<(), String>,
) -> Result<(), String> {
    let _one_at_a_time = APPLYING.lock().unwrap_or_else(|e| e.into_inner());
    let daemon = hub.daemon().ok_or("this instance runs no daemon")?;
    let config = daemon.config();
    let path = managed_path(&config.state_dir);
    let mut parts = match std::fs::read_to_string(&path) {
        Ok(text) => read_managed(&text).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ManagedParts::default(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    change(&mut parts)?;
    let text = compose_managed(&parts)?;
    let overrides = Overrides {
        state_dir: Some(Override {
            value: config.state_dir.clone(),
            origin: "the daemon's state_dir".into(),
        }),
    };
    let validated = cairn_config::load_with_managed(config.source().path(), &overrides, &text)
        .map_err(|errors| {
            errors
                .errors()
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    write_whole(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    daemon.reload(validated);
    Ok(())
}

/// A temporary file (0600) synced and renamed over `path`: readers see the old file or the
/// new one, never a part.
fn write_whole(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("toml.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

//! `cairn daemon`: the scheduler, the queue and the API on `STATE_DIR/cairn.sock`, in the
//! foreground. SIGTERM (or SIGINT) stops taking jobs, cancels the running ones and exits once
//! they have released their locks; SIGHUP reloads the config (a broken one is refused and the
//! old one kept). Tells systemd it is ready when started as `Type=notify`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cairn_jobs::daemon::alerts::NotifierAlerts;
use cairn_jobs::daemon::{Daemon, DaemonOptions};
use cairn_jobs::notify::Notifier;
use cairn_jobs::open::OpenOptions;
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::GlobalArgs;

/// How long running jobs get to stop after SIGTERM before the daemon exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The socket of the daemon whose state lives in `state_dir`.
pub fn socket_path(state_dir: &std::path::Path) -> std::path::PathBuf {
    state_dir.join("cairn.sock")
}

pub fn run(global: &GlobalArgs) -> Result<u8> {
    let config = super::load_config(global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("cairn-daemon")
        .build()
        .context("cannot start the daemon's runtime")?;
    runtime.block_on(serve(global, config))
}

async fn serve(global: &GlobalArgs, config: cairn_config::Config) -> Result<u8> {
    let socket = socket_path(&config.state_dir);
    let metrics_listen = config.daemon.metrics_listen;
    let config_server = config.server.clone();
    let state_dir = config.state_dir.clone();
    // The notifier records its deliveries through a connection of its own.
    let deliveries = Arc::new(
        cairn_state::StateStore::open(&config.state_dir)
            .with_context(|| format!("cannot open the state in {}", config.state_dir.display()))?,
    );
    let alerts = NotifierAlerts::new(
        Notifier::new(config.notify.clone(), deliveries.clone()),
        deliveries,
    );
    let options = DaemonOptions {
        open: OpenOptions {
            cache_base: global.cache_dir.clone(),
            no_cache: global.no_cache,
        },
        streams_of: &super::run::STREAMS_OF,
        clock: Arc::new(chrono::Utc::now),
        alerts: Arc::new(alerts),
    };
    let multihost = cairn_server::sync::Multihost::open(multihost_settings(&config))
        .context("cannot start multihost")?;
    let daemon = Daemon::start(config, options)?;
    multihost.set_daemon(daemon.clone());
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };
    let api = cairn_server::api::router_with(
        daemon.clone(),
        cairn_server::sync::api::routes(multihost.clone()),
    );
    let api_task = tokio::spawn({
        let socket = socket.clone();
        let stopped = stopped();
        async move { cairn_server::serve::serve_unix(&socket, api, stopped).await }
    });
    let metrics_task = match metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} for /metrics"))?;
            let router = axum::Router::new()
                .route("/metrics", axum::routing::get(metrics))
                .with_state(daemon.clone());
            let stopped = stopped();
            Some(tokio::spawn(async move {
                cairn_server::serve::serve_tcp(listener, router, stopped).await
            }))
        }
        None => None,
    };
    let web_task = match config_server {
        Some(server) => Some(
            start_web(
                &state_dir,
                server,
                daemon.clone(),
                multihost.clone(),
                stopped(),
            )
            .await?,
        ),
        None => None,
    };
    let engine = tokio::spawn(daemon.clone().run());
    let dialer = multihost.start_dialer();
    tracing::info!("cairn daemon ready; API on {}", socket.display());
    notify_systemd("READY=1");

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => reload(global, &daemon),
        }
    }
    notify_systemd("STOPPING=1");
    tracing::info!("stopping: no new jobs; cancelling the running ones");
    let clean = daemon.shutdown(SHUTDOWN_GRACE).await;
    let _ = stop_sender.send(true);
    engine.abort();
    dialer.abort();
    let _ = api_task.await;
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    if let Some(task) = web_task {
        // Its error, if any, was logged when it happened.
        let _ = task.await;
    }
    let _ = std::fs::remove_file(&socket);
    if !clean {
        tracing::warn!(
            "some jobs did not stop within {}s",
            SHUTDOWN_GRACE.as_secs()
        );
        cairn_repo::lock::release_held_locks();
    }
    Ok(0)
}

/// Starts the web UI and API on `[server] listen`; with no user yet, prints the one-time
/// setup link (on stdout, where the person who started the daemon looks).
async fn start_web(
    state_dir: &std::path::Path,
    server: cairn_config::Server,
    daemon: Arc<Daemon>,
    multihost: Arc<cairn_server::sync::Multihost>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<Result<(), cairn_server::serve::ServeError>>> {
    let state = Arc::new(
        cairn_state::StateStore::open(state_dir)
            .with_context(|| format!("cannot open the state in {}", state_dir.display()))?,
    );
    let key = Arc::new(cairn_access::InstanceKey::load_or_create(state_dir)?);
    let clock = cairn_access::accounts::system_clock();
    let accounts = Arc::new(cairn_access::Accounts::new(
        state,
        key,
        clock.clone(),
        cairn_access::SessionPolicy {
            idle: server.session_idle_timeout.as_std(),
            max_age: server.session_max_age.as_std(),
        },
    ));
    if let Some(tls) = &server.tls {
        // Fail at start, not at the first connection.
        cairn_server::tls::acceptor(&tls.cert, &tls.key)?;
    }
    let listener = tokio::net::TcpListener::bind(server.listen)
        .await
        .with_context(|| format!("cannot listen on {} for the web UI", server.listen))?;
    let local = listener.local_addr()?;
    let scheme = if server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let base = server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}"));
    if let Some(token) = accounts.setup_token()? {
        println!("cairn has no user yet. Create the first administrator at:\n  {base}/setup?token={token}\n(the link works once; a restart prints a new one)");
    }
    tracing::info!("web UI and API on {base}");
    multihost.set_server_urls(vec![base.clone()]);
    let settings = cairn_server::app::ServerSettings::from_config(&server);
    let app = cairn_server::app::tcp_app(Arc::new(cairn_server::app::ServerState {
        daemon,
        accounts,
        throttle: cairn_access::LoginThrottle::new(clock),
        settings,
        multihost: Some(multihost.clone()),
    }))
    // The sync endpoint authenticates with its own handshake: outside sessions and CSRF.
    .merge(cairn_server::sync::endpoint::routes(multihost));
    Ok(tokio::spawn(async move {
        let served =
            cairn_server::serve::serve_app(listener, app, server.tls.as_ref(), stopped).await;
        // Said when it happens, not at shutdown: a daemon whose UI died keeps running jobs,
        // and someone must learn that the UI and API are gone.
        if let Err(error) = &served {
            tracing::error!("the web UI and API on {base} stopped: {error}");
        }
        served
    }))
}

/// Multihost from the config: the URLs a token names are the listener's (`public_url`, else
/// `listen`); the label is `[multihost] label` or the host name.
fn multihost_settings(config: &cairn_config::Config) -> cairn_server::sync::MultihostSettings {
    let label = config.multihost.label.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "cairn".into())
    });
    cairn_server::sync::MultihostSettings {
        state_dir: config.state_dir.clone(),
        label,
        server_urls: config.server.iter().map(|server| server.origin()).collect(),
        server_token: config.multihost.server.clone(),
        ca_file: config.multihost.ca_file.clone(),
        backoff_seed: None,
    }
}

async fn metrics(
    axum::extract::State(daemon): axum::extract::State<Arc<Daemon>>,
) -> impl axum::response::IntoResponse {
    let text = tokio::task::spawn_blocking(move || daemon.metrics())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match text {
        Ok(text) => (
            axum::http::StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            e,
        ),
    }
}

/// SIGHUP: validate the file again; take it only if it is whole.
fn reload(global: &GlobalArgs, daemon: &Daemon) {
    match super::load_config(global) {
        Ok(config) => {
            if config.state_dir != daemon.config().state_dir {
                tracing::error!(
                    "reload refused: state_dir changed to {}; restart the daemon to move its state",
                    config.state_dir.display()
                );
                return;
            }
            daemon.reload(config);
            tracing::info!("config reloaded");
        }
        Err(e) => tracing::error!("reload refused, the old config stays: {e:#}"),
    }
}

/// `sd_notify`: a datagram to `$NOTIFY_SOCKET` when systemd asked for one.
fn notify_systemd(message: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let socket = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(socket) => socket,
        Err(_) => return,
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)
            .and_then(|address| socket.send_to_addr(message.as_bytes(), &address))
    } else {
        socket.send_to(message.as_bytes(), &path)
    };
    if let Err(e) = sent {
        tracing::warn!("cannot tell systemd {message}: {e}");
    }
}

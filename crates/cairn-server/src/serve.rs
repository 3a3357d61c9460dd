//! Serving a router: on the daemon's unix socket (mode 0600, so only its user may talk to
//! it) or on a TCP address, until `shutdown` resolves.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::Router;

/// Binds `path` (replacing a socket file a crashed daemon left) and serves `router` on it.
pub async fn serve_unix(
    path: &Path,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if path.exists() {
        // A live daemon answers on it; a dead one's file is in the way.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "a daemon already listens on {}; stop it first",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `router` on a TCP listener (e.g. `/metrics` on `metrics_listen`).
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the TCP application (UI and API) on `listener`, over TLS when `tls` names the
/// certificate and key, with each connection's peer address available to handlers (the
/// rate limit and the audit log use it).
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<&cairn_config::TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let service = app.into_make_service_with_connect_info::<crate::auth::origin::ClientAddress>();
    match tls {
        None => axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Io),
        Some(files) => {
            let acceptor = crate::tls::acceptor(&files.cert, &files.key)?;
            let listener =
                crate::tls::TlsListener::new(listener, acceptor).map_err(ServeError::Io)?;
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(ServeError::Io)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("the web server stopped: {0}")]
    Io(std::io::Error),
}

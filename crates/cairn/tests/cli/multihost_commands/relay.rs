//! An intercepting relay on loopback, as a hostile network operator (or a TLS-terminating
//! reverse proxy) would run one: it terminates the client's TLS with a certificate of its
//! own CA, and records every plaintext byte it handles: the WebSocket upgrade and each
//! message's payload, unmasked. Modes:
//! - `Forward`: re-opens TLS to the real server and carries the WebSocket both ways; once
//!   armed, it flips one bit in the next frame the client sends after the handshake.
//! - `Impersonate`: answers the WebSocket itself, as a server with an identity key of its
//!   own, and counts what the client sends after that answer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Impersonate,
}

#[derive(Default)]
struct Shared {
    capture: Mutex<Vec<u8>>,
    connections: AtomicUsize,
    armed: AtomicBool,
    tampered: AtomicUsize,
    answered: AtomicUsize,
    after_answer: AtomicUsize,
    finished: AtomicUsize,
}

impl Shared {
    fn record(&self, bytes: &[u8]) {
        self.capture
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
    }
}

/// The running relay; its tasks stop when it is dropped (with its runtime).
pub struct Relay {
    pub port: u16,
    /// The relay's CA certificate (PEM): what the client is told to trust.
    pub ca_pem: String,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl Relay {
    /// Listens on a loopback port; in `Forward` mode it dials the server at `upstream`
    /// (HTTPS, trusting `upstream_cert`).
    pub fn start(mode: Mode, upstream: u16, upstream_cert: CertificateDer<'static>) -> Relay {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "intercepting relay CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(upstream_cert).unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let accepting = shared.clone();
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let (shared, acceptor, connector) =
                    (accepting.clone(), acceptor.clone(), connector.clone());
                let done = shared.clone();
                tokio::spawn(async move {
                    let outcome = match mode {
                        Mode::Forward => forward(tcp, acceptor, connector, upstream, shared).await,
                        Mode::Impersonate => impersonate(tcp, acceptor, shared).await,
                    };
                    if let Err(error) = outcome {
                        eprintln!("relay: {error}");
                    }
                    done.finished.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Relay {
            port,
            ca_pem: ca.pem(),
            shared,
            _runtime: runtime,
        }
    }

    pub fn capture(&self) -> Vec<u8> {
        self.shared
            .capture
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Flip a bit in the next frame the client sends after its handshake.
    pub fn arm_tamper(&self) {
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    pub fn tampered(&self) -> usize {
        self.shared.tampered.load(Ordering::SeqCst)
    }

    /// Impersonate: how many handshakes the relay answered as the server.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Connections the relay is done with.
    pub fn finished(&self) -> usize {
        self.shared.finished.load(Ordering::SeqCst)
    }

    /// Impersonate: messages the client sent after the relay's answer.
    pub fn frames_after_answer(&self) -> usize {
        self.shared.after_answer.load(Ordering::SeqCst)
    }
}

/// Accepts TLS and the WebSocket upgrade, recording the request; returns the socket and
/// the request's path.
// The callback's error type is tungstenite's (an HTTP response), large or not.
#[allow(clippy::result_large_err)]
async fn accept(
    tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: &Arc<Shared>,
) -> Result<
    (
        tokio_tungstenite::WebSocketStream<tokio_rustls::server::TlsStream<TcpStream>>,
        String,
    ),
    String,
> {
    let tls = acceptor
        .accept(tcp)
        .await
        .map_err(|e| format!("TLS accept: {e}"))?;
    let path = Arc::new(Mutex::new(String::new()));
    let seen = (shared.clone(), path.clone());
    let socket =
        tokio_tungstenite::accept_hdr_async(tls, move |request: &Request, response: Response| {
            let (shared, path) = seen;
            let mut head = format!("{} {}\r\n", request.method(), request.uri());
            for (name, value) in request.headers() {
                head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
            }
            shared.record(head.as_bytes());
            *path.lock().unwrap() = request.uri().path().to_string();
            Ok::<Response, ErrorResponse>(response)
        })
        .await
        .map_err(|e| format!("WebSocket accept: {e}"))?;
    let path = path.lock().unwrap().clone();
    Ok((socket, path))
}

async fn forward(
    tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
    upstream: u16,
    shared: Arc<Shared>,
) -> Result<(), String> {
    let (client, path) = accept(tcp, acceptor, &shared).await?;
    let tcp = TcpStream::connect(("127.0.0.1", upstream))
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("upstream TLS: {e}"))?;
    let (server, _) =
        tokio_tungstenite::client_async(format!("wss://127.0.0.1:{upstream}{path}"), tls)
            .await
            .map_err(|e| format!("upstream WebSocket: {e}"))?;
    let (mut to_client, mut from_client) = client.split();
    let (mut to_server, mut from_server) = server.split();
    let up = async {
        // Client messages 0 and 1 are handshake messages 1 and 3.
        let mut index = 0usize;
        while let Some(Ok(message)) = from_client.next().await {
            let message = match message {
                Message::Binary(bytes) => {
                    shared.record(&bytes);
                    let mut bytes = bytes.to_vec();
                    if index >= 2 && shared.armed.swap(false, Ordering::SeqCst) {
                        let middle = bytes.len() / 2;
                        bytes[middle] ^= 0x01;
                        shared.tampered.fetch_add(1, Ordering::SeqCst);
                    }
                    index += 1;
                    Message::Binary(bytes.into())
                }
                Message::Close(frame) => {
                    let _ = to_server.send(Message::Close(frame)).await;
                    break;
                }
                // Pings are answered by each hop; text never belongs on this stream.
                _ => continue,
            };
            if to_server.send(message).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        while let Some(Ok(message)) = from_server.next().await {
            let message = match message {
                Message::Binary(bytes) => {
                    shared.record(&bytes);
                    Message::Binary(bytes)
                }
                Message::Close(frame) => {
                    let _ = to_client.send(Message::Close(frame)).await;
                    break;
                }
                _ => continue,
            };
            if to_client.send(message).await.is_err() {
                break;
            }
        }
    };
    // Either side gone ends both: the sockets are dropped.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
    Ok(())
}

async fn impersonate(
    tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) -> Result<(), String> {
    let (mut client, _) = accept(tcp, acceptor, &shared).await?;
    let message1 = loop {
        match client.next().await {
            Some(Ok(Message::Binary(bytes))) => break bytes,
            Some(Ok(_)) => continue,
            _ => return Err("the client left before its first message".into()),
        }
    };
    shared.record(&message1);
    let impostor = cairn_sync::Identity::generate(&mut rand::rngs::OsRng);
    let (_state, message2) =
        cairn_sync::ServerHandshake::respond(&impostor, &message1, &mut rand::rngs::OsRng)
            .map_err(|e| format!("respond: {e}"))?;
    shared.answered.fetch_add(1, Ordering::SeqCst);
    client
        .send(Message::Binary(message2.into()))
        .await
        .map_err(|e| format!("send message 2: {e}"))?;
    // Whatever comes now would be the client's proof; it must close instead.
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = client.next() => match next {
                Some(Ok(Message::Binary(bytes))) => {
                    shared.record(&bytes);
                    shared.after_answer.fetch_add(1, Ordering::SeqCst);
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ok(()),
                Some(Ok(_)) => {}
            },
            () = &mut deadline => return Ok(()),
        }
    }
}

//! HTTPS on a real socket: the server answers over TLS with the configured certificate,
//! sends HSTS, and marks the session cookie Secure; a plain-HTTP client gets nothing.

use std::sync::Arc;

use cairn_access::{Accounts, InstanceKey, LoginThrottle, SessionPolicy};
use cairn_server::app::{tcp_app, ServerSettings, ServerState};

use crate::support::{TestServer, ADMIN_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_is_served_over_tls_with_hsts_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = TestServer::with_config(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    ));
    let server_config = base.daemon.config().server.clone().unwrap();
    let state_dir = base.daemon.config().state_dir.clone();
    let accounts = Arc::new(Accounts::new(
        Arc::new(cairn_state::StateStore::open(&state_dir).unwrap()),
        Arc::new(InstanceKey::load_or_create(&state_dir).unwrap()),
        cairn_access::accounts::system_clock(),
        SessionPolicy {
            idle: std::time::Duration::from_secs(600),
            max_age: std::time::Duration::from_secs(3600),
        },
    ));
    let setup = accounts.setup_token().unwrap().unwrap();
    let app = tcp_app(Arc::new(ServerState {
        daemon: base.daemon.clone(),
        accounts: accounts.clone(),
        throttle: LoginThrottle::new(cairn_access::accounts::system_clock()),
        settings: ServerSettings::from_config(&server_config),
        multihost: None,
    }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let tls = server_config.tls.clone();
    let serving = tokio::spawn(async move {
        cairn_server::serve::serve_app(listener, app, tls.as_ref(), async {
            let _ = stopped.await;
        })
        .await
    });

    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = format!("https://localhost:{port}");
    let login = client.get(format!("{origin}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    assert!(login.headers().get("strict-transport-security").is_some());
    let created = client
        .post(format!("{origin}/setup"))
        .header("origin", &origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={setup}&name=admin&password={}",
            cairn_server::web::context::percent_encode(ADMIN_PASSWORD)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let cookie = created
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP on the TLS port gets no page.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/login"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

//! The restic REST endpoint: its rules in process (logins, repositories a login may use,
//! append-only, names, hashes, quota, listings), and cairn's `rest:` store passing the storage
//! conformance suite against the endpoint served on a real socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn_access::LoginThrottle;
use cairn_server::app::{tcp_app, ServerSettings, ServerState};
use cairn_storage::conformance::{self, named, Capabilities};
use cairn_storage::rest::{RestLocation, RestRetry};
use cairn_storage::{FileKind, RestStore, Storage};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::TestServer;

const PASSWORD: &str = "client password 2041";

/// Repositories served to restic clients beside the test server's own.
fn served_repositories(dir: &std::path::Path) -> String {
    format!(
        "\n[repositories.open]\nlocation = \"{open}\"\npassword_env = \"CAIRN_TEST_NEVER_SET\"\nrest = {{ append_only = false }}\n\
         [repositories.clients]\nlocation = \"{clients}\"\npassword_env = \"CAIRN_TEST_NEVER_SET\"\nrest = {{ enabled = true, quota = \"4K\" }}\n",
        open = dir.join("open").display(),
        clients = dir.join("clients").display(),
    )
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    login: Option<(&str, &str)>,
    body: Vec<u8>,
    accept: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some((name, password)) = login {
        let encoded = STANDARD.encode(format!("{name}:{password}"));
        request = request.header(header::AUTHORIZATION, format!("Basic {encoded}"));
    }
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = server
        .app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

const LAPTOP: Option<(&str, &str)> = Some(("laptop", PASSWORD));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_keeps_restic_rest_servers_append_only_rules() {
    let repos = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(&served_repositories(repos.path()));
    server
        .accounts
        .add_rest_user("laptop", &["clients".into()], PASSWORD, "test")
        .unwrap();
    server
        .accounts
        .add_rest_user("stranger", &["open".into()], PASSWORD, "test")
        .unwrap();
    let root = "/rest/clients/";

    // Logins: none, a wrong password, and a login that may not use the repository (the same
    // 404 as for a repository that does not exist, or one that is not served).
    let anonymous = send(
        &server,
        Method::GET,
        "/rest/clients/keys/",
        None,
        vec![],
        None,
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers.get(header::WWW_AUTHENTICATE).is_some());
    let wrong = Some(("laptop", "not the password at all"));
    let refused = send(
        &server,
        Method::GET,
        "/rest/clients/keys/",
        wrong,
        vec![],
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let stranger = Some(("stranger", PASSWORD));
    for path in [
        "/rest/clients/keys/",
        "/rest/nothing/keys/",
        "/rest/main/keys/",
    ] {
        let answer = send(&server, Method::GET, path, stranger, vec![], None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    // A bearer token means nothing here.
    let (_, token) = server
        .accounts
        .create_token(
            "ci",
            cairn_access::Role::Admin,
            cairn_access::Scopes::all(),
            None,
            "test",
        )
        .unwrap();
    let bearer = Request::builder()
        .uri("/rest/clients/keys/")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let answer = server.app.clone().oneshot(bearer).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);

    let create = send(
        &server,
        Method::POST,
        "/rest/clients/?create=true",
        LAPTOP,
        vec![],
        None,
    )
    .await;
    assert_eq!(create.status, StatusCode::OK);
    let config = send(
        &server,
        Method::POST,
        "/rest/clients/config",
        LAPTOP,
        b"sealed config".to_vec(),
        None,
    )
    .await;
    assert_eq!(config.status, StatusCode::OK);
    let again = send(
        &server,
        Method::POST,
        "/rest/clients/config",
        LAPTOP,
        b"another config".to_vec(),
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "config exists");
    let head = send(
        &server,
        Method::HEAD,
        "/rest/clients/config",
        LAPTOP,
        vec![],
        None,
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers[header::CONTENT_LENGTH], "13");

    let pack = b"pack bytes of a backup".to_vec();
    let pack_name = named(&pack);
    let wrong_hash = send(
        &server,
        Method::POST,
        &format!("{root}data/{}", named(b"other")),
        LAPTOP,
        pack.clone(),
        None,
    )
    .await;
    assert_eq!(wrong_hash.status, StatusCode::BAD_REQUEST);
    let stored = send(
        &server,
        Method::POST,
        &format!("{root}data/{pack_name}"),
        LAPTOP,
        pack.clone(),
        None,
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK);
    let overwrite = send(
        &server,
        Method::POST,
        &format!("{root}data/{pack_name}"),
        LAPTOP,
        pack.clone(),
        None,
    )
    .await;
    assert_eq!(overwrite.status, StatusCode::FORBIDDEN, "never replaced");
    let range = Request::builder()
        .uri(format!("{root}data/{pack_name}"))
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("laptop:{PASSWORD}"))),
        )
        .header(header::RANGE, "bytes=5-9")
        .body(Body::empty())
        .unwrap();
    let partial = server.app.clone().oneshot(range).await.unwrap();
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    let part = partial.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&part[..], &pack[5..10]);

    // Append-only: data, index, snapshots, keys and config stay; locks may go.
    for path in [format!("{root}data/{pack_name}"), format!("{root}config")] {
        let delete = send(&server, Method::DELETE, &path, LAPTOP, vec![], None).await;
        assert_eq!(delete.status, StatusCode::FORBIDDEN, "{path}");
    }
    let lock = b"lock".to_vec();
    let lock_path = format!("{root}locks/{}", named(&lock));
    assert_eq!(
        send(&server, Method::POST, &lock_path, LAPTOP, lock, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&server, Method::DELETE, &lock_path, LAPTOP, vec![], None)
            .await
            .status,
        StatusCode::OK
    );

    // Names: only 64 lowercase hex digits of a known kind reach the store.
    let upper = pack_name.to_uppercase();
    for bad in [
        format!("{root}keys/../config"),
        format!("{root}keys/%2e%2e"),
        format!("{root}keys/%2e%2e%2fconfig"),
        format!("{root}data/{upper}"),
        format!("{root}data/{}", &pack_name[..63]),
        format!("{root}data/{}/{pack_name}", &pack_name[..2]),
    ] {
        let answer = send(&server, Method::POST, &bad, LAPTOP, b"x".to_vec(), None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    for unknown in [
        format!("{root}../main/config"),
        format!("{root}%2e%2e/config"),
    ] {
        let answer = send(&server, Method::GET, &unknown, LAPTOP, vec![], None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{unknown}");
    }

    // Quota (4 KiB): an upload that would pass it is refused with 507 and not stored.
    let big = vec![7u8; 5000];
    let over = send(
        &server,
        Method::POST,
        &format!("{root}data/{}", named(&big)),
        LAPTOP,
        big.clone(),
        None,
    )
    .await;
    assert_eq!(over.status, StatusCode::INSUFFICIENT_STORAGE);
    let head = send(
        &server,
        Method::HEAD,
        &format!("{root}data/{}", named(&big)),
        LAPTOP,
        vec![],
        None,
    )
    .await;
    assert_eq!(head.status, StatusCode::NOT_FOUND, "nothing stored");

    // Listings: v1 names, v2 names and sizes.
    let v1 = send(
        &server,
        Method::GET,
        &format!("{root}data/"),
        LAPTOP,
        vec![],
        None,
    )
    .await;
    assert_eq!(
        v1.headers[header::CONTENT_TYPE],
        "application/vnd.x.restic.rest.v1"
    );
    let names: Vec<String> = serde_json::from_slice(&v1.body).unwrap();
    assert_eq!(names, [pack_name.as_str()]);
    let v2 = send(
        &server,
        Method::GET,
        &format!("{root}data/"),
        LAPTOP,
        vec![],
        Some("application/vnd.x.restic.rest.v2"),
    )
    .await;
    let listed: serde_json::Value = serde_json::from_slice(&v2.body).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([{ "name": pack_name, "size": pack.len() }])
    );
    let files: Vec<_> = walk(repos.path());
    assert!(
        files
            .iter()
            .all(|f| f.starts_with(repos.path().join("clients"))),
        "nothing written outside the repository: {files:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_store_passes_the_conformance_suite_against_the_endpoint() {
    let repos = tempfile::tempdir().unwrap();
    let base = TestServer::with_config(&served_repositories(repos.path()));
    base.accounts
        .add_rest_user(
            "tester",
            &["open".into(), "clients".into()],
            PASSWORD,
            "test",
        )
        .unwrap();
    let server_config = base.daemon.config().server.clone().unwrap();
    let app = tcp_app(Arc::new(ServerState {
        daemon: base.daemon.clone(),
        accounts: base.accounts.clone(),
        throttle: LoginThrottle::new(cairn_access::accounts::system_clock()),
        settings: ServerSettings::from_config(&server_config),
        multihost: None,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        cairn_server::serve::serve_app(listener, app, None, async {
            let _ = stopped.await;
        })
        .await
    });
    let url = |repository: &str, password: &str| {
        RestLocation::parse(&format!(
            "rest:http://tester:{}@127.0.0.1:{port}/rest/{repository}/",
            password.replace(' ', "%20")
        ))
        .unwrap()
    };
    let open = url("open", PASSWORD);
    let clients = url("clients", PASSWORD);
    let wrong = url("open", "a wrong password here");
    tokio::task::spawn_blocking(move || {
        let store = RestStore::open(open, None, RestRetry::default()).unwrap();
        conformance::run_with(
            &store,
            Capabilities {
                replaces_objects: false,
                sidecars: false,
            },
        );
        assert!(!store.location().contains(PASSWORD));
        // The append-only repository refuses deletions; the quota answers 507 as NoSpace.
        let append_only = RestStore::open(clients, None, RestRetry::default()).unwrap();
        append_only.create().unwrap();
        let data = b"snapshot".to_vec();
        append_only
            .put(FileKind::Snapshot, &named(&data), &data)
            .unwrap();
        let err = append_only
            .remove(FileKind::Snapshot, &named(&data))
            .unwrap_err();
        assert_eq!(
            err.kind,
            cairn_storage::ErrorKind::PermissionDenied,
            "{err}"
        );
        let big = vec![1u8; 8000];
        let err = append_only
            .put(FileKind::Pack, &named(&big), &big)
            .unwrap_err();
        assert_eq!(err.kind, cairn_storage::ErrorKind::NoSpace, "{err}");
        assert!(err.to_string().contains("quota"), "{err}");
        let refused = RestStore::open(wrong, None, RestRetry::default()).unwrap();
        let err = refused.list(FileKind::Key).unwrap_err();
        assert_eq!(
            err.kind,
            cairn_storage::ErrorKind::PermissionDenied,
            "{err}"
        );
        assert!(!err.to_string().contains("wrong password"), "{err}");
    })
    .await
    .unwrap();
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

//! The S3 store against a real S3 server (moto, SigV4 checked).

use std::time::{Duration, Instant};

use super::*;
use crate::s3_test_server::{self as server, unique_prefix, S3TestServer};

#[test]
fn passes_the_storage_conformance_suite() {
    let store = S3TestServer::shared().store(&unique_prefix("conformance"));
    crate::conformance::run_all(&store);
}

#[test]
fn passes_the_suite_at_the_bucket_root() {
    let server = S3TestServer::start(&["root-bucket"]);
    let location = S3Location::parse(&server.url("root-bucket", "")).unwrap();
    let store = S3Store::open(location, S3Options::new(S3TestServer::credentials())).unwrap();
    crate::conformance::run_all(&store);
}

#[test]
fn a_wrong_secret_is_refused_naming_the_key_id_but_not_the_secret() {
    let server = S3TestServer::shared();
    let location = S3Location::parse(&server.url(server::BUCKET, "wrong-secret")).unwrap();
    let mut options = S3Options::new(S3TestServer::credentials());
    options.credentials.secret_access_key = "not-the-right-secret-xyz".into();
    let store = S3Store::open(location, options).unwrap();
    let started = Instant::now();
    let err = store.get(FileKind::Config, "config").unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
    let text = err.to_string();
    assert!(text.contains(server::ACCESS_KEY_ID), "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(!text.contains("not-the-right-secret"), "{text}");
    assert!(!text.contains(server::SECRET_ACCESS_KEY), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a 403 is not retried"
    );
}

#[test]
fn an_unknown_key_id_is_refused() {
    let server = S3TestServer::shared();
    let location = S3Location::parse(&server.url(server::BUCKET, "")).unwrap();
    let mut options = S3Options::new(S3TestServer::credentials());
    options.credentials.access_key_id = "AKIAUNKNOWNKEY000001".into();
    let err = S3Store::open(location, options)
        .unwrap()
        .list(FileKind::Snapshot)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("AKIAUNKNOWNKEY000001"), "{err}");
    assert!(err.to_string().contains("InvalidAccessKeyId"), "{err}");
}

#[test]
fn a_missing_bucket_says_to_create_it() {
    let server = S3TestServer::shared();
    let location = S3Location::parse(&server.url("no-such-bucket", "repo")).unwrap();
    let store = S3Store::open(location, S3Options::new(S3TestServer::credentials())).unwrap();
    for err in [
        store.get(FileKind::Config, "config").unwrap_err(),
        store.list(FileKind::Snapshot).unwrap_err(),
        store.put(FileKind::Key, &"a".repeat(64), b"k").unwrap_err(),
    ] {
        assert_eq!(err.kind, ErrorKind::Misconfigured, "{err}");
        let expected = format!(
            "bucket no-such-bucket does not exist at {}; create it first",
            server.endpoint()
        );
        assert!(err.to_string().contains(&expected), "{err}");
    }
}

#[test]
fn an_unreachable_endpoint_fails_after_bounded_retries() {
    // A port nobody listens on: every attempt is refused at once. Port 1 rather than a port
    // picked free and released: a test server started meanwhile (tests run in parallel) could
    // take a released ephemeral port, and did; servers here bind port 0, never port 1.
    let port = 1;
    let location = S3Location::parse(&format!("s3:http://127.0.0.1:{port}/bucket/r")).unwrap();
    let mut options = S3Options::new(S3TestServer::credentials());
    options.retry = RetryPolicy {
        retries: 3,
        min_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        request_timeout: Duration::from_secs(5),
    };
    let store = S3Store::open(location, options).unwrap();
    let started = Instant::now();
    let err = store.get(FileKind::Config, "config").unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("did not answer after 3 retries"), "{text}");
    // 0.1 + 0.2 + 0.4 s of backoff (with jitter): retried, and bounded.
    assert!(
        elapsed >= Duration::from_millis(200),
        "not retried: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "unbounded: {elapsed:?}");
}

#[test]
fn a_key_without_delete_permission_is_told_which_action_is_missing() {
    let server = S3TestServer::shared();
    let location = S3Location::parse(&server.url(server::BUCKET, &unique_prefix("nodel"))).unwrap();
    let options = S3Options::new(S3Credentials {
        access_key_id: server::NO_DELETE_KEY_ID.into(),
        secret_access_key: server::NO_DELETE_SECRET.into(),
        session_token: None,
    });
    let store = S3Store::open(location, options).unwrap();
    let name = "b".repeat(64);
    store.put(FileKind::Lock, &name, b"lock").unwrap();
    let err = store.remove(FileKind::Lock, &name).unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("s3:DeleteObject"), "{err}");
}

/// A loopback proxy in front of the test server that answers the first `failures` requests
/// itself with `status` and an S3 error document (`code`), then forwards everything.
fn flaky_proxy(
    upstream_port: u16,
    failures: usize,
    status: &'static str,
    code: &'static str,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            if counter.load(Ordering::SeqCst) < failures {
                counter.fetch_add(1, Ordering::SeqCst);
                // Read the request head (and whatever body arrived), answer, close.
                let mut buf = [0u8; 65536];
                let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = client.read(&mut buf);
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
                     <Message>try again</Message></Error>"
                );
                let _ = write!(
                    client,
                    "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                continue;
            }
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                continue;
            };
            let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut c1, mut u1) = (client, upstream);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut u1);
                let _ = u1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, served)
}

#[test]
fn slow_down_and_server_errors_are_retried_until_the_request_succeeds() {
    let server = S3TestServer::shared();
    for (status, code) in [
        ("503 Slow Down", "SlowDown"),
        ("500 Internal Server Error", "InternalError"),
        ("429 Too Many Requests", "TooManyRequests"),
    ] {
        let (port, served) = flaky_proxy(server.port(), 3, status, code);
        let url = format!(
            "s3:http://127.0.0.1:{port}/{}/{}",
            server::BUCKET,
            unique_prefix("flaky")
        );
        let mut options = S3Options::new(S3TestServer::credentials());
        options.retry.min_delay = Duration::from_millis(50);
        options.retry.max_delay = Duration::from_millis(200);
        let store = S3Store::open(S3Location::parse(&url).unwrap(), options).unwrap();
        let name = "f".repeat(64);
        store
            .put(FileKind::Snapshot, &name, b"after three failures")
            .unwrap();
        assert_eq!(
            served.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "{code}: the failures were answered"
        );
        assert_eq!(
            store.get(FileKind::Snapshot, &name).unwrap(),
            b"after three failures"
        );
    }
}

#[test]
fn persistent_server_errors_give_up_after_the_retries() {
    let server = S3TestServer::shared();
    let (port, served) = flaky_proxy(
        server.port(),
        usize::MAX,
        "503 Service Unavailable",
        "ServiceUnavailable",
    );
    let url = format!("s3:http://127.0.0.1:{port}/{}/x", server::BUCKET);
    let mut options = S3Options::new(S3TestServer::credentials());
    options.retry = RetryPolicy {
        retries: 2,
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(100),
        request_timeout: Duration::from_secs(5),
    };
    let store = S3Store::open(S3Location::parse(&url).unwrap(), options).unwrap();
    let err = store.get(FileKind::Config, "config").unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("ServiceUnavailable and still did after 2 retries"),
        "{err}"
    );
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "one try and two retries"
    );
}

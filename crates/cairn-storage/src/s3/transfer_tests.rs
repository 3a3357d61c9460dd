//! What the S3 store puts on the wire, against a real S3 server (moto, with the test wrapper's
//! Content-MD5 check): bodies damaged in transit are refused and sent again, never stored;
//! the bandwidth limit paces uploads and downloads without breaking timeouts.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::*;
use crate::s3_test_proxy::S3TestProxy;
use crate::s3_test_server::{self as server, unique_prefix, S3TestServer};

/// A store at `url` with short backoff delays, so retried tests stay quick.
fn quick_store(url: &str, retries: usize, bandwidth_limit: Option<u64>) -> S3Store {
    let mut options = S3Options::new(S3TestServer::credentials());
    options.retry = RetryPolicy {
        retries,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        request_timeout: Duration::from_secs(20),
    };
    options.bandwidth_limit_bytes_per_sec = bandwidth_limit;
    S3Store::open(S3Location::parse(url).unwrap(), options).unwrap()
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut data = vec![0; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

#[test]
fn bodies_damaged_in_transit_are_refused_and_sent_again() {
    let server = S3TestServer::shared();
    let proxy = S3TestProxy::damaging_first_puts(server.port(), 2);
    let prefix = unique_prefix("damaged-twice");
    let store = quick_store(&proxy.url(server::BUCKET, &prefix), 3, None);
    // A small file, and a pack above OpenDAL's 5 MiB multipart threshold: still one PUT.
    let objects = [
        ("a".repeat(64), pseudo_random(700, 1)),
        ("b".repeat(64), pseudo_random(6 << 20, 2)),
    ];
    for (name, data) in &objects {
        store.put(FileKind::Pack, name, data).unwrap();
    }
    assert_eq!(proxy.damaged_puts(), 4, "two damaged attempts per object");
    let direct = server.store(&prefix);
    for (name, data) in &objects {
        assert!(
            direct.get(FileKind::Pack, name).unwrap() == *data,
            "{name} is stored as sent"
        );
    }
}

#[test]
fn a_body_damaged_on_every_attempt_fails_naming_the_object_and_is_not_stored() {
    let server = S3TestServer::shared();
    let proxy = S3TestProxy::damaging_first_puts(server.port(), usize::MAX);
    let prefix = unique_prefix("damaged-always");
    let store = quick_store(&proxy.url(server::BUCKET, &prefix), 2, None);
    let direct = server.store(&prefix);
    let fresh = "c".repeat(64);
    let replaced = "d".repeat(64);
    direct
        .put(FileKind::Index, &replaced, b"the good old bytes")
        .unwrap();

    let err = store
        .put(FileKind::Pack, &fresh, &pseudo_random(100_000, 3))
        .unwrap_err();
    assert_eq!(proxy.damaged_puts(), 3, "one try and two retries");
    assert!(err.is_retryable(), "{err}");
    let text = err.to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(&format!("data/cc/{fresh}")), "{text}");
    assert!(
        text.contains("BadDigest") && text.contains("on all 3 attempts"),
        "{text}"
    );
    assert!(direct
        .get(FileKind::Pack, &fresh)
        .unwrap_err()
        .is_not_found());

    store
        .put(FileKind::Index, &replaced, b"new bytes, damaged")
        .unwrap_err();
    assert_eq!(
        direct.get(FileKind::Index, &replaced).unwrap(),
        b"the good old bytes"
    );
}

/// Sends a raw PUT with the given Content-MD5 header (unsigned: the digest is checked first).
fn raw_put(port: u16, content_md5: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT /{}/raw-md5 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-MD5: {content_md5}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        server::BUCKET,
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_test_server_verifies_content_md5_as_s3_does() {
    let server = S3TestServer::shared();
    // MD5("hello") in base64; the body sent is "hellp".
    let bad = raw_put(server.port(), "XUFAKrxLKna5cZ2REBfFkg==", b"hellp");
    assert!(bad.starts_with("HTTP/1.1 400") && bad.contains("<Code>BadDigest</Code>"));
    let malformed = raw_put(server.port(), "not base64!", b"hello");
    assert!(
        malformed.starts_with("HTTP/1.1 400") && malformed.contains("<Code>InvalidDigest</Code>")
    );
}

#[test]
fn a_throttled_store_passes_the_conformance_suite() {
    let server = S3TestServer::shared();
    let url = server.url(server::BUCKET, &unique_prefix("throttled-conformance"));
    crate::conformance::run_all(&quick_store(&url, 2, Some(64 << 20)));
}

#[test]
fn throttled_transfers_may_outlast_the_request_timeout_and_downloads_are_paced_too() {
    let server = S3TestServer::shared();
    let url = server.url(server::BUCKET, &unique_prefix("throttled-slow"));
    let mut options = S3Options::new(S3TestServer::credentials());
    options.retry.retries = 0;
    options.retry.request_timeout = Duration::from_secs(1);
    options.bandwidth_limit_bytes_per_sec = Some(256 << 10);
    let store = S3Store::open(S3Location::parse(&url).unwrap(), options).unwrap();
    let name = "e".repeat(64);
    let data = pseudo_random(640 << 10, 4);

    // 640 KiB at 256 KiB/s: about 2.5 s each way, longer than the 1 s request timeout.
    let started = Instant::now();
    store.put(FileKind::Pack, &name, &data).unwrap();
    let upload = started.elapsed();
    let started = Instant::now();
    let read = store.get(FileKind::Pack, &name).unwrap();
    let download = started.elapsed();
    assert!(read == data);
    for (what, elapsed) in [("upload", upload), ("download", download)] {
        assert!(
            elapsed >= Duration::from_millis(2200) && elapsed < Duration::from_secs(6),
            "{what} took {elapsed:?}"
        );
    }
}

#[test]
fn a_throttled_store_still_times_out_a_server_that_never_answers() {
    // Accepts connections and reads whatever comes, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut sink = [0u8; 4096];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    let url = format!("s3:http://127.0.0.1:{port}/{}/silent", server::BUCKET);
    let mut options = S3Options::new(S3TestServer::credentials());
    options.retry = RetryPolicy {
        retries: 1,
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_secs(1),
    };
    options.bandwidth_limit_bytes_per_sec = Some(1 << 20);
    let store = S3Store::open(S3Location::parse(&url).unwrap(), options).unwrap();
    let started = Instant::now();
    let err = store
        .put(FileKind::Pack, &"f".repeat(64), &[7u8; 100_000])
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("no answer within 1 s"), "{err}");
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(8),
        "two attempts of 1 s each: {elapsed:?}"
    );
}

//! The browse, download and restore API against a real repository written by the engine:
//! three snapshots of a small tree, a daemon on a temporary state directory, requests sent
//! to the router in-process.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use cairn_access::{Identity, Principal, Role, Scopes};
use cairn_config::{Config, SourceText};
use cairn_jobs::daemon::{Daemon, DaemonOptions, LogAlerts};
use cairn_jobs::open::OpenOptions;
use cairn_repo::backup::{backup, BackupOptions, NoObserver, StreamEntry};
use cairn_repo::keys::KeyOptions;
use cairn_repo::Repository;
use cairn_storage::LocalStore;
use chrono::{FixedOffset, TimeZone};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const PASSWORD: &str = "browse-test";
const HOSTS_OLD: &[u8] = b"127.0.0.1 localhost\n10.0.0.1 db\n";
const HOSTS_NEW: &[u8] = b"127.0.0.1 localhost\n10.0.0.2 db\n10.0.0.3 cache\n";

fn no_streams(
    _: &cairn_config::Plan,
    _: &Path,
    _: Option<Arc<AtomicBool>>,
) -> cairn_jobs::Result<Vec<StreamEntry>> {
    Ok(Vec::new())
}

/// A repository with three snapshots of `source`, and a daemon whose config names it.
struct Fixture {
    dir: tempfile::TempDir,
    /// The backed-up directory; snapshot paths start with it.
    source: PathBuf,
    /// Snapshot ids, oldest first.
    snapshots: Vec<String>,
    big: Vec<u8>,
    daemon: Arc<Daemon>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let app = source.join("etc/app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(source.join("etc/hosts"), HOSTS_OLD).unwrap();
        std::fs::write(app.join("app.conf"), b"listen = 8080\n").unwrap();
        std::fs::write(app.join("empty.conf"), b"").unwrap();
        // Random bytes, larger than the chunker's minimum: several blobs.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let big: Vec<u8> = (0..3 * 1024 * 1024)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        std::fs::write(app.join("big.bin"), &big).unwrap();
        std::os::unix::fs::symlink("app.conf", app.join("current")).unwrap();

        let repo_dir = dir.path().join("repo");
        let key = KeyOptions {
            kdf: Some(cairn_crypto::KdfParams {
                n: 1024,
                r: 8,
                p: 1,
            }),
            ..KeyOptions::default()
        };
        let repo = Repository::init(
            Arc::new(LocalStore::new(&repo_dir)),
            PASSWORD.as_bytes(),
            &key,
        )
        .unwrap();
        let mut snapshots = Vec::new();
        for day in 1..=3 {
            if day == 3 {
                std::fs::write(source.join("etc/hosts"), HOSTS_NEW).unwrap();
            }
            let options = BackupOptions {
                time: Some(
                    FixedOffset::east_opt(0)
                        .unwrap()
                        .with_ymd_and_hms(2026, 11, day, 3, 0, 0)
                        .unwrap(),
                ),
                ..BackupOptions::default()
            };
            let summary =
                backup(&repo, std::slice::from_ref(&source), &options, &NoObserver).unwrap();
            snapshots.push(summary.snapshot_id.unwrap().to_hex());
        }

        let password_file = dir.path().join("password");
        std::fs::write(&password_file, PASSWORD).unwrap();
        let text = format!(
            "state_dir = \"{state}\"\n\
             [repositories.main]\nlocation = \"{repo}\"\npassword_file = \"{password}\"\n\
             [repositories.gone]\nlocation = \"{gone}\"\npassword_file = \"{password}\"\n",
            state = dir.path().join("state").display(),
            repo = repo_dir.display(),
            gone = dir.path().join("no-repository").display(),
            password = password_file.display(),
        );
        let config = Config::parse(SourceText::new("/etc/cairn/cairn.toml", &text)).unwrap();
        let daemon = Daemon::start(
            config,
            DaemonOptions {
                open: OpenOptions {
                    cache_base: None,
                    no_cache: true,
                },
                streams_of: &no_streams,
                clock: Arc::new(chrono::Utc::now),
                alerts: Arc::new(LogAlerts),
            },
        )
        .unwrap();
        Fixture {
            dir,
            source,
            snapshots,
            big,
            daemon,
        }
    }

    /// A snapshot path below the backed-up directory (`etc/hosts` → `/tmp/…/source/etc/hosts`).
    fn path(&self, below: &str) -> String {
        format!("{}/{below}", self.source.display())
    }

    fn restore_root(&self) -> PathBuf {
        self.dir.path().join("state/restores")
    }

    fn router(&self) -> Router {
        cairn_server::router(self.daemon.clone())
    }

    /// The API as a viewer sees it (reads, but no downloads or restores).
    fn viewer_router(&self) -> Router {
        cairn_server::api::routes(self.daemon.clone()).layer(axum::Extension(Principal {
            identity: Identity::User {
                id: 7,
                name: "vera".into(),
            },
            role: Role::Viewer,
            scopes: Scopes::all(),
        }))
    }
}

/// Percent-encodes a query value (paths hold `/`, which may stay).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(router: &Router, uri: &str) -> Answer {
    send(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(router: &Router, uri: &str, body: Value) -> Answer {
    send(
        router,
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_and_snapshots_are_listed_newest_first() {
    let f = Fixture::new();
    let router = f.router();
    let list = get(&router, "/api/v1/repositories").await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.json();
    let main = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "main")
        .unwrap();
    assert_eq!(main["snapshot_count"], 3);
    assert_eq!(
        main["location"],
        f.dir.path().join("repo").display().to_string()
    );
    assert!(main["last_snapshot"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-03T03:00:00"));
    assert_eq!(main["offsite"], Value::Null);
    // A repository that cannot be opened is listed with why.
    let gone = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "gone")
        .unwrap();
    assert!(
        gone["error"].as_str().unwrap().contains("no-repository"),
        "{gone}"
    );

    let snapshots = get(&router, "/api/v1/repositories/main/snapshots")
        .await
        .json();
    let ids: Vec<&str> = snapshots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let mut newest_first = f.snapshots.clone();
    newest_first.reverse();
    assert_eq!(ids, newest_first);
    assert_eq!(snapshots[0]["short_id"], &f.snapshots[2][..8]);
    assert_eq!(snapshots[0]["paths"][0], f.source.display().to_string());
    let none = get(
        &router,
        "/api/v1/repositories/main/snapshots?host=elsewhere",
    )
    .await
    .json();
    assert_eq!(none, serde_json::json!([]));
    assert_eq!(
        get(&router, "/api/v1/repositories/nope/snapshots")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_two_levels_down_lists_its_entries() {
    let f = Fixture::new();
    let uri = format!(
        "/api/v1/repositories/main/snapshots/latest/tree?path={}",
        encode(&f.path("etc/app"))
    );
    let answer = get(&f.router(), &uri).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let listing = answer.json();
    assert_eq!(listing["path"], f.path("etc/app"));
    let entries = listing["entries"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app.conf", "big.bin", "current", "empty.conf"]);
    assert_eq!(entries[0]["type"], "file");
    assert_eq!(entries[0]["size"], 14);
    assert_eq!(entries[0]["mode"], 0o644);
    assert!(entries[0]["mtime"].is_string());
    assert_eq!(entries[1]["size"], f.big.len());
    assert_eq!(entries[2]["type"], "symlink");
    assert_eq!(entries[2]["link_target"], "app.conf");
    // By id prefix too; a file is not a directory; a missing path is 404.
    let by_prefix = format!(
        "/api/v1/repositories/main/snapshots/{}/tree?path={}",
        &f.snapshots[0][..10],
        encode(&f.path("etc"))
    );
    let etc = get(&f.router(), &by_prefix).await.json();
    assert_eq!(etc["entries"].as_array().unwrap().len(), 2);
    let file = uri
        .replace("etc%2Fapp", "etc/hosts")
        .replace("etc/app", "etc/hosts");
    assert_eq!(
        get(&f.router(), &file).await.status,
        StatusCode::BAD_REQUEST
    );
    let missing = uri.replace("etc/app", "etc/nothing");
    let answer = get(&f.router(), &missing).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.json()["error"]
        .as_str()
        .unwrap()
        .contains("etc/nothing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_marks_the_versions_whose_content_changed() {
    let f = Fixture::new();
    let uri = format!(
        "/api/v1/repositories/main/history?path={}",
        encode(&f.path("etc/hosts"))
    );
    let answer = get(&f.router(), &uri).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let history = answer.json();
    let versions = history["versions"].as_array().unwrap();
    let got: Vec<(&str, bool, u64)> = versions
        .iter()
        .map(|v| {
            (
                v["snapshot"].as_str().unwrap(),
                v["changed"].as_bool().unwrap(),
                v["size"].as_u64().unwrap(),
            )
        })
        .collect();
    let (old, new) = (HOSTS_OLD.len() as u64, HOSTS_NEW.len() as u64);
    assert_eq!(
        got,
        [
            (f.snapshots[2].as_str(), true, new),
            (f.snapshots[1].as_str(), false, old),
            (f.snapshots[0].as_str(), true, old),
        ]
    );
    assert!(versions[0]["time"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-03T03:00:00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_names_newest_snapshot_first_up_to_the_limit() {
    let f = Fixture::new();
    let answer = get(
        &f.router(),
        "/api/v1/repositories/main/search?pattern=app.conf",
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let found = answer.json();
    let matches = found["matches"].as_array().unwrap();
    assert_eq!(found["truncated"], false);
    let snapshots: Vec<&str> = matches
        .iter()
        .map(|m| m["snapshot"].as_str().unwrap())
        .collect();
    assert_eq!(
        snapshots,
        [&f.snapshots[2], &f.snapshots[1], &f.snapshots[0]]
    );
    assert!(matches
        .iter()
        .all(|m| m["path"] == f.path("etc/app/app.conf") && m["type"] == "file"));

    let limited = get(
        &f.router(),
        "/api/v1/repositories/main/search?pattern=*.conf&limit=3",
    )
    .await
    .json();
    assert_eq!(limited["matches"].as_array().unwrap().len(), 3);
    assert_eq!(limited["truncated"], true);
    assert_eq!(limited["matches"][0]["snapshot"], f.snapshots[2].as_str());
    let bad = get(&f.router(), "/api/v1/repositories/main/search?pattern=%5B").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_stream_the_bytes_and_honour_one_range() {
    let f = Fixture::new();
    let router = f.router();
    let uri = |snapshot: &str, path: &str| {
        format!(
            "/api/v1/repositories/main/snapshots/{snapshot}/download?path={}",
            encode(&f.path(path))
        )
    };
    let whole = get(&router, &uri("latest", "etc/hosts")).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body, HOSTS_NEW);
    assert_eq!(
        whole.header(header::CONTENT_DISPOSITION),
        "attachment; filename=\"hosts\""
    );
    assert_eq!(whole.header(header::ACCEPT_RANGES), "bytes");
    assert_eq!(
        whole.header(header::CONTENT_LENGTH),
        HOSTS_NEW.len().to_string()
    );
    let older = get(&router, &uri(&f.snapshots[0], "etc/hosts")).await;
    assert_eq!(older.body, HOSTS_OLD);

    let ranged = |range: &str, path: &str| {
        Request::get(uri("latest", path))
            .header(header::RANGE, range)
            .body(Body::empty())
            .unwrap()
    };
    let part = send(&router, ranged("bytes=10-19", "etc/hosts")).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, &HOSTS_NEW[10..20]);
    assert_eq!(
        part.header(header::CONTENT_RANGE),
        format!("bytes 10-19/{}", HOSTS_NEW.len())
    );
    let beyond = send(&router, ranged("bytes=5000-6000", "etc/hosts")).await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.header(header::CONTENT_RANGE),
        format!("bytes */{}", HOSTS_NEW.len())
    );

    // A range across blob boundaries of a multi-blob file, and the whole file.
    let (first, last) = (1_000_000usize, 2_600_000usize);
    let big_part = send(
        &router,
        ranged(&format!("bytes={first}-{last}"), "etc/app/big.bin"),
    )
    .await;
    assert_eq!(big_part.status, StatusCode::PARTIAL_CONTENT);
    assert!(
        big_part.body == f.big[first..=last],
        "the range differs from the source"
    );
    let big = get(&router, &uri("latest", "etc/app/big.bin")).await;
    assert!(big.body == f.big, "the download differs from the source");
    let empty = get(&router, &uri("latest", "etc/app/empty.conf")).await;
    assert_eq!((empty.status, empty.body.len()), (StatusCode::OK, 0));
    // A directory is not a file.
    assert_eq!(
        get(&router, &uri("latest", "etc")).await.status,
        StatusCode::BAD_REQUEST
    );
}

/// Unpacks `archive` with the system tool into a new directory and returns it.
fn unpack(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let into = dir.join(format!("{name}.d"));
    std::fs::create_dir_all(&into).unwrap();
    let status = if name.ends_with(".zip") {
        std::process::Command::new("unzip")
            .arg("-q")
            .arg(&file)
            .arg("-d")
            .arg(&into)
            .status()
    } else {
        std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&file)
            .arg("-C")
            .arg(&into)
            .status()
    }
    .unwrap();
    assert!(status.success(), "unpacking {name} failed");
    into
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_unpack_to_the_source_tree() {
    let f = Fixture::new();
    let out = f.dir.path().join("unpacked");
    std::fs::create_dir_all(&out).unwrap();
    for format in ["tar.gz", "zip"] {
        let uri = format!(
            "/api/v1/repositories/main/snapshots/latest/archive?path={}&format={format}",
            encode(&f.path("etc"))
        );
        let answer = get(&f.router(), &uri).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{format}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(
            answer.header(header::CONTENT_DISPOSITION),
            format!("attachment; filename=\"etc.{format}\"")
        );
        let unpacked = unpack(&out, &format!("etc.{format}"), &answer.body);
        let diff = std::process::Command::new("diff")
            .arg("-r")
            .arg("--no-dereference")
            .arg(f.source.join("etc"))
            .arg(unpacked.join("etc"))
            .output()
            .unwrap();
        assert!(
            diff.status.success(),
            "{format} differs from the source: {}",
            String::from_utf8_lossy(&diff.stdout)
        );
        let link = std::fs::read_link(unpacked.join("etc/app/current")).unwrap();
        assert_eq!(link, Path::new("app.conf"), "{format}");
    }
    let bad = format!(
        "/api/v1/repositories/main/snapshots/latest/archive?path={}&format=rar",
        encode(&f.path("etc"))
    );
    assert_eq!(get(&f.router(), &bad).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_climb_out_are_refused_before_anything_is_read() {
    let f = Fixture::new();
    let router = f.router();
    let escapes = [
        "/../etc",
        "..",
        "%2e%2e",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/etc/./hosts",
        "etc/hosts",
        "/a//b",
    ];
    for escape in escapes {
        // `gone` cannot be opened: a path checked after opening would answer 404 there.
        for repo in ["main", "gone"] {
            for uri in [
                format!("/api/v1/repositories/{repo}/snapshots/latest/tree?path={escape}"),
                format!("/api/v1/repositories/{repo}/snapshots/latest/download?path={escape}"),
                format!("/api/v1/repositories/{repo}/snapshots/latest/archive?path={escape}"),
                format!("/api/v1/repositories/{repo}/history?path={escape}"),
            ] {
                let answer = get(&router, &uri).await;
                assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
                let error = answer.json()["error"].as_str().unwrap().to_string();
                assert!(error.contains("is not allowed"), "{uri}: {error}");
            }
        }
    }
    // The same request with a plain path reaches the repository (and fails there for `gone`).
    let plain = format!(
        "/api/v1/repositories/gone/snapshots/latest/tree?path={}",
        encode(&f.path("etc"))
    );
    assert_ne!(get(&router, &plain).await.status, StatusCode::BAD_REQUEST);

    let root = f.restore_root();
    let outside = f.dir.path().join("outside");
    for target in [
        "../outside",
        "a/../../outside",
        outside.to_str().unwrap(),
        "",
    ] {
        let answer = post(
            &router,
            "/api/v1/repositories/main/restore",
            serde_json::json!({ "snapshot": "latest", "target": target }),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{target}");
        let error = answer.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(&format!("{target:?}")), "{error}");
    }
    let escape_path = post(
        &router,
        "/api/v1/repositories/main/restore",
        serde_json::json!({ "snapshot": "latest", "target": "t", "path": "/../etc" }),
    )
    .await;
    assert_eq!(escape_path.status, StatusCode::BAD_REQUEST);
    assert!(
        !outside.exists() && !root.exists(),
        "a refused restore wrote something"
    );
    let jobs = get(&router, "/api/v1/jobs").await.json();
    assert_eq!(jobs, serde_json::json!([]), "a refused restore was queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_job_brings_the_file_back() {
    let f = Fixture::new();
    let running = tokio::spawn(f.daemon.clone().run());
    let router = f.router();
    let answer = post(
        &router,
        "/api/v1/repositories/main/restore",
        serde_json::json!({
            "snapshot": &f.snapshots[0][..8],
            "path": f.path("etc/hosts"),
            "target": "first",
        }),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let job = answer.json();
    assert_eq!(job["kind"], "restore");
    assert_eq!(job["repository"], "main");
    assert_eq!(job["request"]["snapshot"], f.snapshots[0].as_str());
    let id = job["id"].as_i64().unwrap();
    let mut finished = Value::Null;
    for _ in 0..200 {
        let shown = get(&router, &format!("/api/v1/jobs/{id}")).await.json();
        if !["queued", "running"].contains(&shown["job"]["state"].as_str().unwrap()) {
            finished = shown;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(finished["job"]["state"], "succeeded", "{finished}");
    assert_eq!(finished["steps"][0]["name"], "restore");
    let target = f.restore_root().join("first");
    let restored = target.join(f.path("etc/hosts").trim_start_matches('/'));
    assert_eq!(std::fs::read(&restored).unwrap(), HOSTS_OLD);
    // Only the path asked for.
    assert!(!target
        .join(f.path("etc/app").trim_start_matches('/'))
        .exists());
    assert!(
        finished["job"]["progress"]["files_done"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{finished}"
    );
    f.daemon.shutdown(Duration::from_secs(5)).await;
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_may_browse_but_not_download_or_restore() {
    let f = Fixture::new();
    let viewer = f.viewer_router();
    let tree = format!(
        "/api/v1/repositories/main/snapshots/latest/tree?path={}",
        encode(&f.path("etc"))
    );
    assert_eq!(get(&viewer, &tree).await.status, StatusCode::OK);
    for uri in [
        tree.replace("/tree?", "/download?")
            .replace("etc", "etc/hosts"),
        tree.replace("/tree?", "/archive?"),
    ] {
        let answer = get(&viewer, &uri).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("viewer vera may not download"));
    }
    let restore = post(
        &viewer,
        "/api/v1/repositories/main/restore",
        serde_json::json!({ "snapshot": "latest", "target": "x" }),
    )
    .await;
    assert_eq!(restore.status, StatusCode::FORBIDDEN);
    assert!(!f.restore_root().exists());
}

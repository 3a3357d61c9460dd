//! Offsite settings over the API against the moto S3 server: Test Connection with unsaved
//! values, a key pair sealed into the file (never plaintext, never in an answer), and the
//! job's store opening it with the instance key.

use axum::http::{Method, StatusCode};
use cairn_access::Role;
use cairn_storage::s3_test_server::{
    unique_prefix, S3TestServer, ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY,
};
use cairn_storage::Storage;
use serde_json::{json, Value};

use super::support::{call, TestDaemon, CONFIG};

const WRONG_SECRET: &str = "wrong-secret-4f1d-never-shown";

fn with_offsite(destination: &str) -> String {
    format!(
        "{CONFIG}\n# Mirrored offsite.\n[repositories.main.offsite]\ndestination = \"{destination}\"\ntransfers = 2            # gentle\n"
    )
}

fn step<'v>(body: &'v Value, name: &str) -> &'v Value {
    body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_names_the_failing_step_and_never_the_secret() {
    let server = S3TestServer::shared();
    let destination = server.url(BUCKET, &unique_prefix("api-offsite-test"));
    let test = TestDaemon::start(&with_offsite(&destination));
    let admin = test.admin();
    let uri = "/api/v1/repositories/main/offsite/test";

    let right = json!({"destination": destination, "path_style": true,
        "access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY});
    let (status, text, body) = call(&admin, Method::POST, uri, Some(right)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(body["ok"], true, "{text}");
    assert!(body["steps"].as_array().unwrap().len() >= 5, "{text}");
    assert!(body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["ok"] == true));
    assert!(!text.contains(SECRET_ACCESS_KEY), "{text}");

    let wrong = json!({"destination": destination, "path_style": true,
        "access_key_id": ACCESS_KEY_ID, "secret_access_key": WRONG_SECRET});
    let (status, text, body) = call(&admin, Method::POST, uri, Some(wrong)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(body["ok"], false, "{text}");
    let credentials = step(&body, "credentials");
    assert_eq!(credentials["ok"], false, "{text}");
    assert!(credentials["fix"].as_str().is_some(), "{text}");
    assert!(!text.contains(WRONG_SECRET), "{text}");

    // Operators run jobs but do not edit the config: Test Connection is an edit's first step.
    let operator = test.user(Role::Operator);
    let (status, _, _) = call(
        &operator,
        Method::POST,
        uri,
        Some(json!({"destination": destination})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_pair_is_stored_sealed_and_opened_by_the_job() {
    let server = S3TestServer::shared();
    let prefix = unique_prefix("api-offsite-sealed");
    let destination = server.url(BUCKET, &prefix);
    let test = TestDaemon::start(&with_offsite(&destination));
    let admin = test.admin();
    let uri = "/api/v1/repositories/main/offsite";

    let (status, text, shown) = call(&admin, Method::GET, uri, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(shown["destination"], destination.as_str());
    assert_eq!(shown["credentials"]["source"], "environment");

    // The form sends back what it got, changed, with the key pair typed in.
    let mut form = shown.clone();
    form["transfers"] = json!(4);
    form["access_key_id"] = json!(ACCESS_KEY_ID);
    form["secret_access_key"] = json!(SECRET_ACCESS_KEY);
    let (status, text, saved) = call(&admin, Method::PUT, uri, Some(form)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(saved["transfers"], 4);
    assert_eq!(
        saved["credentials"],
        json!({"source": "sealed", "set": true})
    );
    for secret in [SECRET_ACCESS_KEY, ACCESS_KEY_ID] {
        assert!(!text.contains(secret), "{text}");
        assert!(!test.text().contains(secret), "{}", test.text());
    }
    let file = test.text();
    assert!(
        file.contains("access_key_id_sealed = \"sealed:v1:"),
        "{file}"
    );
    assert!(file.contains("transfers = 4            # gentle"), "{file}");
    assert!(file.contains("# Mirrored offsite."), "{file}");
    let (_, text, _) = call(&admin, Method::GET, uri, None).await;
    assert!(!text.contains("sealed:v1:"), "{text}");

    // Test Connection without a key pair uses the saved, sealed one.
    let (status, text, body) = call(
        &admin,
        Method::POST,
        "/api/v1/repositories/main/offsite/test",
        Some(json!({"destination": destination, "path_style": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], true, "{text}");

    // What a plan's offsite step opens: the sealed pair, with the instance key. (S3 stores
    // run a runtime of their own: opened and dropped off the test's runtime.)
    let config = test.daemon.config();
    tokio::task::spawn_blocking(move || {
        let offsite = config.repositories["main"].offsite.clone().unwrap();
        let settings = cairn_jobs::open::S3Settings::default();
        let store = cairn_jobs::open::offsite_store("main", &offsite, &config.state_dir, &settings)
            .unwrap();
        store
            .put(cairn_storage::FileKind::Config, "", b"probe")
            .unwrap();
        let written = server
            .store(&prefix)
            .get(cairn_storage::FileKind::Config, "")
            .unwrap();
        assert_eq!(written, b"probe");
        // Another server's key does not open it, and says so without a value.
        let other = tempfile::tempdir().unwrap();
        let error = cairn_jobs::open::offsite_store("main", &offsite, other.path(), &settings)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("enter the secret again"), "{error}");
    })
    .await
    .unwrap();

    // A half key pair is refused beside its field.
    let (status, _, body) = call(
        &admin,
        Method::PUT,
        uri,
        Some(json!({"destination": destination, "secret_access_key": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "access_key_id");
}

/// A repository at `location` with the password `password`, made quickly (cheap scrypt).
fn init(store: std::sync::Arc<dyn Storage>, password: &[u8]) -> cairn_repo::Repository {
    let options = cairn_repo::keys::KeyOptions {
        kdf: Some(cairn_crypto::KdfParams {
            n: 1024,
            r: 8,
            p: 1,
        }),
        ..Default::default()
    };
    cairn_repo::Repository::init(store, password, &options).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn orphans_beside_the_mirror_are_told_from_known_ones() {
    let server = S3TestServer::shared();
    let base = unique_prefix("api-orphans");
    let text = format!(
        "state_dir = \"STATE\"\n[repositories.main]\nlocation = \"REPO\"\npassword_file = \"PASSFILE\"\n\
         [repositories.main.offsite]\ndestination = \"{}\"\ncredentials_file = \"S3ENV\"\n",
        server.url(BUCKET, &format!("{base}/main"))
    );
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("s3.env");
    std::fs::write(
        &env,
        format!("AWS_ACCESS_KEY_ID={ACCESS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&env, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = text.replace("S3ENV", env.to_str().unwrap());
    let test = TestDaemon::start(&text);
    tokio::task::spawn_blocking({
        let base = base.clone();
        let repo_path = test.dir().join("repo");
        move || {
            let local = init(
                std::sync::Arc::new(cairn_storage::LocalStore::new(&repo_path)),
                b"pw",
            );
            // Its mirror: the same config and key files, so the same id.
            let mirror = server.store(&format!("{base}/main"));
            let local_store = cairn_storage::LocalStore::new(&repo_path);
            for kind in [
                cairn_storage::FileKind::Config,
                cairn_storage::FileKind::Key,
            ] {
                for object in local_store.list(kind).unwrap() {
                    let bytes = local_store.get(kind, &object.name).unwrap();
                    mirror.put(kind, &object.name, &bytes).unwrap();
                }
            }
            drop(local);
            init(
                std::sync::Arc::new(server.store(&format!("{base}/retired"))),
                b"pw",
            );
            init(
                std::sync::Arc::new(server.store(&format!("{base}/stranger"))),
                b"other",
            );
        }
    })
    .await
    .unwrap();

    let uri = "/api/v1/offsite/orphans?repository=main";
    let (status, text, body) = call(&test.admin(), Method::GET, uri, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let mut found: Vec<(String, String)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["prefix"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (format!("{base}/main"), "known".to_string()),
            (format!("{base}/retired"), "orphan".to_string()),
            (format!("{base}/stranger"), "unopened".to_string()),
        ],
        "{text}"
    );
}

/// Waits for job `id` to end and returns its record.
async fn finished(test: &TestDaemon, id: i64) -> cairn_state::JobRecord {
    for _ in 0..300 {
        let job = test.daemon.state().job(id).unwrap();
        if job.state.is_final() {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {id} did not end within 30 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_restore_and_orphan_restore_run_as_jobs() {
    let server = S3TestServer::shared();
    let base = unique_prefix("api-offsite-jobs");
    let text = format!(
        "state_dir = \"STATE\"\n[repositories.main]\nlocation = \"REPO\"\npassword_file = \"PASSFILE\"\n\
         [repositories.main.offsite]\ndestination = \"{}\"\ncredentials_file = \"S3ENV\"\n",
        server.url(BUCKET, &format!("{base}/main"))
    );
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("s3.env");
    std::fs::write(
        &env,
        format!("AWS_ACCESS_KEY_ID={ACCESS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&env, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let test = TestDaemon::start(&text.replace("S3ENV", env.to_str().unwrap()));
    let repo_path = test.dir().join("repo");
    tokio::task::spawn_blocking({
        let (base, repo_path) = (base.clone(), repo_path.clone());
        move || {
            drop(init(
                std::sync::Arc::new(cairn_storage::LocalStore::new(&repo_path)),
                b"pw",
            ));
            // The mirror holds what the repository holds (a fresh one: config and key).
            let mirror = server.store(&format!("{base}/main"));
            let local = cairn_storage::LocalStore::new(&repo_path);
            for kind in [
                cairn_storage::FileKind::Config,
                cairn_storage::FileKind::Key,
            ] {
                for object in local.list(kind).unwrap() {
                    mirror
                        .put(kind, &object.name, &local.get(kind, &object.name).unwrap())
                        .unwrap();
                }
            }
            drop(init(
                std::sync::Arc::new(server.store(&format!("{base}/retired"))),
                b"old",
            ));
        }
    })
    .await
    .unwrap();
    let engine = tokio::spawn(test.daemon.clone().run());
    let admin = test.admin();

    // Verify: the mirror matches.
    let (status, text, job) = call(
        &admin,
        Method::POST,
        "/api/v1/repositories/main/offsite/verify",
        Some(json!({"read_sample": "100%"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(job["kind"], "mirror-verify");
    let verified = finished(&test, job["id"].as_i64().unwrap()).await;
    assert_eq!(
        verified.state,
        cairn_state::JobState::Succeeded,
        "{:?}",
        verified.error
    );

    // A copy of the repository from its mirror, below the restore root.
    let (status, text, job) = call(
        &admin,
        Method::POST,
        "/api/v1/repositories/main/offsite/restore",
        Some(json!({"mode": "copy", "target": "main-copy"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let copied = finished(&test, job["id"].as_i64().unwrap()).await;
    assert_eq!(
        copied.state,
        cairn_state::JobState::Succeeded,
        "{:?}",
        copied.error
    );
    let copy = test.dir().join("state/restores/main-copy");
    // The mirror as it was at a time: `at` reaches the job, read from the object versions.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, text, job) = call(
        &admin,
        Method::POST,
        "/api/v1/repositories/main/offsite/restore",
        Some(json!({"mode": "copy", "target": "main-at", "at": now})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let at_copy = finished(&test, job["id"].as_i64().unwrap()).await;
    assert_eq!(
        at_copy.state,
        cairn_state::JobState::Succeeded,
        "{:?}",
        at_copy.error
    );
    let (status, text, _) = call(
        &admin,
        Method::POST,
        "/api/v1/repositories/main/offsite/restore",
        Some(json!({"mode": "copy", "target": "main-never", "at": "yesterday-ish"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("at:"), "{text}");
    // An orphan (another host's repository under the bucket) as a copy of its own.
    let orphan = server.url(BUCKET, &format!("{base}/retired"));
    let (status, text, job) = call(
        &admin,
        Method::POST,
        "/api/v1/offsite/orphans/restore",
        Some(json!({"repository": "main", "source": orphan, "target": "retired"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let adopted = finished(&test, job["id"].as_i64().unwrap()).await;
    assert_eq!(
        adopted.state,
        cairn_state::JobState::Succeeded,
        "{:?}",
        adopted.error
    );
    let retired = test.dir().join("state/restores/retired");
    let at_copy_path = test.dir().join("state/restores/main-at");
    tokio::task::spawn_blocking(move || {
        let open = |path: &std::path::Path, password: &[u8]| {
            cairn_repo::Repository::open(
                std::sync::Arc::new(cairn_storage::LocalStore::new(path)),
                password,
            )
        };
        assert!(
            open(&copy, b"pw").is_ok(),
            "the copy opens with the repository's password"
        );
        assert!(
            open(&at_copy_path, b"pw").is_ok(),
            "the copy as it was at a time opens too"
        );
        assert!(
            open(&retired, b"old").is_ok(),
            "the orphan's copy opens with its own password"
        );
    })
    .await
    .unwrap();

    // Refused before anything runs: a copy over a non-empty directory, an orphan from another
    // bucket, a target outside the restore root; replace needs an admin.
    for (uri, body) in [
        (
            "/api/v1/repositories/main/offsite/restore",
            json!({"mode": "copy", "target": "main-copy"}),
        ),
        (
            "/api/v1/repositories/main/offsite/restore",
            json!({"mode": "copy", "target": "../../escape"}),
        ),
        (
            "/api/v1/offsite/orphans/restore",
            json!({"repository": "main", "source": "s3:http://127.0.0.1:1/elsewhere/x", "target": "x"}),
        ),
    ] {
        let (status, text, _) = call(&admin, Method::POST, uri, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {text}");
    }
    let (status, _, _) = call(
        &test.user(Role::Operator),
        Method::POST,
        "/api/v1/repositories/main/offsite/restore",
        Some(json!({"mode": "replace"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A mirror that lost an object: verify fails and names it.
    let key = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            let mirror = server.store(&format!("{base}/main"));
            let key = mirror
                .list(cairn_storage::FileKind::Key)
                .unwrap()
                .remove(0)
                .name;
            mirror.remove(cairn_storage::FileKind::Key, &key).unwrap();
            key
        }
    })
    .await
    .unwrap();
    let (_, _, job) = call(
        &admin,
        Method::POST,
        "/api/v1/repositories/main/offsite/verify",
        None,
    )
    .await;
    let failed = finished(&test, job["id"].as_i64().unwrap()).await;
    assert_eq!(failed.state, cairn_state::JobState::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(
        error.contains(&key[..8]) && error.contains("missing"),
        "{error}"
    );
    engine.abort();
}

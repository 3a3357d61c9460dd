//! A daemon over a config file in a temporary directory, and requests to its router.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use cairn_access::{Identity, Principal, Role, Scopes};
use cairn_jobs::daemon::{Daemon, DaemonOptions, LogAlerts};
use cairn_jobs::open::OpenOptions;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct TestDaemon {
    /// Removed when the test ends.
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub daemon: Arc<Daemon>,
}

/// A comment on every kind of line an edit must leave alone.
pub const CONFIG: &str = r#"# cairn test config: comments must survive edits.
state_dir = "STATE"

[repositories.main]
location = "REPO"        # a local directory
password_env = "CAIRN_TEST_PASSWORD"

# The web plan.
[plans.web]
repository = "main"
sources = ["/etc"]
schedule = "0 3 * * *"   # nightly
retention = { keep_daily = 14, keep_weekly = 4 }

[plans.web.hooks]
# Stop the worker while the files are read.
before_backup = ["true"]
"#;

impl TestDaemon {
    /// `text` with STATE, REPO and PASSFILE replaced by paths in a new temporary directory
    /// (PASSFILE holds the password `pw`, mode 0600).
    pub fn start(text: &str) -> TestDaemon {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let pass = dir.path().join("main.pass");
        std::fs::write(&pass, "pw\n").unwrap();
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = text
            .replace("STATE", state.to_str().unwrap())
            .replace("PASSFILE", pass.to_str().unwrap())
            .replace("REPO", dir.path().join("repo").to_str().unwrap());
        let path = dir.path().join("cairn.toml");
        std::fs::write(&path, &text).unwrap();
        let config = cairn_config::load(&path, &cairn_config::Overrides::default()).unwrap();
        let options = DaemonOptions {
            open: OpenOptions::default(),
            streams_of: &cairn_jobs::dumps::streams_of,
            clock: Arc::new(chrono::Utc::now),
            alerts: Arc::new(LogAlerts),
        };
        let daemon = Daemon::start(config, options).unwrap();
        TestDaemon {
            _dir: dir,
            path,
            daemon,
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap()
    }

    /// The router as the unix socket serves it (the local admin).
    pub fn admin(&self) -> Router {
        cairn_server::router(self.daemon.clone())
    }

    /// The router for a logged-in user of `role`.
    pub fn user(&self, role: Role) -> Router {
        cairn_server::api::routes(self.daemon.clone()).layer(axum::Extension(Principal {
            identity: Identity::User {
                id: 7,
                name: "vera".into(),
            },
            role,
            scopes: Scopes::all(),
        }))
    }
}

/// One request; the status and the body as text (to search it for secrets) and as JSON.
pub async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let request = Request::builder().method(method).uri(uri);
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, text, json)
}

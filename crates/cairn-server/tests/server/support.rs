//! A server over a temporary state directory, requests with cookies and tokens, and a clock
//! the tests move by hand.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use cairn_access::{Accounts, InstanceKey, LoginThrottle, Role, Scopes, SessionPolicy};
use cairn_config::{Config, SourceText};
use cairn_jobs::daemon::{Daemon, DaemonOptions, LogAlerts};
use cairn_server::app::{tcp_app, ServerSettings, ServerState};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const HOST: &str = "127.0.0.1:8470";
pub const ORIGIN: &str = "http://127.0.0.1:8470";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const REPOSITORY_PASSWORD: &str = "repository-pass-7781";

pub type Clock = Arc<Mutex<DateTime<Utc>>>;

pub struct TestServer {
    pub app: Router,
    pub accounts: Arc<Accounts>,
    pub daemon: Arc<Daemon>,
    pub clock: Clock,
    /// Holds the state directory for the test's life.
    pub _dir: tempfile::TempDir,
    /// Every response body the test saw, to search for secrets at the end.
    pub bodies: Mutex<Vec<String>>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The session cookie this answer sets.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("cairn_session=") && !v.contains("Max-Age=0"))
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap()
                    .trim_start_matches("cairn_session=")
                    .to_string()
            })
    }

    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// How a request authenticates.
#[derive(Clone, Default)]
pub struct Auth {
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    /// `None`: send our own origin.
    pub origin: Option<&'static str>,
}

impl Auth {
    pub fn bearer(token: &str) -> Auth {
        Auth {
            bearer: Some(token.to_string()),
            ..Auth::default()
        }
    }
}

pub fn config_text(state_dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"state_dir = "{state}"
[repositories.main]
location = "{state}/repo-main"
password_env = "CAIRN_TEST_NEVER_SET"
[repositories.other]
location = "{state}/repo-other"
password_env = "CAIRN_TEST_NEVER_SET"
[plans.web]
repository = "main"
sources = ["/etc/hostname"]
schedule = "@daily"
[plans.db]
repository = "main"
sources = ["/etc/hosts"]
[plans.archive]
repository = "other"
sources = ["/etc/passwd"]
[server]
listen = "{HOST}"
{extra}
"#,
        state = state_dir.display()
    )
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with_config("")
    }

    /// A server whose `[server]` table also holds `extra` lines.
    pub fn with_config(extra: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        std::fs::create_dir_all(&state_dir).unwrap();
        let text = config_text(&state_dir, extra);
        // The file exists, as a daemon's does: config edits write it back.
        std::fs::write(dir.path().join("cairn.toml"), &text).unwrap();
        let config = Config::parse(SourceText::new(dir.path().join("cairn.toml"), text)).unwrap();
        let clock: Clock = Arc::new(Mutex::new(
            DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ));
        let now = {
            let clock = clock.clone();
            Arc::new(move || *clock.lock().unwrap())
        };
        let server_config = config.server.clone().unwrap();
        let daemon = Daemon::start(
            config,
            DaemonOptions {
                open: Default::default(),
                streams_of: &STREAMS_OF,
                clock: now.clone(),
                alerts: Arc::new(LogAlerts),
            },
        )
        .unwrap();
        let state = Arc::new(cairn_state::StateStore::open(&state_dir).unwrap());
        let key = Arc::new(InstanceKey::load_or_create(&state_dir).unwrap());
        let accounts = Arc::new(Accounts::new(
            state,
            key,
            now.clone(),
            SessionPolicy {
                idle: server_config.session_idle_timeout.as_std(),
                max_age: server_config.session_max_age.as_std(),
            },
        ));
        let server = Arc::new(ServerState {
            daemon: daemon.clone(),
            accounts: accounts.clone(),
            throttle: LoginThrottle::new(now),
            settings: ServerSettings::from_config(&server_config),
            multihost: Some(
                cairn_server::sync::Multihost::open(cairn_server::sync::MultihostSettings {
                    state_dir: state_dir.clone(),
                    label: "test-server".into(),
                    ..Default::default()
                })
                .unwrap(),
            ),
        });
        let peer = cairn_server::auth::origin::ClientAddress(
            "192.0.2.10:50000".parse::<SocketAddr>().unwrap(),
        );
        let app = tcp_app(server).layer(MockConnectInfo(peer));
        TestServer {
            app,
            accounts,
            daemon,
            clock,
            _dir: dir,
            bodies: Mutex::new(Vec::new()),
        }
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.clock.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Body>,
        content_type: Option<&str>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, HOST);
        request = request.header(header::ORIGIN, auth.origin.unwrap_or(ORIGIN));
        if let Some(cookie) = &auth.cookie {
            request = request.header(header::COOKIE, format!("cairn_session={cookie}"));
        }
        if let Some(csrf) = &auth.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(bearer) = &auth.bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(body.unwrap_or_else(Body::empty)).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        self.bodies.lock().unwrap().push(body.clone());
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Answer {
        self.send(Method::GET, path, auth, None, None).await
    }

    pub async fn post_json(&self, path: &str, auth: &Auth, body: serde_json::Value) -> Answer {
        self.send(
            Method::POST,
            path,
            auth,
            Some(Body::from(body.to_string())),
            Some("application/json"),
        )
        .await
    }

    pub async fn post_form(&self, path: &str, auth: &Auth, fields: &[(&str, &str)]) -> Answer {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", cairn_server::web::context::percent_encode(v)))
            .collect();
        self.send(
            Method::POST,
            path,
            auth,
            Some(Body::from(body.join("&"))),
            Some("application/x-www-form-urlencoded"),
        )
        .await
    }

    /// An admin through the setup link, signed in: the session cookie and its CSRF token.
    pub async fn admin_session(&self) -> Auth {
        let token = self.accounts.setup_token().unwrap().expect("no user yet");
        let answer = self
            .post_form(
                "/setup",
                &Auth::default(),
                &[
                    ("token", &token),
                    ("name", "admin"),
                    ("password", ADMIN_PASSWORD),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        self.session_of(answer.session_cookie().expect("setup signs in"))
    }

    /// Signs `name` in with `password` (no second factor).
    pub async fn login(&self, name: &str, password: &str) -> Auth {
        let answer = self
            .post_form(
                "/login",
                &Auth::default(),
                &[("name", name), ("password", password)],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "login of {name}: {}",
            answer.body
        );
        self.session_of(answer.session_cookie().expect("a session cookie"))
    }

    pub fn session_of(&self, cookie: String) -> Auth {
        let info = self
            .accounts
            .session(&cookie)
            .unwrap()
            .expect("a live session");
        Auth {
            cookie: Some(cookie),
            csrf: Some(info.csrf_token),
            ..Auth::default()
        }
    }

    /// A token of `role` with `scopes`, made directly in the accounts.
    pub fn token(&self, name: &str, role: Role, scopes: &[&str]) -> String {
        let scopes = Scopes::parse_all(scopes.iter().copied()).unwrap();
        self.accounts
            .create_token(name, role, scopes, None, "test")
            .unwrap()
            .1
    }

    /// Fails if any body the test saw holds one of `secrets`.
    pub fn assert_no_body_contains(&self, secrets: &[&str]) {
        for body in self.bodies.lock().unwrap().iter() {
            for secret in secrets {
                assert!(
                    !body.contains(secret),
                    "a response holds the secret {secret:?}: {body}"
                );
            }
        }
    }
}

type StreamsFn = fn(
    &cairn_config::Plan,
    &std::path::Path,
    Option<Arc<std::sync::atomic::AtomicBool>>,
) -> cairn_jobs::Result<Vec<cairn_repo::backup::StreamEntry>>;

static STREAMS_OF: StreamsFn = cairn_jobs::dumps::streams_of;

/// The current TOTP code of a base32 seed (RFC 4648, no padding), as an app would show it.
pub fn totp_code(base32: &str, at: DateTime<Utc>) -> String {
    let seed = cairn_access::totp::from_base32(base32).expect("base32");
    let code = cairn_access::totp::code_at_step(&seed, cairn_access::totp::step_of(at));
    format!("{code:06}")
}

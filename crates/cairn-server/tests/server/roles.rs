//! Each role's allowed and refused calls, token scopes, and that no answer holds a secret.

use axum::http::{Method, StatusCode};
use cairn_access::Role;

use crate::support::{Auth, TestServer, ADMIN_PASSWORD, REPOSITORY_PASSWORD};

/// `(method, path, body, least role that may)`.
fn calls() -> Vec<(Method, &'static str, Option<serde_json::Value>, Role)> {
    vec![
        (Method::GET, "/api/v1/health", None, Role::Viewer),
        (Method::GET, "/api/v1/plans", None, Role::Viewer),
        (Method::GET, "/api/v1/jobs", None, Role::Viewer),
        (Method::GET, "/api/v1/openapi.json", None, Role::Viewer),
        (Method::GET, "/api/v1/me", None, Role::Viewer),
        (
            Method::POST,
            "/api/v1/plans/web/run",
            Some(serde_json::json!({})),
            Role::Operator,
        ),
        (Method::GET, "/api/v1/users", None, Role::Admin),
        (Method::GET, "/api/v1/tokens", None, Role::Admin),
        (Method::GET, "/api/v1/audit", None, Role::Admin),
        (Method::GET, "/api/v1/settings", None, Role::Admin),
        (Method::GET, "/api/v1/drills", None, Role::Viewer),
        (Method::GET, "/api/v1/notifications", None, Role::Viewer),
        (
            Method::POST,
            "/api/v1/users",
            Some(
                serde_json::json!({"name": "newbie", "role": "viewer", "password": "newbie password 1"}),
            ),
            Role::Admin,
        ),
    ]
}

#[tokio::test]
async fn each_role_gets_what_it_may_and_403_for_the_rest() {
    let server = TestServer::start();
    let _admin = server.admin_session().await;
    for role in Role::ALL {
        let token = server.token(&format!("t-{role}"), role, &[]);
        for (method, path, body, least) in calls() {
            let auth = Auth::bearer(&token);
            let answer = match &body {
                Some(body) => {
                    server
                        .send(
                            method.clone(),
                            path,
                            &auth,
                            Some(axum::body::Body::from(body.to_string())),
                            Some("application/json"),
                        )
                        .await
                }
                None => server.send(method.clone(), path, &auth, None, None).await,
            };
            if role >= least {
                assert!(
                    answer.status.is_success(),
                    "{role} {method} {path}: {} {}",
                    answer.status,
                    answer.body
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {}",
                    answer.body
                );
                assert!(
                    answer.json()["error"].as_str().unwrap().contains("may not"),
                    "{}",
                    answer.body
                );
            }
        }
        // The user made by the admin token is removed again so the next role can add it.
        if role == Role::Admin {
            server.accounts.remove_user("newbie").unwrap();
        }
    }
    let anonymous = server.get("/api/v1/plans", &Auth::default()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let bogus = server
        .get("/api/v1/plans", &Auth::bearer("cairn_not-a-token"))
        .await;
    assert_eq!(bogus.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_scopes_narrow_what_a_token_sees_and_runs() {
    let server = TestServer::start();
    let _admin = server.admin_session().await;
    let names = |value: serde_json::Value| -> Vec<String> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let web_only = Auth::bearer(&server.token("web-only", Role::Operator, &["plan:web"]));
    assert_eq!(
        names(server.get("/api/v1/plans", &web_only).await.json()),
        ["web"]
    );
    assert_eq!(
        server
            .post_json("/api/v1/plans/web/run", &web_only, serde_json::json!({}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        server
            .post_json("/api/v1/plans/db/run", &web_only, serde_json::json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let main_but_db =
        Auth::bearer(&server.token("main-but-db", Role::Operator, &["repo:main", "!plan:db"]));
    assert_eq!(
        names(server.get("/api/v1/plans", &main_but_db).await.json()),
        ["web"]
    );
    assert_eq!(
        server
            .post_json(
                "/api/v1/plans/archive/run",
                &main_but_db,
                serde_json::json!({})
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let all_but_main =
        Auth::bearer(&server.token("all-but-main", Role::Operator, &["*", "!repo:main"]));
    assert_eq!(
        names(server.get("/api/v1/plans", &all_but_main).await.json()),
        ["archive"]
    );
    // Jobs of plans outside the scopes are not listed.
    let jobs = server.get("/api/v1/jobs", &all_but_main).await.json();
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["plan"] == "archive"),
        "{jobs}"
    );
    let id = server.daemon.state().jobs(Some("web"), 1).unwrap()[0].id;
    assert_eq!(
        server
            .get(&format!("/api/v1/jobs/{id}"), &all_but_main)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // A scoped admin token is not a server admin.
    let scoped_admin = Auth::bearer(&server.token("scoped-admin", Role::Admin, &["repo:main"]));
    assert_eq!(
        server.get("/api/v1/users", &scoped_admin).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn revoked_and_expired_tokens_stop_at_once() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    let created = server
        .post_json("/api/v1/tokens", &admin, serde_json::json!({"name": "ci", "role": "operator", "scopes": ["plan:web"], "expires_in_days": 1}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.json()["secret"].as_str().unwrap().to_string();
    let ci = Auth::bearer(&secret);
    assert_eq!(
        server.get("/api/v1/plans", &ci).await.status,
        StatusCode::OK
    );
    let listed = server.get("/api/v1/tokens", &admin).await;
    assert!(
        !listed.body.contains(&secret),
        "a listing never holds the token"
    );
    let revoke = server
        .send(Method::DELETE, "/api/v1/tokens/ci", &admin, None, None)
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.body);
    assert_eq!(
        server.get("/api/v1/plans", &ci).await.status,
        StatusCode::UNAUTHORIZED
    );
    drop(admin);
}

#[tokio::test]
async fn no_answer_holds_a_password_or_a_hash() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    server
        .post_json(
            "/api/v1/users",
            &admin,
            serde_json::json!({"name": "vera", "role": "viewer", "password": "vera password 77"}),
        )
        .await;
    let vera = server.login("vera", "vera password 77").await;
    for path in [
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/audit",
        "/api/v1/me",
        "/api/v1/plans",
        "/api/v1/openapi.json",
        "/users",
        "/audit",
        "/",
    ] {
        server.get(path, &admin).await;
        server.get(path, &vera).await;
    }
    let users = server.get("/api/v1/users", &admin).await.body;
    assert!(!users.contains("argon2"), "{users}");
    server.assert_no_body_contains(&[
        ADMIN_PASSWORD,
        "vera password 77",
        REPOSITORY_PASSWORD,
        "$argon2",
    ]);
}

#[tokio::test]
async fn only_admins_queue_a_server_backup_and_the_call_is_audited() {
    let backups = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(&format!(
        "[server_backup]\ndestination = \"{}\"",
        backups.path().display()
    ));
    let _admin = server.admin_session().await;
    let operator = Auth::bearer(&server.token("op", Role::Operator, &[]));
    let refused = server
        .post_json("/api/v1/server-backup", &operator, serde_json::json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let admin = Auth::bearer(&server.token("adm", Role::Admin, &[]));
    let queued = server
        .post_json("/api/v1/server-backup", &admin, serde_json::json!({}))
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    assert_eq!(queued.json()["kind"], "server-backup", "{}", queued.body);
    let audit = server.get("/api/v1/audit", &admin).await.body;
    assert!(audit.contains("POST /api/v1/server-backup"), "{audit}");
}

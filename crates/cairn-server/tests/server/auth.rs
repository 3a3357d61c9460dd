//! Sign-in, sessions, CSRF, the rate limit and the setup link, over the TCP application.

use axum::http::{header, Method, StatusCode};
use cairn_access::Role;

use crate::support::{Auth, TestServer, ADMIN_PASSWORD};

#[tokio::test]
async fn before_the_first_user_only_the_setup_link_answers_and_it_works_once() {
    let server = TestServer::start();
    for path in ["/", "/api/v1/plans", "/api/v1/health", "/metrics", "/queue"] {
        let answer = server.get(path, &Auth::default()).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("setup link"),
            "{path}: {}",
            answer.body
        );
    }
    let token = server.accounts.setup_token().unwrap().unwrap();
    let wrong = server
        .post_form(
            "/setup",
            &Auth::default(),
            &[
                ("token", "nope"),
                ("name", "admin"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert!(!server.accounts.has_users().unwrap());
    let first = server
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
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let admin = server.session_of(first.session_cookie().unwrap());
    assert_eq!(
        server.get("/api/v1/plans", &admin).await.status,
        StatusCode::OK
    );
    let again = server
        .post_form(
            "/setup",
            &Auth::default(),
            &[
                ("token", &token),
                ("name", "mallory"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.body);
    assert!(server.accounts.setup_token().unwrap().is_none());
    server.assert_no_body_contains(&[ADMIN_PASSWORD]);
}

#[tokio::test]
async fn a_login_sets_a_strict_http_only_cookie_and_a_planted_session_id_is_worthless() {
    let server = TestServer::start();
    let _admin = server.admin_session().await;
    let answer = server
        .post_form(
            "/login",
            &Auth {
                cookie: Some("planted-by-attacker".into()),
                ..Auth::default()
            },
            &[("name", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let set_cookie: Vec<String> = answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let cookie = set_cookie
        .iter()
        .find(|c| c.starts_with("cairn_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("planted-by-attacker"));
    let planted = Auth {
        cookie: Some("planted-by-attacker".into()),
        ..Auth::default()
    };
    assert_eq!(
        server.get("/api/v1/plans", &planted).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Pages send the browser to the login page instead.
    let page = server.get("/plans", &planted).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.location().starts_with("/login?next=%2Fplans")
            || page.location().starts_with("/login?next=/plans"),
        "{}",
        page.location()
    );
}

#[tokio::test]
async fn wrong_passwords_slow_down_and_unknown_users_look_the_same() {
    let server = TestServer::start();
    let _admin = server.admin_session().await;
    let unknown = server
        .post_form(
            "/login",
            &Auth::default(),
            &[("name", "nobody"), ("password", "whatever-it-is")],
        )
        .await;
    let wrong = server
        .post_form(
            "/login",
            &Auth::default(),
            &[("name", "admin"), ("password", "not the password")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown.body.contains("wrong user name or password")
            && wrong.body.contains("wrong user name or password")
    );
    let mut throttled = None;
    for _ in 0..6 {
        let answer = server
            .post_form(
                "/login",
                &Auth::default(),
                &[("name", "admin"), ("password", "not the password")],
            )
            .await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(answer);
            break;
        }
    }
    let throttled = throttled.expect("repeated failures are slowed down");
    assert!(throttled.headers.contains_key(header::RETRY_AFTER));
    // Even the right password waits until the delay has passed.
    let right = server
        .post_form(
            "/login",
            &Auth::default(),
            &[("name", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    server.advance(std::time::Duration::from_secs(3600));
    server.login("admin", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn a_session_needs_its_csrf_token_and_our_origin_to_change_anything() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    let no_token = Auth {
        csrf: None,
        ..admin.clone()
    };
    let answer = server
        .post_json("/api/v1/plans/web/run", &no_token, serde_json::json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let wrong_token = Auth {
        csrf: Some("forged".into()),
        ..admin.clone()
    };
    assert_eq!(
        server
            .post_json("/api/v1/plans/web/run", &wrong_token, serde_json::json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let other_site = Auth {
        origin: Some("https://evil.example"),
        ..admin.clone()
    };
    let answer = server
        .post_json("/api/v1/plans/web/run", &other_site, serde_json::json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("another site"), "{}", answer.body);
    assert!(
        server.daemon.state().queued_jobs().unwrap().is_empty(),
        "nothing was queued"
    );
    let answer = server
        .post_json("/api/v1/plans/web/run", &admin, serde_json::json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // A form carries the token in its csrf field.
    let form = server
        .post_form(
            "/plans/db/run",
            &Auth {
                csrf: None,
                ..admin.clone()
            },
            &[("csrf", admin.csrf.as_deref().unwrap())],
        )
        .await;
    assert_eq!(form.status, StatusCode::SEE_OTHER, "{}", form.body);
    assert_eq!(server.daemon.state().queued_jobs().unwrap().len(), 2);
}

#[tokio::test]
async fn sessions_end_at_logout_when_idle_and_at_their_maximum_age() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    let logout = server
        .post_form(
            "/logout",
            &admin,
            &[("csrf", admin.csrf.as_deref().unwrap())],
        )
        .await;
    assert_eq!(logout.status, StatusCode::SEE_OTHER);
    assert_eq!(
        server.get("/api/v1/plans", &admin).await.status,
        StatusCode::UNAUTHORIZED
    );

    let idle = server.login("admin", ADMIN_PASSWORD).await;
    server.advance(std::time::Duration::from_secs(20 * 60));
    assert_eq!(
        server.get("/api/v1/plans", &idle).await.status,
        StatusCode::OK
    );
    server.advance(std::time::Duration::from_secs(31 * 60));
    assert_eq!(
        server.get("/api/v1/plans", &idle).await.status,
        StatusCode::UNAUTHORIZED
    );

    let busy = server.login("admin", ADMIN_PASSWORD).await;
    for _ in 0..24 {
        server.advance(std::time::Duration::from_secs(29 * 60));
        assert_eq!(
            server.get("/api/v1/plans", &busy).await.status,
            StatusCode::OK
        );
    }
    server.advance(std::time::Duration::from_secs(29 * 60));
    assert_eq!(
        server.get("/api/v1/plans", &busy).await.status,
        StatusCode::UNAUTHORIZED,
        "12 h after login"
    );
}

#[tokio::test]
async fn a_second_factor_is_asked_after_the_password_and_rotates_the_session() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    let user = server
        .accounts
        .add_user("tess", Role::Operator, "tess password 123")
        .unwrap();
    let enrolment = server.accounts.begin_totp(user.id, "cairn").unwrap();
    let now = *server.clock.lock().unwrap();
    let code = crate::support::totp_code(&enrolment.secret_base32, now);
    server.accounts.confirm_totp(user.id, &code).unwrap();
    server.advance(std::time::Duration::from_secs(60));

    let answer = server
        .post_form(
            "/login",
            &Auth::default(),
            &[("name", "tess"), ("password", "tess password 123")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(
        answer.location().starts_with("/login/totp"),
        "{}",
        answer.location()
    );
    let half = Auth {
        cookie: answer.session_cookie(),
        ..Auth::default()
    };
    assert_eq!(
        server.get("/api/v1/plans", &half).await.status,
        StatusCode::UNAUTHORIZED
    );
    let wrong = server
        .post_form("/login/totp", &half, &[("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let now = *server.clock.lock().unwrap();
    let code = crate::support::totp_code(&enrolment.secret_base32, now);
    let done = server
        .post_form("/login/totp", &half, &[("code", &code)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let full = server.session_of(done.session_cookie().expect("a new session id"));
    assert_ne!(
        full.cookie, half.cookie,
        "the session id changes with the second factor"
    );
    assert_eq!(
        server.get("/api/v1/plans", &full).await.status,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/api/v1/plans", &half).await.status,
        StatusCode::UNAUTHORIZED,
        "the old id is dead"
    );
    drop(admin);
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    for path in ["/", "/login", "/api/v1/plans", "/assets/app.css"] {
        let answer = server.get(path, &admin).await;
        let csp = answer
            .headers
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline")
                && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(
            answer.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
            "nosniff"
        );
        assert!(answer.headers.contains_key(header::REFERRER_POLICY));
    }
    let page = server.get("/", &admin).await;
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(
        page.body.contains("<main") && page.body.contains("<nav"),
        "landmarks"
    );
}

#[tokio::test]
async fn every_change_is_in_the_audit_log_with_who_where_and_the_result() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    server
        .post_json("/api/v1/plans/web/run", &admin, serde_json::json!({}))
        .await;
    let viewer = server.token("ro", Role::Viewer, &[]);
    let refused = server
        .post_json(
            "/api/v1/plans/web/run",
            &Auth::bearer(&viewer),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let log = server.get("/api/v1/audit", &admin).await.json();
    let records = log.as_array().unwrap();
    let find = |actor: &str| {
        records
            .iter()
            .find(|r| r["actor"] == actor && r["action"] == "POST /api/v1/plans/web/run")
            .unwrap_or_else(|| panic!("no record by {actor}: {log}"))
            .clone()
    };
    let ok = find("user:admin");
    assert_eq!(ok["address"], "192.0.2.10");
    assert_eq!(ok["result"], "ok", "{ok}");
    let denied = find("token:ro");
    assert_eq!(denied["result"], "failed", "{denied}");
    assert!(records
        .iter()
        .any(|r| r["action"] == "setup: first administrator created"));
    assert_eq!(
        server
            .send(
                Method::GET,
                "/api/v1/audit",
                &Auth::bearer(&viewer),
                None,
                None
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

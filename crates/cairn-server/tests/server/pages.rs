//! The UI's pages as a browser gets them: what each role sees, the dashboard's order, the
//! plan form, and the forms' CSRF fields.

use axum::http::StatusCode;
use cairn_access::Role;
use cairn_state::{JobEnd, JobKind, JobState, NewJob, Trigger};

use crate::support::TestServer;

/// Records a finished backup of `plan` that ended in `state`.
fn finished_backup(server: &TestServer, plan: &str, repository: &str, state: JobState) {
    let now = *server.clock.lock().unwrap();
    let store = server.daemon.state();
    let id = store
        .create_job(
            &NewJob::first(
                JobKind::Backup,
                Some(plan.into()),
                Some(repository.into()),
                Trigger::Schedule,
                now,
            ),
            Some(now),
        )
        .unwrap();
    let end = JobEnd {
        state,
        snapshot: None,
        bytes_added: Some(1024),
        error: (state == JobState::Failed).then(|| "source /nonexistent: no such file".to_string()),
    };
    store.finish_job(id, &end, now).unwrap();
}

#[tokio::test]
async fn the_dashboard_puts_failing_plans_first_with_their_error() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    finished_backup(&server, "archive", "other", JobState::Succeeded);
    finished_backup(&server, "web", "main", JobState::Succeeded);
    finished_backup(&server, "db", "main", JobState::Failed);
    let page = server.get("/", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    let rows: Vec<&str> = page
        .body
        .match_indices("data-plan=\"")
        .map(|(i, _)| {
            let rest = &page.body[i + 11..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(rows.first(), Some(&"db"), "{rows:?}");
    assert!(page.body.contains("source /nonexistent: no such file"));
    assert!(page.body.contains("data-health=\"failing\""));
}

#[tokio::test]
async fn a_viewer_sees_no_button_that_would_change_anything() {
    let server = TestServer::start();
    let _admin = server.admin_session().await;
    server
        .accounts
        .add_user("vera", Role::Viewer, "vera password 77")
        .unwrap();
    server
        .accounts
        .add_user("otto", Role::Operator, "otto password 77")
        .unwrap();
    let vera = server.login("vera", "vera password 77").await;
    let otto = server.login("otto", "otto password 77").await;
    for path in ["/", "/plans", "/plans/web"] {
        let viewer_page = server.get(path, &vera).await;
        assert_eq!(viewer_page.status, StatusCode::OK, "{path}");
        assert!(
            !viewer_page.body.contains("Run now"),
            "{path} shows a viewer a run button"
        );
        assert!(!viewer_page.body.contains(">Save<"), "{path}");
        let operator_page = server.get(path, &otto).await;
        assert!(
            operator_page.body.contains("Run now"),
            "{path} lacks the operator's run button"
        );
    }
    // The plan form is there for everyone who may read it, but only an admin may change it.
    assert!(server
        .get("/plans/web", &vera)
        .await
        .body
        .contains("disabled"));
    for path in ["/users", "/tokens", "/audit", "/settings"] {
        assert_eq!(
            server.get(path, &vera).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            server.get(path, &otto).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let form = server
        .post_form(
            "/plans/web/run",
            &vera,
            &[("csrf", vera.csrf.as_deref().unwrap())],
        )
        .await;
    assert_eq!(form.status, StatusCode::SEE_OTHER);
    assert!(form.location().contains("error="), "{}", form.location());
    assert!(server.daemon.state().queued_jobs().unwrap().is_empty());
}

#[tokio::test]
async fn the_plan_page_shows_the_file_s_values_in_a_form_for_the_api() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    let page = server.get("/plans/web", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-api-edit=\"/api/v1/plans/web\""));
    assert!(page.body.contains("id=\"field-schedule\""));
    assert!(
        page.body.contains("value=\"@daily\""),
        "the schedule as written"
    );
    assert!(page.body.contains("id=\"field-retention-keep_daily\""));
    assert!(
        page.body.contains("id=\"error-schedule\""),
        "a place for the schedule's error"
    );
    assert!(page
        .body
        .contains(&format!("value=\"{}\"", admin.csrf.as_deref().unwrap())));
    // A bad schedule is refused at its field and the file is unchanged.
    let before = std::fs::read_to_string(server.daemon.config().source().path()).unwrap();
    let answer = server
        .send(
            axum::http::Method::PUT,
            "/api/v1/plans/web",
            &admin,
            Some(axum::body::Body::from(
                r#"{"set":{"schedule":"every day"}}"#,
            )),
            Some("application/json"),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(answer.json()["errors"][0]["field"], "schedule");
    let after = std::fs::read_to_string(server.daemon.config().source().path()).unwrap();
    assert_eq!(before, after);
    assert!(before.contains("schedule = \"@daily\""));
}

#[tokio::test]
async fn peers_are_listed_for_everyone_and_revoked_only_by_an_admin() {
    let server = TestServer::start();
    let admin = server.admin_session().await;
    server
        .accounts
        .add_user("vera", Role::Viewer, "vera password 77")
        .unwrap();
    let vera = server.login("vera", "vera password 77").await;
    let empty = server.get("/peers", &vera).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.body.contains("No instance is paired"),
        "{}",
        empty.body
    );

    let state = cairn_state::StateStore::open(&server._dir.path().join("state")).unwrap();
    state
        .insert_peer(&cairn_state::NewPeer {
            id: "cairn-laptop0000000000000000000000",
            label: "laptop",
            permissions: "ops.read,cmd.run",
            scopes: r#"["*"]"#,
            role: cairn_state::PeerRole::Client,
            urls: None,
            fingerprint: None,
            token: None,
            paired_at: chrono::Utc::now(),
        })
        .unwrap();
    let listed = server.get("/peers", &vera).await;
    assert!(listed.body.contains("laptop"), "{}", listed.body);
    assert!(
        listed.body.contains(r#"data-state="disconnected""#),
        "{}",
        listed.body
    );
    let page = server
        .get("/peers/cairn-laptop0000000000000000000000", &vera)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("ops.read, cmd.run"), "{}", page.body);
    // A viewer sees no revoke button and is refused the revocation itself.
    assert!(!page.body.contains(">Revoke<"), "{}", page.body);
    let refused = server
        .post_form(
            "/peers/cairn-laptop0000000000000000000000/revoke",
            &vera,
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        server.get("/peers/nobody", &vera).await.status,
        StatusCode::BAD_REQUEST
    );

    let admin_page = server
        .get("/peers/cairn-laptop0000000000000000000000", &admin)
        .await;
    assert!(admin_page.body.contains(">Revoke<"), "{}", admin_page.body);
    let revoked = server
        .post_form(
            "/peers/cairn-laptop0000000000000000000000/revoke",
            &admin,
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    let after = server.get("/peers", &vera).await;
    assert!(
        after.body.contains(r#"data-state="revoked""#),
        "{}",
        after.body
    );
}

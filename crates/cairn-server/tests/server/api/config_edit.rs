//! Plan edits over the API: the file changes in place (comments kept), the daemon reloads,
//! a bad value is a 422 beside its field with nothing written, and only admins edit.

use axum::http::{Method, StatusCode};
use cairn_access::Role;
use serde_json::json;

use super::support::{call, TestDaemon, CONFIG};

/// The lines that differ between two texts of the same length.
fn changed_lines(before: &str, after: &str) -> Vec<String> {
    assert_eq!(before.lines().count(), after.lines().count(), "{after}");
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(_, b)| b.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_a_schedule_rewrites_one_line_and_reloads_the_daemon() {
    let test = TestDaemon::start(CONFIG);
    let before = test.text();
    let admin = test.admin();
    let (status, text, body) = call(
        &admin,
        Method::PUT,
        "/api/v1/plans/web",
        Some(json!({"set": {"schedule": "0 4 * * *", "retention.keep_daily": 7}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(body["config"]["schedule"], "0 4 * * *");
    assert_eq!(body["config"]["retention"]["keep_daily"], 7);
    assert_eq!(
        changed_lines(&before, &test.text()),
        [
            "schedule = \"0 4 * * *\"   # nightly",
            "retention = { keep_daily = 7, keep_weekly = 4 }",
        ]
    );
    // The daemon runs the new config: the plan list shows the new schedule.
    let (status, _, plans) = call(&admin, Method::GET, "/api/v1/plans", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plans[0]["schedule"], "0 4 * * *");
    assert_eq!(
        test.daemon.config().source().text(),
        test.text(),
        "the next edit starts from the file as written"
    );

    let (status, _, body) = call(&admin, Method::GET, "/api/v1/plans/web", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "web");
    assert_eq!(body["status"]["schedule"], "0 4 * * *");
    assert_eq!(body["config"]["sources"], json!(["/etc"]));
    assert_eq!(body["config"]["hooks"]["before_backup"], json!(["true"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_schedule_is_refused_beside_its_field_and_nothing_is_written() {
    let test = TestDaemon::start(CONFIG);
    let before = std::fs::read(&test.path).unwrap();
    let admin = test.admin();
    for uri in ["/api/v1/plans/web", "/api/v1/plans/web/validate"] {
        let method = if uri.ends_with("validate") {
            Method::POST
        } else {
            Method::PUT
        };
        let (status, text, body) = call(
            &admin,
            method,
            uri,
            Some(json!({"set": {"schedule": "every day"}})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {text}");
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors[0]["field"], "schedule", "{text}");
        let message = errors[0]["message"].as_str().unwrap();
        assert!(!message.is_empty() && !message.contains('\n'), "{message}");
        assert_eq!(std::fs::read(&test.path).unwrap(), before, "{uri}");
    }
    assert_eq!(
        test.daemon.config().plans["web"]
            .schedule
            .as_ref()
            .unwrap()
            .to_string(),
        "0 3 * * *"
    );

    // An unknown field names the known ones; the wrong type says what to write.
    let (status, _, body) = call(
        &admin,
        Method::PUT,
        "/api/v1/plans/web",
        Some(json!({"set": {"schedul": "0 4 * * *"}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "schedul");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("schedule"));
    let (status, _, body) = call(
        &admin,
        Method::PUT,
        "/api/v1/plans/web",
        Some(json!({"set": {"retries": "3"}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["errors"][0]["message"],
        "retries is a string; write an integer"
    );

    // A valid edit through validate answers ok and still writes nothing.
    let (status, _, body) = call(
        &admin,
        Method::POST,
        "/api/v1/plans/web/validate",
        Some(json!({"set": {"schedule": "@daily"}, "remove": ["retention"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"ok": true}));
    assert_eq!(std::fs::read(&test.path).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_reads_plans_but_may_not_edit_them() {
    let test = TestDaemon::start(CONFIG);
    let before = test.text();
    let viewer = test.user(Role::Viewer);
    let (status, _, _) = call(&viewer, Method::GET, "/api/v1/plans/web", None).await;
    assert_eq!(status, StatusCode::OK);
    let edit = json!({"set": {"schedule": "0 4 * * *"}});
    let (status, text, _) = call(&viewer, Method::PUT, "/api/v1/plans/web", Some(edit)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let (status, _, _) = call(&viewer, Method::DELETE, "/api/v1/plans/web", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let operator = test.user(Role::Operator);
    let new = json!({"name": "db", "set": {"repository": "main", "sources": ["/srv"]}});
    let (status, _, _) = call(&operator, Method::POST, "/api/v1/plans", Some(new)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(test.text(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_are_created_and_deleted_in_the_file() {
    let test = TestDaemon::start(CONFIG);
    let admin = test.admin();
    let new = json!({"name": "db", "set": {"repository": "main", "sources": ["/srv/db"], "schedule": "@hourly"}});
    let (status, text, body) = call(&admin, Method::POST, "/api/v1/plans", Some(new.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_eq!(body["config"]["schedule"], "@hourly");
    assert!(test.text().starts_with(CONFIG.lines().next().unwrap()));
    assert!(
        test.text().contains("[plans.db]\nrepository = \"main\""),
        "{}",
        test.text()
    );
    assert!(test.daemon.config().plans.contains_key("db"));
    let (status, _, _) = call(&admin, Method::POST, "/api/v1/plans", Some(new)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A plan without sources does not validate, and is not written.
    let bare = json!({"name": "empty", "set": {"repository": "main"}});
    let (status, text, _) = call(&admin, Method::POST, "/api/v1/plans", Some(bare)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(!test.text().contains("plans.empty"));

    let (status, _, _) = call(&admin, Method::DELETE, "/api/v1/plans/db", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!test.text().contains("plans.db"));
    assert!(test.text().contains("# The web plan."));
    let (status, _, _) = call(&admin, Method::GET, "/api/v1/plans/db", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_of_a_file_changed_on_disk_is_refused() {
    let test = TestDaemon::start(CONFIG);
    let changed = format!("{}# edited by hand\n", test.text());
    std::fs::write(&test.path, &changed).unwrap();
    let edit = json!({"set": {"schedule": "0 4 * * *"}});
    let (status, text, _) = call(&test.admin(), Method::PUT, "/api/v1/plans/web", Some(edit)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("changed on disk"), "{text}");
    assert_eq!(test.text(), changed);
}

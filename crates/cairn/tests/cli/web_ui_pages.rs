//! The web UI end to end, page by page (issue 12): browse a snapshot, download a file and
//! compare its bytes, a file's versions, a plan edit refused at its field, Test Connection
//! with a wrong secret. Harness and conventions: `web_ui.rs` and `support/browser.rs`.

use std::time::Duration;

use cairn_storage::s3_test_server::{self as s3, unique_prefix, S3TestServer};

use crate::support::browser::WebUi;

/// Runs plan `web` once with the CLI (the daemon keeps serving meanwhile).
fn backup(ui: &WebUi) {
    let output = ui.setup.cairn().args(["run", "web"]).output().unwrap();
    assert!(
        output.status.success(),
        "cairn run web: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Waits until `path` exists and its size stops changing (a finished download).
fn wait_for_file(path: &std::path::Path) -> Vec<u8> {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = None;
    loop {
        if let Ok(meta) = std::fs::metadata(path) {
            if last == Some(meta.len()) {
                return std::fs::read(path).unwrap();
            }
            last = Some(meta.len());
        }
        assert!(
            std::time::Instant::now() < until,
            "no download at {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_a_snapshot_download_a_file_and_see_its_versions() {
    let ui = WebUi::start(&[("web", "")], "").await;
    let source = ui.setup.source("web");
    let notes = source.join("notes.txt");
    let old: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&notes, &old).unwrap();
    backup(&ui);
    backup(&ui);
    let new: Vec<u8> = (0..30_000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
    std::fs::write(&notes, &new).unwrap();
    backup(&ui);
    ui.create_admin("admin").await;

    ui.goto("/repositories").await;
    ui.find("tr[data-repository=main]").await;
    ui.screenshot("10-repositories").await;
    ui.click("tr[data-repository=main] a").await;
    let rows = ui.find_all("table#snapshots tbody tr").await;
    assert_eq!(rows.len(), 3, "three snapshots");
    ui.screenshot("11-snapshots").await;
    // The newest snapshot, then down the breadcrumbs' way to the plan's source.
    ui.click("table#snapshots tbody tr:first-child a").await;
    ui.find("table#entries").await;
    let source_text = source.display().to_string();
    ui.goto(&format!(
        "{}?path={}",
        ui.path().await.split('?').next().unwrap(),
        source_text
    ))
    .await;
    ui.find("tr[data-entry=\"notes.txt\"]").await;
    let crumbs = ui.text("ol.crumbs").await;
    assert!(crumbs.contains("src-web"), "breadcrumbs: {crumbs}");
    ui.screenshot("12-browse").await;

    ui.click("a[aria-label=\"Download notes.txt\"]").await;
    let downloaded = wait_for_file(&ui.downloads.join("notes.txt"));
    assert!(
        downloaded == new,
        "the download is the newest version's bytes"
    );

    ui.click("a[aria-label=\"Versions of notes.txt\"]").await;
    let versions = ui.find_all("table#versions tbody tr").await;
    assert_eq!(versions.len(), 3, "one version per snapshot");
    let changed = ui.find_all("table#versions .badge.running").await.len();
    assert_eq!(
        changed, 2,
        "the newest and the first are changes; the middle is the same"
    );
    ui.screenshot("13-versions").await;
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_schedule_is_refused_at_its_field_and_a_good_one_saved() {
    let ui = WebUi::start(&[("web", "schedule = \"@daily\"  # nightly")], "").await;
    ui.create_admin("admin").await;
    let before = std::fs::read_to_string(&ui.setup.config).unwrap();

    ui.goto("/plans/web").await;
    assert_eq!(
        ui.attr("#field-schedule", "value").await.as_deref(),
        Some("@daily")
    );
    ui.fill("#field-schedule", "every day").await;
    ui.click("#plan-form button[type=submit]").await;
    ui.wait_js(
        "the schedule's error at its field",
        Duration::from_secs(10),
        "const e = document.querySelector('#error-schedule'); return !e.hidden && e.textContent.length > 0;",
    )
    .await;
    assert!(
        ui.text("#error-schedule").await.contains("cron"),
        "{}",
        ui.text("#error-schedule").await
    );
    assert_eq!(
        ui.attr("#field-schedule", "aria-invalid").await.as_deref(),
        Some("true")
    );
    ui.screenshot("14-plan-edit").await;
    assert_eq!(
        std::fs::read_to_string(&ui.setup.config).unwrap(),
        before,
        "nothing written"
    );

    ui.fill("#field-schedule", "0 5 * * *").await;
    ui.click("#plan-form button[type=submit]").await;
    ui.wait_js(
        "the saved message",
        Duration::from_secs(10),
        "const f = document.querySelector('.flash.ok'); return f !== null && f.textContent.includes('saved');",
    )
    .await;
    let after = std::fs::read_to_string(&ui.setup.config).unwrap();
    assert!(
        after.contains("schedule = \"0 5 * * *\"  # nightly"),
        "the comment is kept:\n{after}"
    );
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_with_a_wrong_secret_shows_the_failing_step() {
    let server = S3TestServer::shared();
    let destination = server.url(s3::BUCKET, &unique_prefix("ui-offsite"));
    let ui = WebUi::start(&[("web", "")], "").await;
    ui.create_admin("admin").await;
    ui.goto("/repositories/main/offsite").await;
    ui.fill("#field-destination", &destination).await;
    ui.fill("#access-key-id", s3::ACCESS_KEY_ID).await;
    ui.fill("#secret-access-key", "a-wrong-secret-typed-in")
        .await;
    ui.click("[data-action=test]").await;
    ui.wait_js(
        "the test's steps",
        Duration::from_secs(30),
        "return document.querySelectorAll('#test-steps li[data-step]').length > 0;",
    )
    .await;
    let failed = ui.find_all("#test-steps li[data-ok=false]").await;
    assert!(
        !failed.is_empty(),
        "a failing step: {}",
        ui.text("#test-steps").await
    );
    assert!(!ui.page_text().await.contains("a-wrong-secret-typed-in"));
    ui.screenshot("15-offsite-test").await;

    ui.fill("#secret-access-key", s3::SECRET_ACCESS_KEY).await;
    ui.click("[data-action=test]").await;
    ui.wait_js(
        "every step ok",
        Duration::from_secs(30),
        "const steps = [...document.querySelectorAll('#test-steps li[data-step]')];
         return steps.length > 0 && steps.every(s => s.dataset.ok === 'true');",
    )
    .await;
    ui.finish().await;
}

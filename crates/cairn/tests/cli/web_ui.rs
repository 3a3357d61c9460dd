//! The web UI end to end: a real daemon, headless Chromium, real clicks (issue 12). Each test
//! starts its own daemon and browser ([`WebUi`]) and saves screenshots of the pages it
//! visits to `docs/screenshots/`.
//!
//! The config of every test: plan `web` (a few MB of random files; a `before_backup` hook
//! that sleeps, so its job is seen running) and plan `wiki` (its source is missing, so its
//! run fails; no retries). `wiki` sorts after `web` by name, so seeing it first on the
//! dashboard shows the failing-first order, not the alphabet.
//!
//! A test of a new page is a few lines:
//! ```text
//! let ui = start().await;
//! ui.create_admin("admin").await;            // signed in as an admin, on My account
//! ui.goto("/repositories/main").await;
//! ui.fill("#field-id", "value").await;        // ids and data-* attributes, not wording
//! ui.submit("/form/action").await;            // the form's submit button, by its action
//! assert!(ui.text("[role=alert]").await.contains("..."));
//! ui.screenshot("10-repository").await;       // docs/screenshots/10-repository.png
//! ui.finish().await;
//! ```

use std::time::Duration;

use serde_json::Value;

use crate::support::browser::{totp_code, WebUi, PASSWORD};
use crate::support::rng::Rng;

/// How long a job may take from "Run now" to its final state.
const JOB_WAIT: Duration = Duration::from_secs(45);

/// Starts the daemon of these tests and a browser.
async fn start() -> WebUi {
    let ui = WebUi::start(
        &[
            ("web", "[plans.web.hooks]\nbefore_backup = [\"sleep 4\"]"),
            ("wiki", "retries = 0"),
        ],
        "",
    )
    .await;
    // Random bytes (no dedup, no compression): the backup reads and writes 8 MiB, long
    // enough for progress events.
    let mut rng = Rng::new(12);
    for i in 0..8 {
        let source = ui.setup.source("web").join(format!("blob-{i}.bin"));
        std::fs::write(source, rng.bytes(1 << 20)).unwrap();
    }
    std::fs::remove_dir_all(ui.setup.source("wiki")).unwrap();
    ui
}

/// The plans' rows on the dashboard, in order: (name, health).
async fn dashboard_rows(ui: &WebUi) -> Vec<(String, String)> {
    let rows = ui
        .js(
            "return [...document.querySelectorAll('table#plans tbody tr')]
                .map(tr => [tr.dataset.plan, tr.dataset.health]);",
            vec![],
        )
        .await;
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect()
}

/// Setup link → administrator → TOTP enrolment on My account → sign out → sign in with
/// the password and a code → dashboard; then the admin pages (tokens, audit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_link_totp_enrolment_and_sign_in_with_a_code() {
    let ui = start().await;
    ui.create_admin("admin").await;
    assert!(ui.page_text().await.contains("welcome"));

    ui.submit("/account/totp/begin").await;
    let secret = ui.text("#totp-secret").await;
    assert!(secret.len() >= 32, "a 20-byte seed in base32: {secret:?}");
    ui.screenshot("06-account-2fa").await;
    ui.fill("#code", &totp_code(&secret, 0)).await;
    ui.submit("/account/totp/confirm").await;
    ui.find("#recovery-codes").await;
    let codes = ui.find_all("#recovery-codes li").await;
    assert!(codes.len() >= 8, "{} recovery codes", codes.len());

    ui.goto("/").await;
    ui.sign_out().await;
    ui.screenshot("01-login").await;
    // Not signed in: a page sends the browser to the login page.
    ui.goto("/plans").await;
    ui.wait_for_path("/login").await;

    // The password alone is not enough; a wrong code is refused.
    ui.fill("#name", "admin").await;
    ui.fill("#password", PASSWORD).await;
    ui.submit("/login").await;
    ui.wait_for_path("/login/totp").await;
    // Five steps ahead: outside the window the server accepts.
    ui.fill("#code", &totp_code(&secret, 5)).await;
    ui.submit("/login/totp").await;
    assert!(
        ui.text("[role=alert]").await.contains("not right"),
        "{}",
        ui.page_text().await
    );
    // The next step's code: later than the step enrolment used, so not a replay.
    ui.fill("#code", &totp_code(&secret, 1)).await;
    ui.submit("/login/totp").await;
    // Signed in, back on the page first asked for.
    ui.wait_for_path("/plans").await;
    ui.find("tr[data-plan=web]").await;
    assert!(ui.text(".who").await.contains("admin"));

    // API tokens: the secret is shown once, the row stays.
    ui.goto("/tokens").await;
    ui.fill("#token-name", "ci").await;
    ui.submit("/tokens").await;
    let token = ui.text("#new-token-secret").await;
    assert!(token.len() >= 20, "token secret {token:?}");
    ui.goto("/tokens").await;
    ui.find("tr[data-token=ci]").await;
    assert!(
        !ui.page_text().await.contains(&token),
        "the token secret is shown again"
    );
    ui.screenshot("08-tokens").await;

    // The audit log has the failed and the successful sign-in.
    ui.goto("/audit").await;
    let results = ui
        .js(
            "return [...document.querySelectorAll('table#audit tbody tr')]
                .map(tr => tr.dataset.action + ' ' + tr.dataset.result);",
            vec![],
        )
        .await;
    let results: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        results
            .iter()
            .any(|r| r.starts_with("login") && r.ends_with(" ok"))
            && results
                .iter()
                .any(|r| r.starts_with("login") && !r.ends_with(" ok")),
        "audit rows: {results:?}"
    );
    ui.screenshot("09-audit").await;
    ui.finish().await;
}

/// A plan whose run failed comes before a healthy one on the dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_the_failing_plan_first() {
    let ui = start().await;
    ui.create_admin("admin").await;
    ui.goto("/").await;
    assert_eq!(
        dashboard_rows(&ui).await,
        [
            ("web".into(), "neverrun".into()),
            ("wiki".into(), "neverrun".into())
        ]
    );

    ui.submit("/plans/wiki/run").await;
    ui.wait_reload(
        "plan wiki failing",
        "/",
        JOB_WAIT,
        "return document.querySelector('tr[data-plan=wiki]').dataset.health === 'failing';",
    )
    .await;
    ui.submit("/plans/web/run").await;
    ui.wait_reload(
        "plan web ok",
        "/",
        JOB_WAIT,
        "return document.querySelector('tr[data-plan=web]').dataset.health === 'ok';",
    )
    .await;

    assert_eq!(
        dashboard_rows(&ui).await,
        [
            ("wiki".into(), "failing".into()),
            ("web".into(), "ok".into())
        ]
    );
    let error = ui.text("tr[data-plan=wiki] .error-text").await;
    assert!(!error.is_empty(), "the failing row shows the error");
    ui.screenshot("02-dashboard").await;

    ui.goto("/plans").await;
    ui.find("tr[data-plan=wiki] .badge.failing").await;
    ui.screenshot("03-plans").await;
    ui.finish().await;
}

/// "Run now" → the job is on the queue with a progress bar → on the job page the bar
/// reaches 100 and the state becomes succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_shows_progress_to_100() {
    let ui = start().await;
    ui.create_admin("admin").await;
    ui.goto("/plans").await;
    ui.submit("/plans/web/run").await;
    ui.find("[data-job-events] progress").await;
    let job_page = ui.path().await;
    let job_page = job_page.split('?').next().unwrap().to_string();
    let id = job_page.trim_start_matches("/jobs/").to_string();
    assert!(id.parse::<u64>().is_ok(), "a job page: {job_page}");

    // The before_backup hook sleeps 4 s: the job is still active on the queue.
    ui.goto("/queue").await;
    ui.find(&format!("tr[data-job=\"{id}\"] [data-job-events] progress"))
        .await;
    ui.screenshot("04-queue").await;

    ui.goto(&job_page).await;
    ui.find("[data-job-events] progress").await;
    // Records every value the script gives the bar (`value` is a reflected attribute).
    ui.js(
        "window.barValues = [];
         const bar = document.querySelector('[data-job-events] progress');
         new MutationObserver(() => window.barValues.push(Number(bar.value)))
             .observe(bar, {attributes: true, attributeFilter: ['value']});",
        vec![],
    )
    .await;
    ui.wait_js(
        &format!("job {id} succeeded with the bar at 100"),
        JOB_WAIT,
        "return document.querySelector('[data-job-state]').textContent === 'succeeded'
             && document.querySelector('[data-job-events] progress').value === 100;",
    )
    .await;
    let seen = ui.js("return window.barValues;", vec![]).await;
    eprintln!("job {id}: progress bar values {seen}");
    assert_eq!(ui.text("[data-job-events] progress").await, "100%");
    // The page made after the end: the snapshot and every step done.
    ui.goto(&job_page).await;
    assert!(
        ui.text(".panel").await.contains("Snapshot"),
        "{}",
        ui.page_text().await
    );
    ui.screenshot("05-job").await;
    ui.finish().await;
}

/// A viewer (added by the admin on /users) sees no "Run now", and the API refuses the run
/// with 403 although the same request from the admin's page is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_has_no_run_button_and_the_api_refuses_the_run() {
    let ui = start().await;
    ui.create_admin("admin").await;
    ui.goto("/users").await;
    ui.fill("#user-name", "olive").await;
    ui.select("#user-role", "viewer").await;
    ui.fill("#user-password", PASSWORD).await;
    ui.submit("/users").await;
    ui.find("tr[data-user=olive]").await;
    assert_eq!(
        ui.attr("#role-olive option[selected]", "value")
            .await
            .as_deref(),
        Some("viewer")
    );
    ui.screenshot("07-users").await;

    // The request is well formed: the admin's session may run the plan with it.
    ui.goto("/").await;
    assert_eq!(
        ui.find_all("table#plans form[action$='/run']").await.len(),
        2
    );
    let (status, body) = ui.fetch_with_csrf("POST", "/api/v1/plans/web/run").await;
    assert!((200..300).contains(&status), "admin run: {status} {body}");

    ui.sign_out().await;
    ui.sign_in("olive", None).await;
    assert!(ui.text(".who").await.contains("viewer"));
    ui.find("table#plans tr[data-plan=web]").await;
    assert!(ui
        .find_all("table#plans form[action$='/run']")
        .await
        .is_empty());
    assert!(!ui.page_text().await.contains("Run now"));
    ui.goto("/plans").await;
    ui.find("tr[data-plan=web]").await;
    assert!(ui.find_all("form[action$='/run']").await.is_empty());
    assert!(!ui.page_text().await.contains("Run now"));

    let (status, body) = ui.fetch_with_csrf("POST", "/api/v1/plans/web/run").await;
    assert_eq!(status, 403, "viewer run: {body}");
    ui.finish().await;
}

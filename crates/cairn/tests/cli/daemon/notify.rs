//! What the daemon tells people, to receivers on 127.0.0.1: a failed backup (signed webhook,
//! healthchecks `/start` then `/fail`), a stale plan raised once, the recovery, and a channel
//! that keeps failing shown by `cairn status`.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use cairn_jobs::notify::test_receivers::{HttpReceiver, ReceivedRequest};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::DaemonSetup;
use crate::support::{run_ok, stdout};

const SECRET: &str = "daemon-webhook-secret-5c1e";

/// The `event` field of each signed webhook request, checking every signature.
fn webhook_events(hook: &HttpReceiver) -> Vec<serde_json::Value> {
    hook.requests()
        .iter()
        .map(|request| {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(&request.body);
            let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            assert_eq!(
                request.header("x-cairn-signature"),
                Some(expected.as_str()),
                "signature of {}",
                request.body_text()
            );
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(
                request.header("x-cairn-event"),
                body["event"].as_str(),
                "the header names the event"
            );
            body
        })
        .collect()
}

fn count(events: &[serde_json::Value], name: &str) -> usize {
    events.iter().filter(|e| e["event"] == name).count()
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn targets(requests: &[ReceivedRequest]) -> Vec<String> {
    requests.iter().map(|r| r.target.clone()).collect()
}

#[test]
fn failure_stale_and_recovery_reach_the_channels_and_a_failing_channel_shows_in_status() {
    let hook = HttpReceiver::start(&[200]);
    let pings = HttpReceiver::start(&[200]);
    // 404 is not retried: each event is one failed delivery at once.
    let broken = HttpReceiver::start(&[404]);
    let placeholder = DaemonSetup::new(&[], "");
    let secret_file = placeholder.scratch.path("webhook.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let channels = format!(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_file = \"{}\"\n\
         on = [\"failure\", \"success\", \"stale\", \"recovered\"]\n\n\
         [[notify]]\nname = \"pings\"\nkind = \"healthchecks\"\nurl = \"{}\"\n\n\
         [[notify]]\nname = \"broken\"\nkind = \"webhook\"\nurl = \"{}\"\n\
         on = [\"failure\", \"success\", \"stale\", \"recovered\"]\n",
        hook.url("/hook"),
        secret_file.display(),
        pings.url("/ping/abc"),
        broken.url("/gone"),
    );
    let setup = DaemonSetup::new(&[("web", "stale_after = \"3s\"\n")], &channels);
    let source = setup.source("web");
    std::fs::remove_dir_all(&source).unwrap();
    let daemon = setup.start();

    // Stale: no success within 3 s of the daemon starting; raised once, not on every check.
    wait_until("the stale event", Duration::from_secs(20), || {
        count(&webhook_events(&hook), "stale") >= 1
    });
    std::thread::sleep(Duration::from_secs(5));
    let events = webhook_events(&hook);
    assert_eq!(count(&events, "stale"), 1, "{events:#?}");
    let stale = events.iter().find(|e| e["event"] == "stale").unwrap();
    assert_eq!(stale["plan"], "web");

    // A failed backup: a signed failure event naming the missing source; a start and a fail ping.
    run_ok(setup.cairn().args(["jobs", "start", "web"]));
    wait_until("the failure event", Duration::from_secs(30), || {
        count(&webhook_events(&hook), "failure") == 1
    });
    let events = webhook_events(&hook);
    let failure = events.iter().find(|e| e["event"] == "failure").unwrap();
    assert_eq!(failure["plan"], "web");
    assert_eq!(failure["repository"], "main");
    assert!(failure["job"].as_i64().is_some(), "{failure}");
    assert!(
        failure["error"]
            .as_str()
            .is_some_and(|e| e.contains(&source.display().to_string())),
        "the error names the source: {failure}"
    );
    wait_until("the fail ping", Duration::from_secs(10), || {
        targets(&pings.requests()).contains(&"/ping/abc/fail".to_string())
    });
    assert_eq!(
        targets(&pings.requests()),
        ["/ping/abc/start", "/ping/abc/fail"]
    );

    // The source is back: success, and recovered once.
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.txt"), "back\n").unwrap();
    run_ok(setup.cairn().args(["jobs", "start", "web"]));
    wait_until("the recovered event", Duration::from_secs(30), || {
        let events = webhook_events(&hook);
        count(&events, "recovered") == 1 && count(&events, "success") == 1
    });
    let events = webhook_events(&hook);
    let success = events.iter().find(|e| e["event"] == "success").unwrap();
    assert_eq!(success["snapshot"].as_str().map(str::len), Some(64));
    wait_until("the success ping", Duration::from_secs(10), || {
        pings.requests().len() == 4
    });
    assert_eq!(
        targets(&pings.requests()),
        [
            "/ping/abc/start",
            "/ping/abc/fail",
            "/ping/abc/start",
            "/ping/abc"
        ]
    );

    // The broken channel had stale, failure, recovered and success: four failures in a row.
    wait_until("four failed deliveries", Duration::from_secs(20), || {
        broken.requests().len() >= 4
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let output = setup.cairn().args(["status", "--json"]).output().unwrap();
        let status: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        if status["failing_channels"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        {
            assert_eq!(
                output.status.code(),
                Some(1),
                "a failing channel needs a person"
            );
            break status;
        }
        assert!(Instant::now() < deadline, "no failing channel: {status}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let failing = status["failing_channels"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{status}");
    assert_eq!(failing[0]["channel"], "broken");
    assert!(failing[0]["failed_in_a_row"].as_u64().unwrap() >= 3);
    let output = setup.cairn().arg("status").output().unwrap();
    assert!(
        stdout(&output).contains("notification channel broken FAILING"),
        "{}",
        stdout(&output)
    );
    drop(daemon);
}

#[test]
fn an_offsite_that_never_syncs_raises_offsite_stale_once() {
    let hook = HttpReceiver::start(&[200]);
    let extra = format!(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\non = [\"offsite_stale\"]\n\n\
         [repositories.main.offsite]\n\
         destination = \"s3:http://127.0.0.1:{}/offsite/main\"\nstale_after = \"2s\"\n",
        hook.url("/hook"),
        cairn_jobs::notify::test_receivers::UNREACHABLE_PORT,
    );
    let setup = DaemonSetup::new(&[("web", "")], &extra);
    let _daemon = setup.start();
    wait_until("the offsite_stale event", Duration::from_secs(20), || {
        !hook.requests().is_empty()
    });
    std::thread::sleep(Duration::from_secs(4));
    let requests = hook.requests();
    assert_eq!(requests.len(), 1, "raised once");
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["event"], "offsite_stale");
    assert_eq!(body["plan"], "web");
    assert_eq!(
        body["error"], "repository main: no successful offsite sync yet",
        "{body}"
    );
    let status = super::status(&setup);
    assert_eq!(status[0]["alerts"], serde_json::json!(["offsite_stale"]));
}

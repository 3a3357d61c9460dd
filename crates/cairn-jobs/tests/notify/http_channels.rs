//! Webhook, ntfy and healthchecks channels against HTTP receivers on 127.0.0.1.

use cairn_config::{NotifyEvent, NotifyKind};
use cairn_jobs::notify::test_receivers::HttpReceiver;
use cairn_jobs::notify::EventName;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::support::{block_on, channel, webhook, Setup, WEBHOOK_SECRET};

/// Whether `header` is `sha256=<hex HMAC-SHA256 of body under secret>`, checked as a
/// receiver would (constant-time comparison of the MAC).
fn signature_valid(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(mac_bytes) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    mac.verify_slice(&mac_bytes).is_ok()
}

#[test]
fn webhook_posts_the_event_as_json_signed_over_the_exact_body() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[200]);
    let notifier = setup.notifier(vec![channel(
        "hook",
        webhook(receiver.url("/cairn"), Some(&setup.secret_file())),
        &[],
    )]);
    let event = setup.failed_backup();
    let deliveries = block_on(notifier.notify(&event));
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0].result.as_deref(),
        Ok("HTTP 200 OK"),
        "{deliveries:?}"
    );

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("POST", "/cairn")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-cairn-event"), Some("failure"));
    let signature = request.header("x-cairn-signature").expect("a signature");
    // The secret file's content, trimmed, is the key; any other key fails the check.
    assert!(signature_valid(
        WEBHOOK_SECRET.as_bytes(),
        &request.body,
        signature
    ));
    assert!(!signature_valid(
        b"another-secret",
        &request.body,
        signature
    ));
    assert!(!signature_valid(
        format!("{WEBHOOK_SECRET}\n").as_bytes(),
        &request.body,
        signature
    ));
    // A body changed by one byte no longer matches.
    let mut tampered = request.body.clone();
    tampered[0] ^= 1;
    assert!(!signature_valid(
        WEBHOOK_SECRET.as_bytes(),
        &tampered,
        signature
    ));

    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"], "failure");
    assert_eq!(body["plan"], "web");
    assert_eq!(body["repository"], "main");
    assert_eq!(body["job"], event.job.unwrap());
    assert_eq!(body["job_kind"], "backup");
    assert_eq!(body["error"], "backup: source /srv/www does not exist");
    assert!(body["started_at"].is_string() && body["finished_at"].is_string());
    let tail = body["log_tail"].as_array().unwrap();
    assert_eq!(tail.len(), 20);
    assert_eq!(tail[19], "cairn: step line 24");
    assert!(!String::from_utf8_lossy(&request.body).contains(WEBHOOK_SECRET));

    // The delivery is recorded: one attempt, delivered.
    let records = setup.state.deliveries(Some("hook"), 10).unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (record.event.as_str(), record.plan.as_deref(), record.job),
        ("failure", Some("web"), event.job)
    );
    assert!(record.ok && record.attempts == 1 && record.error.is_none());
}

#[test]
fn a_webhook_without_a_secret_is_not_signed_and_success_carries_the_snapshot() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[204]);
    let notifier = setup.notifier(vec![channel(
        "hook",
        webhook(receiver.url("/"), None),
        &[NotifyEvent::Success],
    )]);
    let deliveries = block_on(notifier.notify(&setup.succeeded_backup()));
    assert!(deliveries[0].is_delivered(), "{deliveries:?}");
    let request = &receiver.requests()[0];
    assert_eq!(request.header("x-cairn-signature"), None);
    assert_eq!(request.header("x-cairn-event"), Some("success"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["snapshot"], "4f6d0c1a");
    assert_eq!(body["bytes_added"], 123_456);
    assert_eq!(body["log_tail"].as_array().unwrap().len(), 0);
}

#[test]
fn ntfy_gets_a_one_line_message_with_title_priority_and_tags() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[200]);
    let notifier = setup.notifier(vec![channel(
        "phone",
        NotifyKind::Ntfy {
            url: receiver.url("/cairn-alerts"),
        },
        &[NotifyEvent::Failure, NotifyEvent::Success],
    )]);
    let failure = setup.failed_backup();
    let job = failure.job.unwrap();
    let host = failure.host.clone();
    assert!(block_on(notifier.notify(&failure))[0].is_delivered());
    assert!(block_on(notifier.notify(&setup.succeeded_backup()))[0].is_delivered());

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let alarm = &requests[0];
    assert_eq!(alarm.target, "/cairn-alerts");
    assert_eq!(
        alarm.header("title"),
        Some(format!("cairn: backup web failed on {host}").as_str())
    );
    assert_eq!(alarm.header("priority"), Some("high"));
    assert_eq!(alarm.header("tags"), Some("rotating_light,cairn,failure"));
    assert_eq!(
        alarm.body_text(),
        format!(
            "cairn: backup web failed on {host} (job {job}): backup: source /srv/www does not exist"
        )
    );
    assert!(!alarm.body_text().contains('\n'));
    let fine = &requests[1];
    assert_eq!(fine.header("priority"), Some("default"));
    assert_eq!(fine.header("tags"), Some("white_check_mark,cairn,success"));
}

#[test]
fn healthchecks_pings_start_success_and_fail_with_the_log_tail_whatever_on_says() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[200]);
    // `on` without success: healthchecks channels follow the job's life anyway.
    let notifier = setup.notifier(vec![channel(
        "hc",
        NotifyKind::Healthchecks {
            url: receiver.url("/ping/5b3c-uuid"),
        },
        &[NotifyEvent::Failure],
    )]);
    let started = setup.started_backup();
    let success = setup.succeeded_backup();
    let failure = setup.failed_backup();
    for event in [&started, &success, &failure] {
        let deliveries = block_on(notifier.notify(event));
        assert!(deliveries[0].is_delivered(), "{deliveries:?}");
    }
    // Events that are not a job's start or end make no ping.
    let mut stale = cairn_jobs::notify::Event::new(NotifyEvent::Stale, started.at);
    stale.plan = Some("web".into());
    assert!(block_on(notifier.notify(&stale)).is_empty());

    let requests = receiver.requests();
    let targets: Vec<&str> = requests.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/ping/5b3c-uuid/start",
            "/ping/5b3c-uuid",
            "/ping/5b3c-uuid/fail"
        ]
    );
    assert!(requests.iter().all(|r| r.method == "POST"));
    let fail_body = requests[2].body_text();
    let lines: Vec<&str> = fail_body.lines().collect();
    assert!(
        lines[0].ends_with("backup: source /srv/www does not exist"),
        "{fail_body}"
    );
    assert_eq!(lines.len(), 21, "{fail_body}");
    assert_eq!(lines[1], "cairn: step line 5");
    assert_eq!(lines[20], "cairn: step line 24");
    assert!(!requests[1].body_text().contains("step line"));

    let events: Vec<String> = setup
        .state
        .deliveries(Some("hc"), 10)
        .unwrap()
        .into_iter()
        .rev()
        .map(|r| r.event)
        .collect();
    assert_eq!(events, ["start", "success", "failure"]);
}

#[test]
fn channels_hear_only_their_events_and_plans() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[200]);
    let mut only_db = channel(
        "db-only",
        NotifyKind::Ntfy {
            url: receiver.url("/db"),
        },
        &[],
    );
    only_db.plans = vec!["db".into()];
    let mut hc_db = channel(
        "hc-db",
        NotifyKind::Healthchecks {
            url: receiver.url("/hc-db"),
        },
        &[],
    );
    hc_db.plans = vec!["db".into()];
    let notifier = setup.notifier(vec![
        channel(
            "failures",
            NotifyKind::Ntfy {
                url: receiver.url("/failures"),
            },
            &[NotifyEvent::Failure],
        ),
        only_db,
        hc_db,
    ]);
    let failure = setup.failed_backup();
    let heard: Vec<&str> = notifier
        .channels_for(&failure)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(heard, ["failures"]);
    let success = setup.succeeded_backup();
    assert_eq!(notifier.channels_for(&success).count(), 0);
    let test = cairn_jobs::notify::Event::test(failure.at);
    assert_eq!(notifier.channels_for(&test).count(), 0);
    assert_eq!(test.event, EventName::Test);

    block_on(notifier.notify(&failure));
    block_on(notifier.notify(&success));
    let targets: Vec<String> = receiver.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/failures"]);
}

#[test]
fn a_test_goes_to_the_named_channel_only_and_healthchecks_logs_it() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[200]);
    let notifier = setup.notifier(vec![
        channel(
            "hook",
            webhook(receiver.url("/hook"), Some(&setup.secret_file())),
            &[NotifyEvent::Failure],
        ),
        channel(
            "hc",
            NotifyKind::Healthchecks {
                url: receiver.url("/hc"),
            },
            &[],
        ),
    ]);
    let delivery = block_on(notifier.test("hc")).unwrap();
    assert!(delivery.is_delivered(), "{delivery:?}");
    let delivery = block_on(notifier.test("hook")).unwrap();
    assert!(delivery.is_delivered(), "{delivery:?}");
    let requests = receiver.requests();
    let targets: Vec<&str> = requests.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/hc/log", "/hook"]);
    assert_eq!(requests[1].header("x-cairn-event"), Some("test"));

    let error = block_on(notifier.test("nope")).unwrap_err().to_string();
    assert_eq!(
        error,
        "no notify channel \"nope\" in the config; the channels are hook, hc"
    );
}

#[test]
fn notify_runs_as_a_task_of_its_own_on_a_multi_thread_runtime() {
    // As the daemon calls it: a clone of the notifier and the event moved into a spawned
    // task (the future must be Send and 'static), the job going on meanwhile.
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[200]);
    let notifier = setup.notifier(vec![channel(
        "phone",
        NotifyKind::Ntfy {
            url: receiver.url("/alerts"),
        },
        &[],
    )]);
    let event = setup.failed_backup();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let deliveries = runtime.block_on(async move {
        let task = {
            let notifier = notifier.clone();
            tokio::spawn(async move { notifier.notify(&event).await })
        };
        task.await.unwrap()
    });
    assert!(deliveries[0].is_delivered(), "{deliveries:?}");
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(setup.state.deliveries(Some("phone"), 5).unwrap().len(), 1);
}

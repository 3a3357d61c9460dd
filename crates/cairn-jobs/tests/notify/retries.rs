//! Retries with backoff, bounded give-ups, and what is recorded (never a secret).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_config::{NotifyEvent, NotifyKind};
use cairn_jobs::notify::test_receivers::{HttpReceiver, UNREACHABLE_PORT};
use cairn_jobs::notify::{DeliveryErrorKind, Notifier, RetryPolicy, SystemClock};

use crate::support::{block_on, channel, webhook, Setup, WEBHOOK_SECRET};

const BACKOFF: [Duration; 2] = [Duration::from_secs(10), Duration::from_secs(30)];

#[test]
fn a_receiver_failing_twice_gets_the_event_on_the_third_attempt_after_10s_and_30s() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[500, 503, 200]);
    let notifier = setup.notifier(vec![channel(
        "hook",
        webhook(receiver.url("/hook"), Some(&setup.secret_file())),
        &[],
    )]);
    let event = setup.failed_backup();
    let delivery = block_on(notifier.notify(&event)).remove(0);
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.result.as_deref(), Ok("HTTP 200 OK"));
    assert_eq!(setup.clock.sleeps(), BACKOFF);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    // Every attempt sends the same signed body.
    assert!(requests.iter().all(|r| r.body == requests[0].body
        && r.header("x-cairn-signature") == requests[0].header("x-cairn-signature")));

    let record = &setup.state.deliveries(Some("hook"), 1).unwrap()[0];
    assert!(record.ok && record.attempts == 3, "{record:?}");
    // Recorded when the last attempt ended, on the injected clock: 40 s after the start.
    assert_eq!((record.at - event.at).num_seconds(), 40);
    assert!(setup.state.failing_channels(1).unwrap().is_empty());
}

#[test]
fn a_receiver_that_always_fails_is_given_up_after_three_attempts_and_recorded() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[500]);
    let notifier = setup.notifier(vec![channel(
        "hook",
        webhook(receiver.url("/hook"), Some(&setup.secret_file())),
        &[],
    )]);
    let event = setup.failed_backup();
    let delivery = block_on(notifier.notify(&event)).remove(0);
    assert_eq!(delivery.attempts, 3);
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(setup.clock.sleeps(), BACKOFF);
    let error = delivery.result.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Transient);
    assert_eq!(
        error.to_string(),
        format!(
            "channel hook: {} answered 500 Internal Server Error; the receiver has a problem",
            receiver.url("/hook")
        )
    );

    let record = &setup.state.deliveries(Some("hook"), 1).unwrap()[0];
    assert!(!record.ok && record.attempts == 3);
    assert_eq!(record.error.as_deref(), Some(error.to_string().as_str()));
    assert_eq!(record.job, event.job);
    let failing = setup.state.failing_channels(1).unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].channel, "hook");
    assert!(setup.state.failing_channels(3).unwrap().is_empty());
    block_on(notifier.notify(&event));
    block_on(notifier.notify(&event));
    assert_eq!(
        setup.state.failing_channels(3).unwrap()[0].failed_in_a_row,
        3
    );
    assert_eq!(receiver.requests().len(), 9);
}

#[test]
fn a_refusal_is_not_retried() {
    let setup = Setup::new();
    let receiver = HttpReceiver::start(&[404]);
    let notifier = setup.notifier(vec![channel(
        "phone",
        NotifyKind::Ntfy {
            url: receiver.url("/missing"),
        },
        &[],
    )]);
    let delivery = block_on(notifier.notify(&setup.failed_backup())).remove(0);
    assert_eq!(delivery.attempts, 1);
    assert_eq!(receiver.requests().len(), 1);
    assert!(setup.clock.sleeps().is_empty());
    let error = delivery.result.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Refused);
    assert!(
        error.to_string().ends_with(
            "answered 404 Not Found; check the channel's url and the receiver's settings"
        ),
        "{error}"
    );
}

#[test]
fn an_unreachable_receiver_is_retried_and_its_url_credentials_never_shown() {
    let setup = Setup::new();
    let port = UNREACHABLE_PORT;
    let notifier = setup.notifier(vec![channel(
        "phone",
        NotifyKind::Ntfy {
            url: format!("http://alice:pw-in-url@127.0.0.1:{port}/alerts?auth=tok-in-query"),
        },
        &[],
    )]);
    let delivery = block_on(notifier.notify(&setup.failed_backup())).remove(0);
    assert_eq!(delivery.attempts, 3);
    let error = delivery.result.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Unreachable);
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "channel phone: cannot connect to http://127.0.0.1:{port}/alerts: "
        )),
        "{text}"
    );
    let record = &setup.state.deliveries(Some("phone"), 1).unwrap()[0];
    for secret in ["alice", "pw-in-url", "tok-in-query"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!record.error.as_deref().unwrap().contains(secret));
    }
}

#[test]
fn a_receiver_that_never_answers_is_given_up_within_the_attempt_timeouts() {
    let setup = Setup::new();
    // Connections are accepted by the kernel (backlog) but never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let policy = RetryPolicy {
        attempts: 2,
        first_delay: Duration::from_millis(50),
        factor: 2,
        attempt_timeout: Duration::from_millis(300),
    };
    let notifier = Notifier::new(
        vec![channel("hook", webhook(url.clone(), None), &[])],
        setup.state.clone(),
    )
    .with_policy(policy)
    .with_clock(Arc::new(SystemClock));
    let started = Instant::now();
    let delivery = block_on(notifier.notify(&setup.failed_backup())).remove(0);
    let elapsed = started.elapsed();
    assert_eq!(delivery.attempts, 2);
    assert_eq!(
        delivery.result.unwrap_err().to_string(),
        format!("channel hook: {url} did not answer within 0.3s; check that the receiver is up")
    );
    assert!(
        elapsed >= Duration::from_millis(650) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[test]
fn an_unreadable_webhook_secret_is_named_by_its_file_and_not_retried() {
    let setup = Setup::new();
    // The secret file is unreadable: the error names the file, never its content.
    let missing = setup.path("no-such.secret");
    let notifier = setup.notifier(vec![channel(
        "hook",
        webhook(
            format!("http://127.0.0.1:{UNREACHABLE_PORT}/"),
            Some(&missing),
        ),
        &[NotifyEvent::Failure],
    )]);
    let delivery = block_on(notifier.notify(&setup.failed_backup())).remove(0);
    let error = delivery.result.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Secret);
    assert_eq!(delivery.attempts, 1);
    assert!(
        error.to_string().starts_with(&format!(
            "channel hook: webhook secret: cannot read {}",
            missing.display()
        )),
        "{error}"
    );
    for record in setup.state.deliveries(None, 10).unwrap() {
        assert!(!format!("{record:?}").contains(WEBHOOK_SECRET));
    }
}

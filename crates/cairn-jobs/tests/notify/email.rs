//! Email channels against an SMTP sink (aiosmtpd) on 127.0.0.1.

use std::time::Duration;

use cairn_config::{NotifyEvent, NotifyKind, SecretSource, SmtpTls};
use cairn_jobs::notify::test_receivers::SmtpSink;
use cairn_jobs::notify::DeliveryErrorKind;

use crate::support::{block_on, channel, Setup};

const SMTP_PASSWORD: &str = "smtp-pass-93e1d7";

fn email(
    sink: &SmtpSink,
    tls: SmtpTls,
    user: Option<&str>,
    password: Option<SecretSource>,
) -> NotifyKind {
    NotifyKind::Email {
        host: "127.0.0.1".into(),
        port: sink.port(),
        tls,
        username: user.map(str::to_string),
        password,
        from: "cairn@backup.example".into(),
        to: vec!["ops@example.com".into(), "oncall@example.com".into()],
    }
}

/// The mail's text with folded header lines unfolded.
fn unfolded(data: &str) -> String {
    data.replace("\r\n ", " ").replace("\n ", " ")
}

#[test]
fn a_failure_mail_names_the_plan_event_error_and_job() {
    let setup = Setup::new();
    let sink = SmtpSink::start(None);
    let notifier = setup.notifier(vec![channel(
        "mail",
        email(&sink, SmtpTls::Plain, None, None),
        &[NotifyEvent::Failure],
    )]);
    let event = setup.failed_backup();
    let delivery = block_on(notifier.notify(&event)).remove(0);
    let answer = delivery.result.expect("delivered");
    assert!(answer.starts_with("250 "), "{answer}");

    let mail = sink.next_mail(Duration::from_secs(10)).expect("a mail");
    assert_eq!(mail.mail_from, "cairn@backup.example");
    assert_eq!(mail.rcpt_tos, ["ops@example.com", "oncall@example.com"]);
    assert_eq!(mail.login, None);
    let data = unfolded(&mail.data);
    let job = event.job.unwrap();
    for expected in [
        format!("Subject: cairn: backup web failed on {}", event.host),
        "From: cairn@backup.example".to_string(),
        "Content-Type: text/plain; charset=utf-8".to_string(),
        "Event:      failure".to_string(),
        "Plan:       web".to_string(),
        format!("Job:        {job} (backup)"),
        "Error:      backup: source /srv/www does not exist".to_string(),
        "  cairn: step line 24".to_string(),
    ] {
        assert!(data.contains(&expected), "{expected:?} in\n{data}");
    }
    let record = &setup.state.deliveries(Some("mail"), 1).unwrap()[0];
    assert!(record.ok && record.attempts == 1);
}

#[test]
fn authentication_uses_the_password_source_and_a_wrong_password_is_refused_unshown() {
    let setup = Setup::new();
    let sink = SmtpSink::start(Some(("cairn", SMTP_PASSWORD)));
    let good = setup.path("smtp.pass");
    std::fs::write(&good, format!("{SMTP_PASSWORD}\n")).unwrap();
    let wrong = setup.path("wrong.pass");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let notifier = setup.notifier(vec![
        channel(
            "mail",
            email(
                &sink,
                SmtpTls::Plain,
                Some("cairn"),
                Some(SecretSource::File(good)),
            ),
            &[],
        ),
        channel(
            "bad-mail",
            email(
                &sink,
                SmtpTls::Plain,
                Some("cairn"),
                Some(SecretSource::File(wrong)),
            ),
            &[],
        ),
    ]);
    let deliveries = block_on(notifier.test("mail"));
    assert!(deliveries.unwrap().is_delivered());
    let mail = sink.next_mail(Duration::from_secs(10)).expect("a mail");
    assert_eq!(mail.login.as_deref(), Some("cairn"));
    assert!(
        mail.data.contains("This is a test: the channel works."),
        "{}",
        mail.data
    );

    let refused = block_on(notifier.test("bad-mail")).unwrap();
    assert_eq!(refused.attempts, 1, "a refused login is not retried");
    let error = refused.result.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Refused);
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "channel bad-mail: smtp server 127.0.0.1:{}: permanent error (535)",
            sink.port()
        )),
        "{text}"
    );
    assert!(sink.next_mail(Duration::from_millis(300)).is_none());
    let records = format!("{:?}", setup.state.deliveries(None, 10).unwrap());
    for secret in [SMTP_PASSWORD, "not-the-password"] {
        assert!(
            !text.contains(secret) && !records.contains(secret),
            "{text}"
        );
    }
}

#[test]
fn starttls_required_never_falls_back_to_a_plain_connection() {
    let setup = Setup::new();
    // The sink offers no STARTTLS.
    let sink = SmtpSink::start(None);
    let notifier = setup.notifier(vec![channel(
        "mail",
        email(&sink, SmtpTls::Starttls, None, None),
        &[],
    )]);
    let delivery = block_on(notifier.test("mail")).unwrap();
    assert_eq!(
        delivery.attempts, 1,
        "a server without STARTTLS will not grow it"
    );
    let error = delivery.result.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Refused);
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "channel mail: smtp server 127.0.0.1:{}: ",
            sink.port()
        )) && text.contains("STARTTLS is not supported"),
        "{text}"
    );
    assert!(sink.next_mail(Duration::from_millis(300)).is_none());
}

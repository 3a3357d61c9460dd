//! `cairn notify test NAME` through the real binary, to receivers on 127.0.0.1: a webhook
//! that checks the signature, an ntfy topic that always fails, an SMTP sink.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use cairn_jobs::notify::test_receivers::{HttpReceiver, SmtpSink};
use cairn_state::StateStore;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::plans::PlanSetup;
use crate::support::{run_fail, run_ok};

const SECRET: &str = "cli-webhook-secret-77a0";

struct Channels {
    setup: PlanSetup,
    hook: HttpReceiver,
    broken: HttpReceiver,
    sink: SmtpSink,
}

fn channels() -> Channels {
    let hook = HttpReceiver::start(&[200]);
    let broken = HttpReceiver::start(&[500]);
    let sink = SmtpSink::start(None);
    let placeholder = PlanSetup::new("", "");
    let secret_file = placeholder.scratch.path("webhook.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let extra = format!(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{hook}\"\nsecret_file = \"{secret}\"\n\n\
         [[notify]]\nname = \"broken\"\nkind = \"ntfy\"\nurl = \"{broken}\"\n\n\
         [[notify]]\nname = \"mail\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\n\
         smtp_port = {port}\nsmtp_tls = \"plain\"\nfrom = \"cairn@backup.example\"\n\
         to = [\"ops@example.com\"]\n",
        hook = hook.url("/hook"),
        secret = secret_file.display(),
        broken = broken.url("/alerts"),
        port = sink.port(),
    );
    // The config is the plan setup's with the channels appended.
    let text = std::fs::read_to_string(&placeholder.config).unwrap();
    std::fs::write(&placeholder.config, format!("{text}\n{extra}")).unwrap();
    Channels {
        setup: placeholder,
        hook,
        broken,
        sink,
    }
}

#[test]
fn notify_test_delivers_a_signed_test_event_and_exits_0() {
    let c = channels();
    let output = run_ok(c.setup.cairn().args(["notify", "test", "hook"]));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "webhook channel hook: test notification delivered (HTTP 200 OK)\n"
    );
    let requests = c.hook.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.header("x-cairn-event"), Some("test"));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&request.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(request.header("x-cairn-signature"), Some(expected.as_str()));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["event"], "test");

    run_ok(c.setup.cairn().args(["notify", "test", "mail"]));
    let mail = c.sink.next_mail(Duration::from_secs(10)).expect("a mail");
    assert_eq!(mail.rcpt_tos, ["ops@example.com"]);
    assert!(mail.data.contains("Subject: cairn: test notification from"));
}

#[test]
fn notify_test_of_a_failing_channel_says_why_exits_1_and_is_recorded() {
    let c = channels();
    let output = run_fail(c.setup.cairn().args(["notify", "test", "broken", "--json"]));
    assert_eq!(output.status.code(), Some(1));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let endpoint = c.broken.url("/alerts");
    assert_eq!(result["channel"], "broken");
    assert_eq!(result["kind"], "ntfy");
    assert_eq!(result["event"], "test");
    assert_eq!(result["delivered"], false);
    assert_eq!(result["attempts"], 1);
    assert_eq!(
        result["error"],
        format!(
            "channel broken: {endpoint} answered 500 Internal Server Error; the receiver has a problem"
        )
    );
    // One attempt: the test shows the first answer at once.
    assert_eq!(c.broken.requests().len(), 1);

    let output = run_fail(c.setup.cairn().args(["notify", "test", "broken"]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "cairn: channel broken: {endpoint} answered 500 Internal Server Error; the receiver has a problem\n"
        )
    );
    assert!(output.stdout.is_empty());

    let output = run_fail(c.setup.cairn().args(["notify", "test", "pager"]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "cairn: no notify channel \"pager\" in the config; the channels are hook, broken, mail\n"
    );

    // Both failed tests are in the state database; the channel is listed as failing.
    let state = StateStore::open(&c.setup.state).unwrap();
    let failing = state.failing_channels(2).unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].channel, "broken");
    assert_eq!(failing[0].failed_in_a_row, 2);
    let records = state.deliveries(Some("broken"), 10).unwrap();
    assert!(records.iter().all(|r| r.event == "test" && r.job.is_none()));
}

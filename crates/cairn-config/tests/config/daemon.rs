//! The daemon's keys: `[daemon]`, `[[notify]]`, a plan's `catch_up`, `retries`, `stale_after`
//! and `[plans.NAME.drill]`, an offsite's `stale_after`.

use std::time::Duration;

use cairn_config::{DrillSample, NotifyEvent, NotifyKind, SmtpTls};

use super::{error_lines, parse, FILE, MAIN_REPOSITORY};

const PLAN: &str =
    "[plans.web]\nrepository = \"main\"\nsources = [\"/etc\"]\nschedule = \"@daily\"\n";

#[test]
fn daemon_notify_and_drill_keys_read_into_the_model() {
    let text = format!(
        "[daemon]\nmax_concurrent_jobs = 3\nmetrics_listen = \"127.0.0.1:9470\"\n\n\
         [[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://example.com/cairn\"\n\
         secret_file = \"/etc/cairn/hook.secret\"\non = [\"failure\", \"recovered\"]\nplans = [\"web\"]\n\n\
         [[notify]]\nname = \"mail\"\nkind = \"email\"\nsmtp_host = \"smtp.example.com\"\n\
         smtp_tls = \"tls\"\nfrom = \"cairn@example.com\"\nto = [\"ops@example.com\"]\n\
         password_env = \"SMTP_PASSWORD\"\n\n\
         {MAIN_REPOSITORY}\n{PLAN}catch_up = false\nretries = 5\nstale_after = \"36h\"\n\
         [plans.web.drill]\nschedule = \"0 5 * * 0\"\nsample = \"5%\"\nsample_min_files = 3\n"
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.daemon.max_concurrent_jobs, 3);
    assert_eq!(config.daemon.metrics_listen.unwrap().port(), 9470);
    assert_eq!(config.notify.len(), 2);
    let hook = &config.notify[0];
    assert!(
        matches!(&hook.kind, NotifyKind::Webhook { url, secret_file: Some(_) } if url == "https://example.com/cairn")
    );
    assert!(hook.wants(NotifyEvent::Failure, Some("web")));
    assert!(!hook.wants(NotifyEvent::Failure, Some("db")));
    assert!(!hook.wants(NotifyEvent::Stale, Some("web")));
    let NotifyKind::Email { port, tls, to, .. } = &config.notify[1].kind else {
        panic!("an email channel");
    };
    assert_eq!((*port, *tls, to.len()), (465, SmtpTls::Tls, 1));
    // Without `on`: the events someone must act on.
    assert!(config.notify[1].wants(NotifyEvent::Stale, Some("any")));
    assert!(!config.notify[1].wants(NotifyEvent::Success, Some("any")));
    let plan = config.plan("web").unwrap();
    assert!(!plan.catch_up);
    assert_eq!(plan.retries, 5);
    assert_eq!(
        plan.stale_after.unwrap().as_std(),
        Duration::from_secs(36 * 3600)
    );
    let drill = plan.drill.as_ref().unwrap();
    assert_eq!(
        drill.sample,
        DrillSample::Percent {
            percent: 5.0,
            min_files: 3
        }
    );
}

#[test]
fn defaults_catch_up_retry_three_times_and_run_two_jobs() {
    let config = parse(&format!("{MAIN_REPOSITORY}\n{PLAN}")).unwrap();
    let plan = config.plan("web").unwrap();
    assert!(plan.catch_up);
    assert_eq!(plan.retries, 3);
    assert_eq!(plan.stale_after, None);
    assert_eq!(config.daemon.max_concurrent_jobs, 2);
    assert!(config.notify.is_empty());
}

#[test]
fn each_mistake_is_reported_at_its_position() {
    let text = format!(
        "[daemon]\nmax_concurrent_jobs = 0\n\n\
         [[notify]]\nname = \"ops\"\nkind = \"pager\"\n\n\
         [[notify]]\nname = \"ops2\"\nkind = \"ntfy\"\nurl = \"ntfy.sh/topic\"\non = [\"failed\"]\nplans = [\"wbe\"]\n\n\
         {MAIN_REPOSITORY}\n{PLAN}[plans.web.drill]\nsample = \"lots\"\n"
    );
    let lines = error_lines(&text);
    let expected = [
        format!("{FILE}:2:23: max_concurrent_jobs: 0 is out of range"),
        format!("{FILE}:6:8: kind: \"pager\" is not a kind"),
        format!("{FILE}:11:7: url: \"ntfy.sh/topic\" is not an http(s) URL"),
        format!("{FILE}:12:7: on[0]: \"failed\" is not an event"),
        format!("{FILE}:13:10: plans: there is no plan \"wbe\""),
    ];
    for prefix in &expected {
        assert!(
            lines.iter().any(|l| l.starts_with(prefix.as_str())),
            "{prefix}\nin {lines:#?}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("drill of plan \"web\" has no schedule")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"lots\" is not a sample")),
        "{lines:#?}"
    );
}

//! The words of a notification for people (ntfy, mail): a title, a one-line summary and a
//! plain-text body, all from the one [`Event`].

use std::fmt::Write;

use cairn_config::NotifyEvent;

use super::event::{Event, EventName};

/// `cairn: backup web failed on host1`.
pub fn title(event: &Event) -> String {
    let plan = event.plan.as_deref().unwrap_or("-");
    let what = match event.job_kind {
        Some(kind) => format!("{kind} {plan}"),
        None => format!("plan {plan}"),
    };
    let text = match event.event {
        EventName::Notify(NotifyEvent::Failure) => format!("{what} failed"),
        EventName::Notify(NotifyEvent::Success) => format!("{what} succeeded"),
        EventName::Notify(NotifyEvent::Stale) => {
            format!("plan {plan} has no recent successful backup")
        }
        EventName::Notify(NotifyEvent::Recovered) => {
            format!("plan {plan} backs up again")
        }
        EventName::Notify(NotifyEvent::DrillFailed) => format!("restore drill of {plan} failed"),
        EventName::Notify(NotifyEvent::OffsiteStale) => format!(
            "offsite copy of repository {} is out of date",
            event.repository.as_deref().unwrap_or("-")
        ),
        EventName::Started => format!("{what} started"),
        EventName::Test => return format!("cairn: test notification from {}", event.host),
    };
    format!("cairn: {text} on {}", event.host)
}

/// The title, the job and the error on one line (an ntfy message).
pub fn one_line(event: &Event) -> String {
    let mut line = title(event);
    if let Some(job) = event.job {
        let _ = write!(line, " (job {job})");
    }
    if let Some(error) = &event.error {
        let _ = write!(line, ": {}", error.replace(['\n', '\r'], " "));
    }
    line
}

/// A mail's text: what happened, then every field that is set, then the log's tail.
pub fn body(event: &Event) -> String {
    let mut text = format!("{}\n\n", title(event));
    let mut field = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            let _ = writeln!(text, "{name:<12}{value}");
        }
    };
    field("Event:", Some(event.event.to_string()));
    field("Plan:", event.plan.clone());
    field("Repository:", event.repository.clone());
    field(
        "Job:",
        event.job.map(|id| match event.job_kind {
            Some(kind) => format!("{id} ({kind})"),
            None => id.to_string(),
        }),
    );
    field("Host:", Some(event.host.clone()));
    field("Started:", event.started_at.map(|t| t.to_rfc3339()));
    field("Finished:", event.finished_at.map(|t| t.to_rfc3339()));
    field("Snapshot:", event.snapshot.clone());
    field("Added:", event.bytes_added.map(|b| format!("{b} bytes")));
    field("Error:", event.error.clone());
    field("Raised:", Some(event.at.to_rfc3339()));
    if event.event == EventName::Test {
        text.push_str("\nThis is a test: the channel works.\n");
    }
    if !event.log_tail.is_empty() {
        text.push_str("\nLast lines of the job's log:\n");
        for line in &event.log_tail {
            let _ = writeln!(text, "  {line}");
        }
    }
    text
}

/// ntfy's priority: `high` when someone must act.
pub fn priority(event: &Event) -> &'static str {
    if event.event.is_alarm() {
        "high"
    } else {
        "default"
    }
}

/// ntfy's tags: an emoji short code ntfy shows before the title, `cairn`, and the event.
pub fn tags(event: &Event) -> String {
    let emoji = match event.event {
        EventName::Notify(NotifyEvent::Success | NotifyEvent::Recovered) => "white_check_mark",
        EventName::Notify(NotifyEvent::Stale | NotifyEvent::OffsiteStale) => "hourglass",
        EventName::Notify(NotifyEvent::Failure | NotifyEvent::DrillFailed) => "rotating_light",
        EventName::Started => "arrow_forward",
        EventName::Test => "test_tube",
    };
    format!("{emoji},cairn,{}", event.event)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn texts_name_the_plan_event_job_and_error() {
        let mut event = Event::new(
            NotifyEvent::Failure,
            Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        );
        event.host = "host1".into();
        event.plan = Some("web".into());
        event.job = Some(12);
        event.job_kind = Some(cairn_state::JobKind::Backup);
        event.error = Some("repository /srv/repo is locked\nby host2".into());
        event.log_tail = vec!["cairn: error: locked".into()];
        assert_eq!(title(&event), "cairn: backup web failed on host1");
        assert_eq!(
            one_line(&event),
            "cairn: backup web failed on host1 (job 12): repository /srv/repo is locked by host2"
        );
        let body = body(&event);
        for expected in [
            "Event:      failure",
            "Plan:       web",
            "Job:        12 (backup)",
            "Error:      repository /srv/repo is locked",
            "  cairn: error: locked",
        ] {
            assert!(body.contains(expected), "{expected:?} in\n{body}");
        }
        assert_eq!(priority(&event), "high");
        assert_eq!(tags(&event), "rotating_light,cairn,failure");
        event.event = EventName::Notify(NotifyEvent::Success);
        assert_eq!(priority(&event), "default");
    }
}

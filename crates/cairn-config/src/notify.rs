//! `[[notify]]`: where the daemon tells people what happened, and about what.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use crate::error::ErrorKind;
use crate::names::{name_problem, NAME_FORM};
use crate::raw::RawNotify;
use crate::secret::{SecretKeys, SecretSource};
use crate::section::Section;

/// What a channel is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotifyEvent {
    Failure,
    Success,
    /// No successful backup for longer than the plan's `stale_after`.
    Stale,
    /// A backup succeeded again after `stale` or `failure`.
    Recovered,
    DrillFailed,
    /// The offsite mirror's last successful sync is older than its `stale_after`.
    OffsiteStale,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 6] = [
        NotifyEvent::Failure,
        NotifyEvent::Success,
        NotifyEvent::Stale,
        NotifyEvent::Recovered,
        NotifyEvent::DrillFailed,
        NotifyEvent::OffsiteStale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Failure => "failure",
            NotifyEvent::Success => "success",
            NotifyEvent::Stale => "stale",
            NotifyEvent::Recovered => "recovered",
            NotifyEvent::DrillFailed => "drill_failed",
            NotifyEvent::OffsiteStale => "offsite_stale",
        }
    }

    pub fn parse(text: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

impl fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a mail server's connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a relay on the same host or network).
    Plain,
}

/// Where a channel delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyKind {
    /// POST of a JSON event, signed with HMAC-SHA256 of the body when a secret is set.
    Webhook {
        url: String,
        secret_file: Option<PathBuf>,
    },
    /// POST to an ntfy topic URL.
    Ntfy { url: String },
    /// healthchecks.io-style pings: `/start`, the URL itself, `/fail`.
    Healthchecks { url: String },
    Email {
        host: String,
        port: u16,
        tls: SmtpTls,
        username: Option<String>,
        password: Option<SecretSource>,
        from: String,
        to: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyChannel {
    pub name: String,
    pub kind: NotifyKind,
    /// The events it is told about.
    pub on: BTreeSet<NotifyEvent>,
    /// Only these plans; empty: every plan.
    pub plans: Vec<String>,
}

impl NotifyChannel {
    /// Whether this channel wants `event` about `plan` (`None`: not about one plan).
    pub fn wants(&self, event: NotifyEvent, plan: Option<&str>) -> bool {
        self.on.contains(&event)
            && (self.plans.is_empty() || plan.is_some_and(|p| self.plans.iter().any(|q| q == p)))
    }
}

const KINDS: &str = "\"webhook\", \"ntfy\", \"healthchecks\" or \"email\"";

pub(crate) fn build_notify(
    section: &mut Section<'_, '_>,
    raw: &RawNotify,
    plan_names: &BTreeSet<String>,
) -> Option<NotifyChannel> {
    let name = section
        .required("name", raw.name.as_deref(), "\"ops\"")
        .map(str::to_string);
    if let Some(name) = &name {
        if let Some(problem) = name_problem(name) {
            section.invalid(
                &section.key("name"),
                format!("{name:?} {problem}; {NAME_FORM}"),
            );
        }
    }
    let kind_text = section.required("kind", raw.kind.as_deref(), KINDS);
    let url = |section: &mut Section<'_, '_>| -> Option<String> {
        let url = section.required("url", raw.url.as_deref(), "\"https://…\"")?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            section.invalid(
                &section.key("url"),
                format!("{url:?} is not an http(s) URL; write one starting with https://"),
            );
            return None;
        }
        Some(url.to_string())
    };
    let kind = match kind_text {
        Some("webhook") => {
            let secret_file = raw.secret_file.as_deref().and_then(|text| {
                section.absolute_path(
                    &section.key("secret_file"),
                    text,
                    "/etc/cairn/webhook.secret",
                )
            });
            url(section).map(|url| NotifyKind::Webhook { url, secret_file })
        }
        Some("ntfy") => url(section).map(|url| NotifyKind::Ntfy { url }),
        Some("healthchecks") => url(section).map(|url| NotifyKind::Healthchecks { url }),
        Some("email") => build_email(section, raw),
        Some(other) => {
            section.invalid(
                &section.key("kind"),
                format!("{other:?} is not a kind; write {KINDS}"),
            );
            None
        }
        None => None,
    };
    // Keys that belong to other kinds are mistakes, not settings to ignore.
    let is = |k: &str| kind_text == Some(k);
    let misplaced = [
        ("secret_file", raw.secret_file.is_some() && !is("webhook")),
        ("url", raw.url.is_some() && is("email")),
        ("smtp_host", raw.smtp_host.is_some() && !is("email")),
        ("from", raw.from.is_some() && !is("email")),
        ("to", raw.to.is_some() && !is("email")),
    ];
    for (key, wrong) in misplaced {
        if wrong && kind_text.is_some() {
            section.wrong(
                &section.key(key),
                format!(
                    "does not apply to kind {:?}; remove it",
                    kind_text.unwrap_or_default()
                ),
            );
        }
    }
    let mut on = BTreeSet::new();
    match &raw.on {
        None => {
            on.insert(NotifyEvent::Failure);
            on.insert(NotifyEvent::Stale);
            on.insert(NotifyEvent::DrillFailed);
            on.insert(NotifyEvent::OffsiteStale);
        }
        Some(events) => {
            for (index, text) in events.iter().enumerate() {
                match NotifyEvent::parse(text) {
                    Some(event) => {
                        on.insert(event);
                    }
                    None => section.invalid(
                        &section.key("on").index(index),
                        format!(
                            "{text:?} is not an event; write any of {}",
                            NotifyEvent::ALL
                                .map(|e| format!("{:?}", e.as_str()))
                                .join(", ")
                        ),
                    ),
                }
            }
        }
    }
    let plans = raw.plans.clone().unwrap_or_default();
    for (index, plan) in plans.iter().enumerate() {
        if !plan_names.contains(plan) {
            section.report(
                ErrorKind::UnknownReference,
                &section.key("plans").index(index),
                format!("plans: there is no plan {plan:?}; name a [plans.NAME] table of this file"),
            );
        }
    }
    if section.failed() {
        return None;
    }
    Some(NotifyChannel {
        name: name?,
        kind: kind?,
        on,
        plans,
    })
}

fn build_email(section: &mut Section<'_, '_>, raw: &RawNotify) -> Option<NotifyKind> {
    let host = section.required(
        "smtp_host",
        raw.smtp_host.as_deref(),
        "\"smtp.example.com\"",
    );
    let tls = match raw.smtp_tls.as_deref() {
        None | Some("starttls") => SmtpTls::Starttls,
        Some("tls") => SmtpTls::Tls,
        Some("plain") => SmtpTls::Plain,
        Some(other) => {
            section.invalid(
                &section.key("smtp_tls"),
                format!("{other:?} is not a mode; write \"starttls\", \"tls\" or \"plain\""),
            );
            SmtpTls::Starttls
        }
    };
    let default_port = match tls {
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::Plain => 25,
    };
    let port = section.port("smtp_port", raw.smtp_port, default_port);
    let password =
        SecretKeys::of(&raw.password_file, &raw.password_command, &raw.password_env).build(section);
    let from = section.required("from", raw.from.as_deref(), "\"cairn@example.com\"");
    let to = section.required("to", raw.to.clone(), "[\"ops@example.com\"]");
    for (key, address) in from.iter().map(|f| ("from", *f)) {
        if !address.contains('@') {
            section.invalid(
                &section.key(key),
                format!("{address:?} is not a mail address"),
            );
        }
    }
    if let Some(list) = &to {
        if list.is_empty() {
            section.wrong(&section.key("to"), "is empty; write [\"ops@example.com\"]");
        }
        for (index, address) in list.iter().enumerate() {
            if !address.contains('@') {
                section.invalid(
                    &section.key("to").index(index),
                    format!("{address:?} is not a mail address"),
                );
            }
        }
    }
    Some(NotifyKind::Email {
        host: host?.to_string(),
        port,
        tls,
        username: raw.smtp_username.clone(),
        password,
        from: from?.to_string(),
        to: to?,
    })
}

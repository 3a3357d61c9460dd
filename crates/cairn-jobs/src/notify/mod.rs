//! Notifications: telling people what happened through the config's `[[notify]]` channels.
//!
//! # Layout
//! - [`event`] — [`Event`], what a notification says (also the webhook's JSON).
//! - [`message`] — its words for people: title, one line, mail body, ntfy priority and tags.
//! - [`webhook`], [`ntfy`], [`healthchecks`] (over [`http`]) and [`email`] — one channel
//!   kind each.
//! - [`retry`] — [`RetryPolicy`]: bounded attempts with growing pauses.
//! - [`clock`] — the injected [`Clock`] the pauses and the records' times come from.
//! - [`error`] — [`DeliveryError`].
//!
//! # Who hears what
//! Webhook, ntfy and email channels hear the events their `on` lists, about the plans their
//! `plans` lists (all when empty). Healthchecks channels ignore `on`: they follow the life of
//! a job (`start`, success, `fail`; see [`healthchecks`]) of their plans, because a check that
//! does not hear every success raises "late" by itself. `cairn notify test` sends a `test`
//! event to the one channel it names, whatever its `on` and `plans`.
//!
//! # Invariants
//! - Delivery never blocks a job: [`Notifier::notify`] is a future the daemon runs in a task
//!   of its own; every attempt is bounded by the policy's timeout, the attempts by its count.
//! - Every delivery, delivered or not, is recorded in the state database after its last
//!   attempt (channel, event, plan, job, time, attempts, error).
//! - No secret (webhook secret, SMTP password, credentials in a URL) reaches a message, a
//!   record or a log line: secrets are read at delivery, URLs are shown without credentials
//!   or query, and an error that echoes a secret has it masked.

pub mod clock;
pub mod email;
pub mod error;
pub mod event;
pub mod healthchecks;
pub mod http;
pub mod message;
pub mod ntfy;
pub mod retry;
#[cfg(feature = "test-receivers")]
pub mod test_receivers;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;

use cairn_config::{NotifyChannel, NotifyKind};
use cairn_state::{NewDelivery, StateStore};

pub use clock::{Clock, SystemClock};
pub use error::{DeliveryError, DeliveryErrorKind};
pub use event::{Event, EventName};
pub use retry::RetryPolicy;

use crate::JobError;

/// How one channel's delivery of one event went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub channel: String,
    /// `webhook`, `ntfy`, `healthchecks`, `email`.
    pub kind: &'static str,
    pub event: EventName,
    pub attempts: u32,
    /// What the receiver answered (`HTTP 200 OK`, `250 2.0.0 Ok`), or why it was not
    /// delivered.
    pub result: Result<String, DeliveryError>,
}

impl Delivery {
    pub fn is_delivered(&self) -> bool {
        self.result.is_ok()
    }
}

/// Sends events to the channels that want them, retrying and recording each delivery.
/// Cheap to clone: the daemon gives each notification task its own.
#[derive(Clone)]
pub struct Notifier {
    channels: Arc<[NotifyChannel]>,
    state: Arc<StateStore>,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// Shared by every HTTP channel, so connections to one receiver are reused.
    client: reqwest::Client,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.channels.iter().map(|c| c.name.as_str()).collect();
        f.debug_struct("Notifier")
            .field("channels", &names)
            .field("policy", &self.policy)
            .finish()
    }
}

impl Notifier {
    /// A notifier with the default [`RetryPolicy`] and the system clock.
    pub fn new(channels: Vec<NotifyChannel>, state: Arc<StateStore>) -> Notifier {
        Notifier {
            channels: channels.into(),
            state,
            policy: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            client: http::client(),
        }
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Notifier {
        self.policy = policy;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Notifier {
        self.clock = clock;
        self
    }

    /// The channels `event` goes to (see the module's "Who hears what").
    pub fn channels_for<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = &'a NotifyChannel> {
        self.channels
            .iter()
            .filter(move |channel| hears(channel, event))
    }

    /// Delivers `event` to every channel that wants it, all at once; returns how each went.
    pub async fn notify(&self, event: &Event) -> Vec<Delivery> {
        let deliveries = self.channels_for(event).map(|c| self.deliver(c, event));
        futures::future::join_all(deliveries).await
    }

    /// Sends a `test` event to the channel named `name`.
    pub async fn test(&self, name: &str) -> Result<Delivery, JobError> {
        let channel = self
            .channels
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.channels.iter().map(|c| c.name.as_str()).collect();
                JobError::InvalidInput(match names.as_slice() {
                    [] => format!("no notify channel {name:?}: the config has no [[notify]] entry"),
                    _ => format!(
                        "no notify channel {name:?} in the config; the channels are {}",
                        names.join(", ")
                    ),
                })
            })?;
        // Not logged: the caller shows the outcome (the CLI prints it).
        Ok(self.send(channel, &Event::test(self.clock.now())).await)
    }

    /// Delivers `event` to `channel` (whether or not it wants it), with retries, and records
    /// the outcome.
    pub async fn deliver(&self, channel: &NotifyChannel, event: &Event) -> Delivery {
        let delivery = self.send(channel, event).await;
        match &delivery.result {
            Ok(answer) => tracing::info!(
                "notification {} delivered to channel {} ({answer})",
                event.event,
                channel.name
            ),
            Err(error) => tracing::warn!(
                "notification {} not delivered after {} attempt(s): {error}",
                event.event,
                delivery.attempts
            ),
        }
        delivery
    }

    /// Delivers with retries and records the outcome, without logging it.
    async fn send(&self, channel: &NotifyChannel, event: &Event) -> Delivery {
        let attempted = retry::with_retries(&self.policy, self.clock.as_ref(), || {
            self.attempt(channel, event)
        })
        .await;
        let delivery = Delivery {
            channel: channel.name.clone(),
            kind: kind_name(&channel.kind),
            event: event.event,
            attempts: attempted.attempts,
            result: attempted.result,
        };
        self.record(&delivery, event).await;
        delivery
    }

    async fn attempt(
        &self,
        channel: &NotifyChannel,
        event: &Event,
    ) -> Result<String, DeliveryError> {
        let timeout = self.policy.attempt_timeout;
        let name = channel.name.as_str();
        let http_answer = |status: reqwest::StatusCode| format!("HTTP {status}");
        match &channel.kind {
            NotifyKind::Webhook { url, secret_file } => webhook::send(
                &self.client,
                name,
                url,
                secret_file.as_deref(),
                event,
                timeout,
            )
            .await
            .map(http_answer),
            NotifyKind::Ntfy { url } => ntfy::send(&self.client, name, url, event, timeout)
                .await
                .map(http_answer),
            NotifyKind::Healthchecks { url } => {
                match healthchecks::send(&self.client, name, url, event, timeout).await? {
                    Some(status) => Ok(http_answer(status)),
                    None => Ok(format!("no ping for {}", event.event)),
                }
            }
            NotifyKind::Email {
                host,
                port,
                tls,
                username,
                password,
                from,
                to,
            } => {
                let smtp = email::SmtpSettings {
                    host,
                    port: *port,
                    tls: *tls,
                    username: username.as_deref(),
                    password: password.as_ref(),
                    from,
                    to,
                };
                email::send(name, &smtp, event, timeout).await
            }
        }
    }

    /// Records a delivery on a blocking thread (SQLite may wait for another writer).
    async fn record(&self, delivery: &Delivery, event: &Event) {
        let record = NewDelivery {
            channel: delivery.channel.clone(),
            event: delivery.event.as_str().to_string(),
            plan: event.plan.clone(),
            job: event.job,
            at: self.clock.now(),
            attempts: delivery.attempts,
            error: delivery.result.as_ref().err().map(ToString::to_string),
        };
        let state = self.state.clone();
        let written = tokio::task::spawn_blocking(move || state.record_delivery(&record)).await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(
                "cannot record the delivery to channel {}: {e}",
                delivery.channel
            ),
            Err(e) => tracing::warn!(
                "cannot record the delivery to channel {}: {e}",
                delivery.channel
            ),
        }
    }
}

/// Whether `channel` hears `event` (see the module's "Who hears what").
fn hears(channel: &NotifyChannel, event: &Event) -> bool {
    let plan = event.plan.as_deref();
    let plan_matches =
        channel.plans.is_empty() || plan.is_some_and(|p| channel.plans.iter().any(|q| q == p));
    match (&channel.kind, event.event) {
        (_, EventName::Test) => false,
        (NotifyKind::Healthchecks { .. }, name) => {
            plan_matches && healthchecks::ping_of(name).is_some()
        }
        (_, EventName::Notify(name)) => channel.wants(name, plan),
        (_, EventName::Started) => false,
    }
}

pub fn kind_name(kind: &NotifyKind) -> &'static str {
    match kind {
        NotifyKind::Webhook { .. } => "webhook",
        NotifyKind::Ntfy { .. } => "ntfy",
        NotifyKind::Healthchecks { .. } => "healthchecks",
        NotifyKind::Email { .. } => "email",
    }
}

/// Runs `future` to its end on a runtime of its own, for callers without one (the CLI).
/// Must not be called from inside a tokio runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for one delivery")
        .block_on(future)
}

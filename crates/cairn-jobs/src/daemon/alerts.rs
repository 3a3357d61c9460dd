//! Alerts to the config's notification channels: each delivery runs in a task of its own on
//! the daemon's runtime, so a slow or dead channel never holds up a job or the scheduler.

use std::sync::{Arc, RwLock};

use cairn_config::{Config, NotifyEvent};
use cairn_state::{JobRecord, JobState, StateStore};
use tokio::runtime::Handle;

use super::{Alert, AlertSink, LogAlerts};
use crate::notify::{Event, EventName, Notifier};

pub struct NotifierAlerts {
    /// Replaced on reload; a delivery under way keeps the channels it started with.
    notifier: RwLock<Notifier>,
    state: Arc<StateStore>,
    runtime: Handle,
}

impl NotifierAlerts {
    /// Delivers on the runtime this is created in (the daemon's).
    pub fn new(notifier: Notifier, state: Arc<StateStore>) -> NotifierAlerts {
        NotifierAlerts {
            notifier: RwLock::new(notifier),
            state,
            runtime: Handle::current(),
        }
    }

    fn send(&self, event: Event) {
        let notifier = self
            .notifier
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.runtime.spawn(async move {
            for delivery in notifier.notify(&event).await {
                if let Err(error) = &delivery.result {
                    tracing::warn!(
                        "notification {} to channel {} failed: {error}",
                        delivery.event,
                        delivery.channel
                    );
                }
            }
        });
    }

    fn job_event(&self, event: impl Into<EventName>, job: &JobRecord) -> Event {
        let log = self.state.log(job.id).unwrap_or_default();
        Event::for_job(event, job, &log, chrono::Utc::now())
    }
}

impl AlertSink for NotifierAlerts {
    fn alert(&self, alert: Alert) {
        LogAlerts.alert(alert.clone());
        let event = match &alert.job {
            Some(job) => self.job_event(alert.event, job),
            None => {
                let mut event = Event::new(alert.event, chrono::Utc::now());
                event.plan = alert.plan.clone();
                if matches!(alert.event, NotifyEvent::Stale | NotifyEvent::OffsiteStale) {
                    event.error = Some(alert.detail.clone());
                }
                event
            }
        };
        self.send(event);
    }

    fn reload(&self, config: &Config) {
        let notifier = Notifier::new(config.notify.clone(), self.state.clone());
        *self.notifier.write().unwrap_or_else(|e| e.into_inner()) = notifier;
    }

    fn job_changed(&self, job: &JobRecord) {
        // Healthchecks channels hear a job start; its end arrives as success or failure.
        if job.state == JobState::Running {
            self.send(self.job_event(EventName::Started, job));
        }
    }
}

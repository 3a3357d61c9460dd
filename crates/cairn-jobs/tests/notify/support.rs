//! A state database, channels, events from real job records, and a clock that records the
//! pauses it is asked for instead of sleeping.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_config::{NotifyChannel, NotifyEvent, NotifyKind};
use cairn_jobs::notify::clock::Sleep;
use cairn_jobs::notify::{Clock, Event, EventName, Notifier};
use cairn_state::{JobEnd, JobKind, JobState, NewJob, StateStore, Trigger};
use chrono::{DateTime, TimeZone, Utc};

pub const WEBHOOK_SECRET: &str = "webhook-secret-4f1b9c";

pub fn start_time() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

/// Moves its time by each pause asked for, at once, and remembers the pauses.
pub struct FakeClock {
    now: Mutex<DateTime<Utc>>,
    pub sleeps: Mutex<Vec<Duration>>,
}

impl FakeClock {
    pub fn new() -> Arc<FakeClock> {
        Arc::new(FakeClock {
            now: Mutex::new(start_time()),
            sleeps: Mutex::new(Vec::new()),
        })
    }

    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        self.sleeps.lock().unwrap().push(duration);
        let mut now = self.now.lock().unwrap();
        *now += chrono::Duration::from_std(duration).unwrap();
        Box::pin(std::future::ready(()))
    }
}

/// A scratch directory with a state database and a webhook secret file.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub state: Arc<StateStore>,
    pub clock: Arc<FakeClock>,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(StateStore::open(&dir.path().join("state")).unwrap());
        std::fs::write(
            dir.path().join("webhook.secret"),
            format!("{WEBHOOK_SECRET}\n"),
        )
        .unwrap();
        Setup {
            dir,
            state,
            clock: FakeClock::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn secret_file(&self) -> PathBuf {
        self.path("webhook.secret")
    }

    /// A notifier over `channels` with the default retry policy on the fake clock.
    pub fn notifier(&self, channels: Vec<NotifyChannel>) -> Notifier {
        Notifier::new(channels, self.state.clone()).with_clock(self.clock.clone())
    }

    /// A backup job of plan `web` recorded as failed after 25 log lines; its `failure` event.
    pub fn failed_backup(&self) -> Event {
        let id = self
            .state
            .create_job(&new_job(), Some(start_time()))
            .unwrap();
        let lines: Vec<String> = (0..25).map(|i| format!("step line {i}")).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        self.state
            .append_log(id, "cairn", &lines, start_time())
            .unwrap();
        let end = JobEnd {
            state: JobState::Failed,
            snapshot: None,
            bytes_added: None,
            error: Some("backup: source /srv/www does not exist".into()),
        };
        self.state.finish_job(id, &end, start_time()).unwrap();
        self.job_event(NotifyEvent::Failure, id)
    }

    /// A backup job of plan `web` recorded as succeeded; its `success` event.
    pub fn succeeded_backup(&self) -> Event {
        let id = self
            .state
            .create_job(&new_job(), Some(start_time()))
            .unwrap();
        let end = JobEnd {
            state: JobState::Succeeded,
            snapshot: Some("4f6d0c1a".into()),
            bytes_added: Some(123_456),
            error: None,
        };
        self.state.finish_job(id, &end, start_time()).unwrap();
        self.job_event(NotifyEvent::Success, id)
    }

    /// The `start` event of a running backup job of plan `web`.
    pub fn started_backup(&self) -> Event {
        let id = self
            .state
            .create_job(&new_job(), Some(start_time()))
            .unwrap();
        let job = self.state.job(id).unwrap();
        Event::for_job(EventName::Started, &job, &[], start_time())
    }

    fn job_event(&self, event: NotifyEvent, id: i64) -> Event {
        let job = self.state.job(id).unwrap();
        let log = self.state.log(id).unwrap();
        Event::for_job(event, &job, &log, start_time())
    }
}

fn new_job() -> NewJob {
    NewJob::first(
        JobKind::Backup,
        Some("web".into()),
        Some("main".into()),
        Trigger::Schedule,
        start_time(),
    )
}

/// A channel hearing `on` (every event when empty) about every plan.
pub fn channel(name: &str, kind: NotifyKind, on: &[NotifyEvent]) -> NotifyChannel {
    let on: BTreeSet<NotifyEvent> = if on.is_empty() {
        NotifyEvent::ALL.into_iter().collect()
    } else {
        on.iter().copied().collect()
    };
    NotifyChannel {
        name: name.into(),
        kind,
        on,
        plans: Vec::new(),
    }
}

pub fn webhook(url: String, secret_file: Option<&Path>) -> NotifyKind {
    NotifyKind::Webhook {
        url,
        secret_file: secret_file.map(Path::to_path_buf),
    }
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    cairn_jobs::notify::block_on(future)
}

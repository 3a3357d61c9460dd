//! Hook commands: `sh -c COMMAND`, in their own process group, with a timeout, the run's
//! environment (`CAIRN_PLAN`, `CAIRN_REPOSITORY`, `CAIRN_SNAPSHOT_ID`, `CAIRN_STATUS`,
//! `CAIRN_ERROR`), and every line they print handed to the caller for the run's log.
//!
//! A hook that outlives its timeout is killed with its whole process group (SIGTERM, then
//! SIGKILL after a grace period), so a `sleep` or a stuck child it started does not keep the
//! run waiting or linger afterwards.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a hook sees of the run.
#[derive(Debug, Clone, Default)]
pub struct HookEnvironment {
    pub plan: String,
    /// The repository's location (as `-r` takes it), so a hook can run `cairn` on it.
    pub repository: String,
    pub snapshot_id: Option<String>,
    /// `running` during the run, `success` or `failure` in `finally`.
    pub status: String,
    pub error: Option<String>,
}

impl HookEnvironment {
    fn apply(&self, command: &mut Command) {
        command
            .env("CAIRN_PLAN", &self.plan)
            .env("CAIRN_REPOSITORY", &self.repository)
            .env("CAIRN_STATUS", &self.status)
            .env(
                "CAIRN_SNAPSHOT_ID",
                self.snapshot_id.as_deref().unwrap_or(""),
            )
            .env("CAIRN_ERROR", self.error.as_deref().unwrap_or(""));
    }
}

/// How long a hook that was asked to stop (SIGTERM) gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Why a hook did not succeed, as the rest of the sentence "hook `CMD` …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookFailure {
    Exited(String),
    TimedOut(Duration),
    NotStarted(String),
    Cancelled,
}

impl std::fmt::Display for HookFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookFailure::Exited(status) => write!(f, "failed ({status})"),
            HookFailure::TimedOut(limit) => write!(
                f,
                "did not finish within {}s and was killed with its process group; raise \
                 hooks.timeout or make it faster",
                limit.as_secs()
            ),
            HookFailure::NotStarted(why) => write!(f, "could not start: {why}"),
            HookFailure::Cancelled => write!(f, "was killed: the job was cancelled"),
        }
    }
}

/// Runs one hook; every line it prints (standard output and error) goes to `line` as it comes.
pub fn run_hook(
    command: &str,
    environment: &HookEnvironment,
    timeout: Duration,
    cancel: &AtomicBool,
    line: &mut dyn FnMut(&str),
) -> Result<(), HookFailure> {
    let mut process = Command::new("sh");
    process
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the timeout can stop everything it started.
        .process_group(0);
    environment.apply(&mut process);
    let mut child = process
        .spawn()
        .map_err(|e| HookFailure::NotStarted(e.to_string()))?;
    let (sender, lines) = mpsc::channel::<String>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for text in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = sender.send(text);
            }
        })
    })
    .collect();
    drop(sender);

    let deadline = Instant::now() + timeout;
    let group = child.id() as libc::pid_t;
    let status: ExitStatus = loop {
        match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(text) => line(&text),
            Err(mpsc::RecvTimeoutError::Timeout) | Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }
        if let Some(status) = child
            .try_wait()
            .map_err(|e| HookFailure::NotStarted(e.to_string()))?
        {
            break status;
        }
        let cancelled = cancel.load(Ordering::Relaxed);
        if cancelled || Instant::now() >= deadline {
            kill_group(group, &mut child);
            // Lines printed before the kill still belong in the log.
            for text in lines.try_iter() {
                line(&text);
            }
            return Err(if cancelled {
                HookFailure::Cancelled
            } else {
                HookFailure::TimedOut(timeout)
            });
        }
    };
    // The shell is gone; children it left holding the pipes would keep the readers waiting.
    // SAFETY: kill(2) on the process group this hook created; it may already be empty.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    for text in lines {
        line(&text);
    }
    for reader in readers {
        let _ = reader.join();
    }
    if status.success() {
        Ok(())
    } else {
        Err(HookFailure::Exited(status.to_string()))
    }
}

/// SIGTERM to the group, then SIGKILL after the grace period; reaps the shell.
fn kill_group(group: libc::pid_t, child: &mut std::process::Child) {
    // SAFETY: kill(2) on the process group this hook created.
    unsafe {
        libc::kill(-group, libc::SIGTERM);
    }
    let until = Instant::now() + KILL_GRACE;
    while Instant::now() < until {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above; whatever is left of the group goes.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment() -> HookEnvironment {
        HookEnvironment {
            plan: "web".into(),
            repository: "/srv/repo".into(),
            snapshot_id: Some("abcd".into()),
            status: "running".into(),
            error: None,
        }
    }

    #[test]
    fn a_hook_sees_the_run_and_its_lines_are_collected() {
        let mut lines = Vec::new();
        run_hook(
            "echo \"$CAIRN_PLAN $CAIRN_REPOSITORY $CAIRN_SNAPSHOT_ID $CAIRN_STATUS\"; echo oops >&2",
            &environment(),
            Duration::from_secs(10),
            &AtomicBool::new(false),
            &mut |l| lines.push(l.to_string()),
        )
        .unwrap();
        lines.sort();
        assert_eq!(lines, ["oops", "web /srv/repo abcd running"]);
    }

    #[test]
    fn a_failing_hook_says_how() {
        let failure = run_hook(
            "exit 7",
            &environment(),
            Duration::from_secs(10),
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(failure.to_string().contains("exit status: 7"), "{failure}");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-pid");
        let started = Instant::now();
        let failure = run_hook(
            &format!(
                "sleep 300 & echo $! > {}; echo started; wait",
                marker.display()
            ),
            &environment(),
            Duration::from_millis(500),
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(failure, HookFailure::TimedOut(_)), "{failure}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let pid: libc::pid_t = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background sleep went with its group.
        std::thread::sleep(Duration::from_millis(100));
        // Gone, or a zombie waiting for init to reap it: not running either way.
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let running = state
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'));
        assert!(
            !running,
            "the hook's child {pid} survived the timeout: {state}"
        );
    }

    #[test]
    fn a_cancelled_hook_is_killed_at_once() {
        let cancel = AtomicBool::new(true);
        let started = Instant::now();
        let failure = run_hook(
            "sleep 60",
            &environment(),
            Duration::from_secs(60),
            &cancel,
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(failure, HookFailure::Cancelled);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

//! `cairn daemon` as a real process: its schedule, its queue, cancel, kill -9 and restart,
//! SIGHUP, and what `cairn jobs`, `cairn status` and `/metrics` say about it.

pub mod faults;
mod notify;
mod progress;
mod queue;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{cairn, run_ok, stdout, Scratch};

/// A config with one local repository and the plans given (each a `[plans.NAME]` body).
pub struct DaemonSetup {
    pub scratch: Scratch,
    pub config: PathBuf,
    pub state: PathBuf,
    pub repo: PathBuf,
}

impl DaemonSetup {
    pub fn new(plans: &[(&str, &str)], extra: &str) -> DaemonSetup {
        let scratch = Scratch::new();
        let repo = scratch.init_repo("repo");
        let state = scratch.path("state");
        let mut text = format!(
            "state_dir = \"{}\"\n{extra}\n[repositories.main]\nlocation = \"{}\"\npassword_file = \"{}\"\n",
            state.display(),
            repo.display(),
            scratch.password_file.display()
        );
        for (name, body) in plans {
            let source = scratch.path(&format!("src-{name}"));
            std::fs::create_dir_all(&source).unwrap();
            std::fs::write(source.join("file.txt"), format!("{name}\n")).unwrap();
            text.push_str(&format!(
                "\n[plans.{name}]\nrepository = \"main\"\nsources = [\"{}\"]\n{body}\n",
                source.display()
            ));
        }
        let config = scratch.path("cairn.toml");
        std::fs::write(&config, text).unwrap();
        DaemonSetup {
            scratch,
            config,
            state,
            repo,
        }
    }

    pub fn source(&self, plan: &str) -> PathBuf {
        self.scratch.path(&format!("src-{plan}"))
    }

    /// `cairn --config FILE ARGS…`
    pub fn cairn(&self) -> Command {
        let mut command = cairn();
        command.arg("--config").arg(&self.config);
        command
    }

    /// Starts the daemon and waits for its socket.
    pub fn start(&self) -> Daemon {
        self.start_with(&[])
    }

    /// Starts the daemon with `env` added to its environment.
    pub fn start_with(&self, env: &[(&str, &str)]) -> Daemon {
        let log = self.scratch.path("daemon.log");
        let child = self
            .cairn()
            .envs(env.iter().copied())
            .env("CAIRN_LOG", "info")
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn cairn daemon");
        let daemon = Daemon {
            child: Some(child),
            log,
        };
        let socket = self.state.join("cairn.sock");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "the daemon did not open {}:\n{}",
                socket.display(),
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    /// `cairn jobs --json`, newest first.
    pub fn jobs(&self) -> Vec<serde_json::Value> {
        let output = run_ok(self.cairn().args(["jobs", "--json", "--limit", "1000"]));
        serde_json::from_slice(&output.stdout).expect("jobs --json")
    }

    /// Waits until `done` holds for the job list (or panics after `limit`).
    pub fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            let jobs = self.jobs();
            if done(&jobs) {
                return jobs;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {jobs:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `restic check` of the repository.
    pub fn restic_check(&self) {
        run_ok(self.scratch.restic(&self.repo).arg("check"));
    }

    pub fn state_dir(&self) -> &Path {
        &self.state
    }
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits for the process to exit (after a signal); returns its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the daemon did not exit within {limit:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The states of jobs by id.
pub fn states(jobs: &[serde_json::Value]) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = jobs
        .iter()
        .map(|j| {
            (
                j["id"].as_i64().unwrap(),
                j["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// `cairn status --json` of a setup.
pub fn status(setup: &DaemonSetup) -> Vec<serde_json::Value> {
    let output = setup.cairn().args(["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("status --json");
    status["plans"]
        .as_array()
        .expect("status --json plans")
        .clone()
}

//! Plans through the real binary: `cairn run` carries out the chain (hooks, backup, retention,
//! prune, check, offsite) and records it; `cairn plans` reports it; restic reads the result.

mod chain;
pub mod dumps;
mod hooks;
mod restore_db;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{cairn, run_ok, Scratch};

/// A scratch directory with a config file, a local repository, a source tree and a state
/// directory.
pub struct PlanSetup {
    pub scratch: Scratch,
    pub config: PathBuf,
    pub repo: PathBuf,
    pub source: PathBuf,
    pub state: PathBuf,
}

impl PlanSetup {
    /// `plan_body` is the rest of `[plans.web]` after `repository` and `sources`; `extra` is
    /// appended to the file (hooks tables, more plans).
    pub fn new(plan_body: &str, extra: &str) -> PlanSetup {
        let scratch = Scratch::new();
        let repo = scratch.init_repo("repo");
        let source = scratch.path("src");
        std::fs::create_dir_all(source.join("etc")).unwrap();
        std::fs::write(source.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
        std::fs::write(source.join("notes.txt"), b"day one\n").unwrap();
        let state = scratch.path("state");
        let config = scratch.path("cairn.toml");
        let text = format!(
            "state_dir = \"{state}\"\n\n\
             [repositories.main]\nlocation = \"{repo}\"\npassword_file = \"{password}\"\n\n\
             [plans.web]\nrepository = \"main\"\nsources = [\"{source}\"]\n{plan_body}\n{extra}",
            state = state.display(),
            repo = repo.display(),
            password = scratch.password_file.display(),
            source = source.display(),
        );
        std::fs::write(&config, text).unwrap();
        PlanSetup {
            scratch,
            config,
            repo,
            source,
            state,
        }
    }

    /// `cairn --config FILE ARGS…`
    pub fn cairn(&self) -> Command {
        let mut command = cairn();
        command
            .arg("--config")
            .arg(&self.config)
            .env("CAIRN_CACHE_DIR", self.scratch.path("cache"));
        command
    }

    /// `cairn run web --json`, succeeding; the run's JSON (job, steps, log).
    pub fn run_ok(&self, extra: &[&str]) -> serde_json::Value {
        let output = run_ok(self.cairn().args(["run", "web", "--json"]).args(extra));
        serde_json::from_slice(&output.stdout).expect("run --json")
    }

    /// `cairn restore-db web ARGS… --json`, succeeding; its JSON (job, steps, log, restored).
    pub fn restore_db(&self, args: &[&str]) -> serde_json::Value {
        let output = run_ok(
            self.cairn()
                .args(["--json", "restore-db", "web"])
                .args(args),
        );
        serde_json::from_slice(&output.stdout).expect("restore-db --json")
    }

    /// The steps of a run's JSON as `name: state` strings.
    pub fn steps(run: &serde_json::Value) -> Vec<String> {
        run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}: {}",
                    s["name"].as_str().unwrap(),
                    s["state"].as_str().unwrap()
                )
            })
            .collect()
    }

    pub fn repo(&self) -> &Path {
        &self.repo
    }
}

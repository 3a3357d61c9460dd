//! A client's side of remote commands: what it knows to judge them by (its own plans and
//! jobs, never what the server claims), and running them on its daemon. The session has
//! checked each command against the grant before it gets here.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_jobs::browse::restore::{restore_root, RestoreRequest};
use cairn_state::{JobKind, StateStore, Trigger};
use cairn_sync::job::JobId;
use cairn_sync::{CommandKind, LocalResources};

use super::hub::Multihost;
use super::stores::sync_job;

/// The client's plans (with their repositories, from the config the daemon runs with) and
/// its jobs.
pub(crate) struct LocalPlans {
    plans: BTreeMap<String, String>,
    state: Arc<StateStore>,
}

impl LocalPlans {
    pub(crate) fn of(hub: &Multihost) -> LocalPlans {
        let plans = hub
            .daemon()
            .map(|daemon| {
                daemon
                    .config()
                    .plans
                    .iter()
                    .map(|(name, plan)| (name.clone(), plan.repository.clone()))
                    .collect()
            })
            .unwrap_or_default();
        LocalPlans {
            plans,
            state: hub.state.clone(),
        }
    }
}

impl LocalResources for LocalPlans {
    fn plan_repository(&self, plan: &str) -> Option<String> {
        self.plans.get(plan).cloned()
    }

    fn job_scope(&self, job_id: JobId) -> Option<(Option<String>, Option<String>)> {
        let job = self.state.job(job_id).ok()?;
        Some((job.plan, job.repository))
    }
}

/// Runs a command; the answer is JSON (`RunPlan`, `Restore`, `CancelJob`: the job, as
/// `cairn jobs --json` prints it; `Browse`: the directory listing, as the API's `tree`
/// answers; `FetchLog`: the log lines, as the API's `jobs/{id}/log` answers, chunked by the
/// session when large).
pub(crate) fn run_command(hub: &Multihost, kind: &CommandKind) -> Result<Vec<u8>, String> {
    let Some(daemon) = hub.daemon() else {
        return Err("this instance runs no daemon to run commands".into());
    };
    match kind {
        CommandKind::RunPlan { plan } => {
            let job = daemon
                .queue_plan(plan, JobKind::Backup, Trigger::Manual)
                .map_err(|e| e.to_string())?;
            serde_json::to_vec(&sync_job(&job)).map_err(|e| e.to_string())
        }
        CommandKind::Browse {
            repository,
            snapshot,
            path,
        } => {
            let listing = daemon
                .browser()
                .tree(&daemon.config(), repository, snapshot, path)
                .map_err(|e| e.to_string())?;
            serde_json::to_vec(&listing).map_err(|e| e.to_string())
        }
        CommandKind::CancelJob { job_id } => {
            let job = daemon.cancel(*job_id).map_err(|e| e.to_string())?;
            serde_json::to_vec(&sync_job(&job)).map_err(|e| e.to_string())
        }
        CommandKind::Restore {
            repository,
            snapshot,
            target,
            include,
        } => {
            // The target names a directory of this client: the server cannot know its
            // working directory, so a relative one is refused rather than guessed. The
            // restore job then places it below the restore root, as the API does.
            if !std::path::Path::new(target).is_absolute() {
                return Err(format!(
                    "restore target {target:?} is relative; give an absolute directory below {}",
                    restore_root(&daemon.config()).display()
                ));
            }
            let request = RestoreRequest {
                snapshot: snapshot.clone(),
                path: None,
                target: target.clone(),
                include: include.clone(),
                exclude: Vec::new(),
            };
            let job = daemon
                .queue_restore(repository, &request)
                .map_err(|e| e.to_string())?;
            serde_json::to_vec(&sync_job(&job)).map_err(|e| e.to_string())
        }
        CommandKind::FetchLog { job_id } => {
            // An unknown job is an error, not an empty log.
            hub.state.job(*job_id).map_err(|e| e.to_string())?;
            let lines = hub.state.log(*job_id).map_err(|e| e.to_string())?;
            serde_json::to_vec(&lines).map_err(|e| e.to_string())
        }
    }
}

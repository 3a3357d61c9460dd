//! What `cairn status` and the API's plan list say about each plan: when it last succeeded,
//! when it runs next, whether it is stale, its last drill.

use cairn_state::{JobKind, JobRecord, JobState};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{schedule, Daemon};
use crate::Result;

#[derive(Debug, Clone, Serialize)]
pub struct PlanStatus {
    pub name: String,
    pub repository: String,
    pub schedule: Option<String>,
    pub next_run: Option<DateTime<Utc>>,
    pub last_run: Option<JobRecord>,
    pub last_success: Option<DateTime<Utc>>,
    pub stale: bool,
    /// Alerts raised and not yet cleared (`stale`, `failure`).
    pub alerts: Vec<String>,
    pub last_drill: Option<JobRecord>,
    pub last_offsite_sync: Option<DateTime<Utc>>,
}

impl Daemon {
    /// Every plan's status, by name.
    pub fn plan_statuses(&self) -> Result<Vec<PlanStatus>> {
        let config = self.config();
        let now = self.now();
        let mut out = Vec::new();
        for plan in config.plans.values() {
            let state = self.state();
            let last_success = state
                .last_job(&plan.name, JobKind::Backup, Some(JobState::Succeeded))?
                .and_then(|j| j.finished_at);
            out.push(PlanStatus {
                name: plan.name.clone(),
                repository: plan.repository.clone(),
                schedule: plan.schedule.as_ref().map(|s| s.to_string()),
                next_run: plan
                    .schedule
                    .as_ref()
                    .and_then(|s| s.next_after(now, plan.timezone)),
                last_run: state.last_job(&plan.name, JobKind::Backup, None)?,
                last_success,
                stale: schedule::is_stale(plan, last_success, self.started(), now),
                alerts: state
                    .alerts(&plan.name)?
                    .into_iter()
                    .map(|(a, _)| a)
                    .collect(),
                last_drill: state.last_job(&plan.name, JobKind::Drill, None)?,
                last_offsite_sync: state.last_step_success(&plan.name, "offsite")?,
            });
        }
        Ok(out)
    }
}

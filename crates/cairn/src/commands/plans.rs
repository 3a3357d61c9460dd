//! `cairn plans`: each plan with its repository, schedule, next run, and how its last run went.

use anyhow::Result;
use cairn_state::{JobKind, JobState, StateStore};
use chrono::Utc;
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::format::{json_text as text, json_time as time};

pub fn run(global: &GlobalArgs) -> Result<u8> {
    let config = super::load_config(global)?;
    let state = StateStore::open(&config.state_dir)?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for plan in config.plans.values() {
        let next = plan
            .schedule
            .as_ref()
            .and_then(|s| s.next_after(now, plan.timezone));
        let last = state.last_job(&plan.name, JobKind::Backup, None)?;
        let last_success =
            state.last_job(&plan.name, JobKind::Backup, Some(JobState::Succeeded))?;
        rows.push(json!({
            "name": plan.name,
            "repository": plan.repository,
            "schedule": plan.schedule.as_ref().map(|s| s.to_string()),
            "next_run": next,
            "last_run": last.as_ref().map(|j| json!({
                "job": j.id,
                "state": j.state,
                "started_at": j.started_at,
                "finished_at": j.finished_at,
                "snapshot": j.snapshot,
                "error": j.error,
                "dry_run": j.dry_run,
            })),
            "last_success": last_success.and_then(|j| j.finished_at),
        }));
    }
    if global.json {
        super::print_json(&rows)?;
        return Ok(0);
    }
    println!(
        "{:<16} {:<12} {:<16} {:<17} {:<17} last result",
        "plan", "repository", "schedule", "next run", "last run"
    );
    for row in &rows {
        let last = &row["last_run"];
        let result = match last["state"].as_str() {
            None => "never run".to_string(),
            Some("failed") => format!("failed: {}", text(&last["error"])),
            Some(state) => state.to_string(),
        };
        println!(
            "{:<16} {:<12} {:<16} {:<17} {:<17} {result}",
            text(&row["name"]),
            text(&row["repository"]),
            text(&row["schedule"]),
            time(&row["next_run"]),
            time(&last["finished_at"]),
        );
    }
    Ok(0)
}

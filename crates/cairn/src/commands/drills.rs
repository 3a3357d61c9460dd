//! `cairn drills`: each plan's last restore drill (from the state database, no daemon needed);
//! `cairn drills run PLAN` runs one now in the foreground.

use anyhow::Result;
use cairn_state::{JobKind, StateStore};
use serde_json::json;

use crate::cli::{DrillsArgs, DrillsCommand, GlobalArgs};
use crate::format::{json_text as text, json_time as time};

pub fn run(global: &GlobalArgs, args: DrillsArgs) -> Result<u8> {
    if let Some(DrillsCommand::Run { plan }) = args.command {
        return super::run::run_job(global, &plan, JobKind::Drill, false);
    }
    let config = super::load_config(global)?;
    let state = StateStore::open(&config.state_dir)?;
    let now = chrono::Utc::now();
    let mut rows = Vec::new();
    for plan in config.plans.values() {
        let last = state.last_job(&plan.name, JobKind::Drill, None)?;
        if plan.drill.is_none() && last.is_none() {
            continue;
        }
        let report = match &last {
            Some(job) => state.drill_report(job.id)?.map(|d| d.report),
            None => None,
        };
        rows.push(json!({
            "plan": plan.name,
            "schedule": plan.drill.as_ref().map(|d| d.schedule.to_string()),
            "next_run": plan
                .drill
                .as_ref()
                .and_then(|d| d.schedule.next_after(now, plan.timezone)),
            "last_drill": last,
            "report": report,
        }));
    }
    if global.json {
        super::print_json(&rows)?;
        return Ok(0);
    }
    if rows.is_empty() {
        println!("no plan has a drill; add [plans.NAME.drill] or run `cairn drills run PLAN`");
        return Ok(0);
    }
    println!(
        "{:<16} {:<10} {:<17} {:<9} {:<14} {:>10} result",
        "plan", "state", "finished", "snapshot", "verified", "rto"
    );
    for row in &rows {
        let job = &row["last_drill"];
        let report = &row["report"];
        let verified = match (
            report["files_verified"].as_u64(),
            report["files_in_snapshot"].as_u64(),
        ) {
            (Some(done), Some(all)) => format!("{done}/{all} files"),
            _ => "-".into(),
        };
        let rto = report["rto_seconds"]
            .as_f64()
            .map_or_else(|| "-".into(), |s| format!("{s:.0} s"));
        let result = match job["state"].as_str() {
            None => "never run".to_string(),
            Some("failed") => format!("failed: {}", text(&job["error"])),
            Some(state) => state.to_string(),
        };
        println!(
            "{:<16} {:<10} {:<17} {:<9} {:<14} {:>10} {result}",
            text(&row["plan"]),
            text(&job["state"]),
            time(&job["finished"]),
            text(&report["snapshot"])
                .chars()
                .take(8)
                .collect::<String>(),
            verified,
            rto,
        );
    }
    Ok(0)
}

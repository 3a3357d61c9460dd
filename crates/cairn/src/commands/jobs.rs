//! `cairn jobs` (list, show, log, cancel, start, retry) and `cairn status`, through the
//! running daemon's API.

use anyhow::Result;
use cairn_repo::progress::ProgressSnapshot;
use serde_json::{json, Value};

use crate::cli::{GlobalArgs, JobsArgs, JobsCommand, StatusArgs};
use crate::daemon_client::DaemonClient;
use crate::format::{json_text as text, json_time as time};

pub fn run(global: &GlobalArgs, args: JobsArgs) -> Result<u8> {
    let config = super::load_config(global)?;
    let client = DaemonClient::for_config(&config);
    match args.command {
        None => list(global, &client, &args),
        Some(JobsCommand::Show { id }) => {
            let answer = client.get(&format!("/api/v1/jobs/{id}"))?;
            if global.json {
                super::print_json(&answer)?;
            } else {
                print_job(&answer["job"]);
                for step in answer["steps"].as_array().into_iter().flatten() {
                    println!(
                        "  {:<16} {:<9} {}",
                        text(&step["name"]),
                        text(&step["state"]),
                        step["error"]
                            .as_str()
                            .or(step["detail"].as_str())
                            .unwrap_or("")
                    );
                }
            }
            Ok(0)
        }
        Some(JobsCommand::Log { id, follow }) => log(global, &client, id, follow),
        Some(JobsCommand::Cancel { id }) => {
            let job = client.post(&format!("/api/v1/jobs/{id}/cancel"), None)?;
            report(global, &job, "cancel asked")
        }
        Some(JobsCommand::Retry { id }) => {
            let job = client.post(&format!("/api/v1/jobs/{id}/retry"), None)?;
            report(global, &job, "queued")
        }
        Some(JobsCommand::Start { plan, kind }) => {
            let job = client.post(
                &format!("/api/v1/plans/{plan}/run"),
                Some(&json!({ "kind": kind })),
            )?;
            report(global, &job, "queued")
        }
    }
}

fn list(global: &GlobalArgs, client: &DaemonClient, args: &JobsArgs) -> Result<u8> {
    let mut path = format!("/api/v1/jobs?limit={}", args.limit);
    if let Some(plan) = &args.plan {
        path.push_str(&format!("&plan={plan}"));
    }
    let jobs = client.get(&path)?;
    print_jobs(global, &jobs)?;
    Ok(0)
}

/// Job records as `cairn jobs` shows them (a table, or the JSON as it came); `cairn peer jobs`
/// shows a peer's the same way.
pub(super) fn print_jobs(global: &GlobalArgs, jobs: &Value) -> Result<()> {
    if global.json {
        return super::print_json(jobs);
    }
    println!(
        "{:>6}  {:<10} {:<14} {:<11} {:<9} {:<16}  error",
        "id", "kind", "plan", "state", "trigger", "created"
    );
    for job in jobs.as_array().into_iter().flatten() {
        println!(
            "{:>6}  {:<10} {:<14} {:<11} {:<9} {:<16}  {}",
            job["id"],
            text(&job["kind"]),
            text(&job["plan"]),
            text(&job["state"]),
            text(&job["trigger"]),
            time(&job["created"]),
            job["error"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// One log line as `cairn jobs log` prints it (also `cairn peer log`).
pub(super) fn print_log_line(global: &GlobalArgs, line: &Value) {
    if global.json {
        println!("{line}");
    } else {
        println!(
            "{} {}: {}",
            time(&line["at"]),
            text(&line["source"]),
            text(&line["line"])
        );
    }
}

fn log(global: &GlobalArgs, client: &DaemonClient, id: i64, follow: bool) -> Result<u8> {
    let print = |line: &Value| print_log_line(global, line);
    if !follow {
        let lines = client.get(&format!("/api/v1/jobs/{id}/log"))?;
        lines.as_array().into_iter().flatten().for_each(print);
        return Ok(0);
    }
    // Subscribed first, then the lines so far: a line lands in one or the other (or both,
    // and its position tells), never in neither.
    let printed = std::cell::Cell::new(0u64);
    let mut final_state = String::new();
    client.events(
        &format!("/api/v1/jobs/{id}/events"),
        || {
            let lines = client.get(&format!("/api/v1/jobs/{id}/log"))?;
            for line in lines.as_array().into_iter().flatten() {
                print(line);
                printed.set(line["seq"].as_u64().unwrap_or(0) + 1);
            }
            Ok(())
        },
        |event, data| {
            let Ok(value) = serde_json::from_str::<Value>(data) else {
                return true;
            };
            match event {
                "log" => {
                    let seq = value["seq"].as_u64().unwrap_or(0);
                    if seq >= printed.get() {
                        printed.set(seq + 1);
                        print(&json!({
                            "seq": seq,
                            "at": chrono::Utc::now(),
                            "source": value["source"],
                            "line": value["line"],
                        }));
                    }
                    true
                }
                "job" => {
                    let state = text(&value["job"]["state"]);
                    let done = !matches!(state.as_str(), "queued" | "running");
                    if done {
                        final_state = state;
                    }
                    !done
                }
                _ => true,
            }
        },
    )?;
    if !global.json && !final_state.is_empty() {
        eprintln!("job {id} {final_state}");
    }
    Ok(match final_state.as_str() {
        "failed" | "cancelled" | "interrupted" => crate::EXIT_FAILURE,
        _ => 0,
    })
}

fn report(global: &GlobalArgs, job: &Value, what: &str) -> Result<u8> {
    if global.json {
        super::print_json(job)?;
    } else if !global.quiet {
        println!(
            "job {} ({} of plan {}): {what}",
            job["id"],
            text(&job["kind"]),
            text(&job["plan"])
        );
    }
    Ok(0)
}

pub fn status(global: &GlobalArgs, _args: StatusArgs) -> Result<u8> {
    let config = super::load_config(global)?;
    let client = DaemonClient::for_config(&config);
    let plans = client.get("/api/v1/plans")?;
    let health = client.get("/api/v1/health")?;
    let failing_channels = health["failing_channels"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let any_stale = plans
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["stale"].as_bool().unwrap_or(false));
    // Something a person must look at: a stale plan or a notification channel that fails.
    let code = if any_stale || !failing_channels.is_empty() {
        crate::EXIT_FAILURE
    } else {
        0
    };
    if global.json {
        super::print_json(&serde_json::json!({
            "plans": plans,
            "failing_channels": failing_channels,
        }))?;
        return Ok(code);
    }
    println!(
        "{:<16} {:<17} {:<17} {:<6} {:<10} alerts",
        "plan", "last success", "next run", "stale", "last drill"
    );
    for plan in plans.as_array().into_iter().flatten() {
        let stale = plan["stale"].as_bool().unwrap_or(false);
        let alerts: Vec<String> = plan["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        println!(
            "{:<16} {:<17} {:<17} {:<6} {:<10} {}",
            text(&plan["name"]),
            time(&plan["last_success"]),
            time(&plan["next_run"]),
            if stale { "STALE" } else { "no" },
            text(&plan["last_drill"]["state"]),
            alerts.join(",")
        );
    }
    for channel in &failing_channels {
        println!(
            "notification channel {} FAILING: its last {} deliveries failed (last at {}): {}",
            text(&channel["channel"]),
            channel["failed_in_a_row"],
            time(&channel["last_at"]),
            text(&channel["last_error"])
        );
    }
    Ok(code)
}

fn print_job(job: &Value) {
    println!(
        "job {}: {} of plan {} on {}, {} ({}), attempt {}",
        job["id"],
        text(&job["kind"]),
        text(&job["plan"]),
        text(&job["repository"]),
        text(&job["state"]),
        text(&job["trigger"]),
        job["attempt"]
    );
    println!(
        "  created {}  started {}  finished {}",
        time(&job["created"]),
        time(&job["started"]),
        time(&job["finished"])
    );
    if let Some(snapshot) = job["snapshot"].as_str() {
        println!("  snapshot {snapshot}");
    }
    if let Some(error) = job["error"].as_str() {
        println!("  error: {error}");
    }
    if !job["progress"].is_null() {
        // The engine's progress model as the daemon recorded it; anything else as it is.
        match serde_json::from_value::<ProgressSnapshot>(job["progress"].clone()) {
            Ok(progress) => println!(
                "  progress: {} {}: {}",
                progress.operation.as_str(),
                progress.phase,
                crate::progress::describe(&progress, usize::MAX)
            ),
            Err(_) => println!("  progress: {}", job["progress"]),
        }
    }
}

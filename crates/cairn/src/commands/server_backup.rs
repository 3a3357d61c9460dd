//! `cairn server-backup`: one server backup now, as the scheduled job makes it: through the
//! daemon when one runs (queued, then followed; Ctrl-C cancels the job), else here, recorded
//! as a job in the state (Ctrl-C records it cancelled). `cairn server-restore`: the lost
//! server back on a fresh machine.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cairn_access::RecoveryKeyInput;
use cairn_config::StoreLocation;
use cairn_jobs::runner::NoRunObserver;
use cairn_jobs::server_backup::restore::{server_restore, ServerRestoreRequest};
use cairn_state::{JobKind, NewJob, StateStore, Trigger};
use serde_json::json;

use crate::cli::{GlobalArgs, ServerRestoreArgs};
use crate::daemon_client::DaemonClient;

pub fn run(global: &GlobalArgs) -> Result<u8> {
    let config = super::load_config(global)?;
    let client = DaemonClient::for_config(&config);
    if client.is_running() {
        return through_daemon(global, &config, &client);
    }
    config
        .server_backup
        .resolve(config.repositories.values())
        .map_err(anyhow::Error::msg)?;
    let state = StateStore::open(&config.state_dir)?;
    let now = chrono::Utc::now();
    let id = state.create_job(
        &NewJob::first(JobKind::ServerBackup, None, None, Trigger::Manual, now),
        Some(now),
    )?;
    crate::interrupt::cancel_job_on_interrupt(config.state_dir.clone(), id);
    let cancel = AtomicBool::new(false);
    let job = state.job(id)?;
    let end = cairn_jobs::server_backup::run_job(
        &config,
        &state,
        &job,
        &cancel,
        &NoRunObserver,
        &chrono::Utc::now,
    )?;
    state.finish_job(id, &end, chrono::Utc::now())?;
    let job = state.job(id)?;
    let steps = state.steps(id)?;
    let detail = steps
        .first()
        .and_then(|step| step.detail.clone())
        .unwrap_or_default();
    report(
        global,
        &serde_json::to_value(&job)?,
        &detail,
        job.error.as_deref(),
    )
}

fn through_daemon(
    global: &GlobalArgs,
    config: &cairn_config::Config,
    client: &DaemonClient,
) -> Result<u8> {
    let job = client.post("/api/v1/server-backup", None)?;
    let id = job["id"]
        .as_i64()
        .context("the daemon answered without a job id")?;
    let for_cancel = config.clone();
    crate::interrupt::on_interrupt(move || {
        let _ =
            DaemonClient::for_config(&for_cancel).post(&format!("/api/v1/jobs/{id}/cancel"), None);
    });
    loop {
        let answer = client.get(&format!("/api/v1/jobs/{id}"))?;
        let state = answer["job"]["state"].as_str().unwrap_or("");
        if !matches!(state, "queued" | "running" | "") {
            let detail = answer["steps"][0]["detail"].as_str().unwrap_or("");
            let error = answer["job"]["error"].as_str();
            return report(global, &answer["job"], detail, error);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn report(
    global: &GlobalArgs,
    job: &serde_json::Value,
    detail: &str,
    error: Option<&str>,
) -> Result<u8> {
    let succeeded = job["state"].as_str() == Some("succeeded");
    if global.json {
        super::print_json(&json!({ "job": job, "detail": detail }))?;
    } else if succeeded {
        if !global.quiet {
            println!("server backup done (job {}): {detail}", job["id"]);
        }
    } else {
        eprintln!(
            "cairn: server backup {} (job {}): {}",
            job["state"].as_str().unwrap_or("failed"),
            job["id"],
            error.unwrap_or("unknown error")
        );
    }
    Ok(if succeeded { 0 } else { crate::EXIT_FAILURE })
}

pub fn restore(global: &GlobalArgs, args: ServerRestoreArgs) -> Result<u8> {
    let location = StoreLocation::parse(&args.location).map_err(anyhow::Error::msg)?;
    if let StoreLocation::Rest(_) = location {
        anyhow::bail!("server backups are never on a rest: server; give the s3: location or directory they were written to");
    }
    let at = args
        .at
        .as_deref()
        .map(cairn_config::instant::parse_instant)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--at: {e}"))?;
    let key_text = std::fs::read_to_string(&args.recovery_key_file).with_context(|| {
        format!(
            "cannot read the recovery key file {}",
            args.recovery_key_file.display()
        )
    })?;
    let key = RecoveryKeyInput::from_file_text(&key_text)?;
    let absolute = |path: &std::path::Path| -> Result<std::path::PathBuf> {
        Ok(if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()?.join(path)
        })
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let summary = server_restore(ServerRestoreRequest {
        location,
        credentials_file: args.credentials_file.clone(),
        at,
        key,
        state_dir: absolute(&args.state_dir)?,
        config_out: absolute(&args.config_out)?,
        with_repositories: args
            .with_repositories
            .as_deref()
            .map(absolute)
            .transpose()?,
        cancel: &cancel,
    })?;
    if global.json {
        super::print_json(&summary)?;
    } else if !global.quiet {
        println!(
            "restored {} (made {}) in {:.1}s: {} users, {} plans, {} secret files, {} repositories{}",
            summary.archive,
            summary.archive_time.format("%Y-%m-%d %H:%M:%S UTC"),
            summary.elapsed.as_secs_f64(),
            summary.users,
            summary.plans,
            summary.secret_files,
            summary.repositories.len(),
            if summary.repositories.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    summary
                        .repositories
                        .iter()
                        .map(|(name, path)| format!("{name} → {}", path.display()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        println!(
            "start the server with: cairn daemon --config {}",
            args.config_out.display()
        );
    }
    Ok(0)
}

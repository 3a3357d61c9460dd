//! `cairn restore-db PLAN --database NAME`: one database dump of a plan's snapshot back into
//! its server (or a SQLite file), recorded as a `restore-db` job.

use anyhow::Result;
use cairn_jobs::dumps::DumpKind;
use cairn_jobs::open::OpenOptions;
use cairn_jobs::restore_db::{restore_db, RestoreDbRequest};
use cairn_state::{JobState, StateStore, Trigger};
use serde_json::json;

use crate::cli::{GlobalArgs, RestoreDbArgs};

pub fn run(global: &GlobalArgs, args: RestoreDbArgs) -> Result<u8> {
    let config = super::load_config(global)?;
    let kind = args
        .kind
        .as_deref()
        .map(str::parse::<DumpKind>)
        .transpose()?;
    let state = StateStore::open(&config.state_dir)?;
    let request = RestoreDbRequest {
        config: &config,
        plan: &args.plan,
        database: &args.database,
        kind,
        snapshot: args.snapshot.as_deref(),
        into: args.into.as_deref(),
        host: args.host.as_deref(),
        port: args.port,
        trigger: Trigger::Manual,
        open: OpenOptions {
            cache_base: global.cache_dir.clone(),
            no_cache: global.no_cache,
        },
        now: &chrono::Utc::now,
    };
    let outcome = restore_db(&request, &state)?;
    let job = &outcome.job;
    if global.json {
        let steps = state.steps(job.id)?;
        let log = state.log(job.id)?;
        super::print_json(&json!({
            "job": job,
            "steps": steps,
            "log": log,
            "restored": outcome.restored,
        }))?;
    }
    match (&outcome.restored, job.state) {
        (Some(restored), JobState::Succeeded) => {
            if !global.json && !global.quiet {
                println!(
                    "restored {} of snapshot {} into {} ({} bytes; job {})",
                    restored.dump,
                    &restored.snapshot[..8],
                    restored.target,
                    restored.bytes,
                    job.id
                );
            }
            Ok(0)
        }
        _ => {
            eprintln!(
                "cairn: restore-db of {} failed (job {}): {}",
                args.database,
                job.id,
                job.error.as_deref().unwrap_or("unknown error")
            );
            Ok(crate::EXIT_FAILURE)
        }
    }
}

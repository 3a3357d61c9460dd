//! `cairn mirror`: the offsite copy of a repository.

use std::sync::Arc;

use anyhow::{bail, Result};
use cairn_repo::mirror::{
    nothing_to_do, restore_from_mirror, sync, verify, LockPolicy, MirrorRestoreOptions,
    MirrorRestoreSummary, RestoreMode, SyncOptions, SyncSummary, VerifyReport,
};
use cairn_repo::progress::Operation;
use cairn_storage::s3::ServerSideEncryption;
use cairn_storage::{LocalStore, PointInTimeStore, RetentionMode, S3Location, S3Store, Storage};
use serde_json::json;

use crate::cli::{
    GlobalArgs, MirrorCommand, MirrorDestArgs, MirrorRestoreArgs, MirrorRestoreMode,
    MirrorSyncArgs, MirrorTestArgs, MirrorVerifyArgs, ObjectLockArgs,
};
use crate::progress::ProgressDisplay;
use crate::{format, password, repository};

pub fn run(global: &GlobalArgs, command: MirrorCommand) -> Result<u8> {
    match command {
        MirrorCommand::Sync(args) => run_sync(global, args),
        MirrorCommand::Verify(args) => run_verify(global, args),
        MirrorCommand::Test(args) => run_test(global, args),
        MirrorCommand::Restore(args) => run_restore(global, args),
        MirrorCommand::Orphans(args) => super::orphans::run(global, args),
    }
}

/// What the S3 options of a destination say beyond credentials.
struct WriteSettings {
    storage_class: Option<String>,
    sse: Option<ServerSideEncryption>,
}

/// The destination store; `--bwlimit` is kept on the wire by the S3 store's transport.
fn destination(
    global: &GlobalArgs,
    args: &MirrorDestArgs,
    settings: WriteSettings,
) -> Result<Arc<dyn Storage>> {
    let rate = parse_rate(&args.bwlimit)?;
    Ok(if S3Location::is_s3_url(&args.dest) {
        let location = S3Location::parse(&args.dest)?;
        let mut options = crate::s3::options(global, &location)?;
        options.transfers = args.transfers.max(1);
        options.bulk_storage_class = settings.storage_class;
        options.server_side_encryption = settings.sse;
        options.bandwidth_limit_bytes_per_sec = (rate > 0).then_some(rate);
        Arc::new(S3Store::open(location, options)?)
    } else {
        if settings.storage_class.is_some() || settings.sse.is_some() {
            bail!("--storage-class and --sse apply to S3 mirrors only");
        }
        if rate > 0 {
            bail!(
                "--bwlimit applies to S3 mirrors only (it limits bytes on the network); a \
                 local directory is written at disk speed"
            );
        }
        Arc::new(LocalStore::new(
            args.dest.strip_prefix("local:").unwrap_or(&args.dest),
        ))
    })
}

/// `--object-lock-mode` and `--object-lock-days`: both or neither.
fn lock_policy(args: &ObjectLockArgs) -> Result<Option<LockPolicy>> {
    match (&args.object_lock_mode, args.object_lock_days) {
        (None, None) => Ok(None),
        (Some(_), None) => bail!(
            "--object-lock-mode needs --object-lock-days (how long each object is locked, e.g. 30)"
        ),
        (None, Some(_)) => {
            bail!("--object-lock-days needs --object-lock-mode (governance or compliance)")
        }
        (Some(mode), Some(days)) => {
            let mode = RetentionMode::parse(mode).ok_or_else(|| {
                anyhow::anyhow!("invalid --object-lock-mode {mode:?}: use governance or compliance")
            })?;
            let days = u32::try_from(days)
                .ok()
                .filter(|d| (1..=36_500).contains(d))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "invalid --object-lock-days {days}: use a number of days from 1 to 36500"
                    )
                })?;
            Ok(Some(LockPolicy { mode, days }))
        }
    }
}

/// `512K`, `10M`, `1G` (powers of 1024, bytes per second); `0` means no limit.
fn parse_rate(text: &str) -> Result<u64> {
    cairn_config::units::parse_rate(text)
        .map(|rate| rate.bytes())
        .map_err(|e| anyhow::anyhow!("--bwlimit: {e}"))
}

fn run_sync(global: &GlobalArgs, args: MirrorSyncArgs) -> Result<u8> {
    let delete_after = if args.no_delete {
        None
    } else {
        Some(repository::parse_duration(
            "--delete-after",
            &args.delete_after,
        )?)
    };
    let sse =
        match &args.sse {
            None => None,
            Some(text) => Some(ServerSideEncryption::parse(text).ok_or_else(|| {
                anyhow::anyhow!("invalid --sse {text:?}: use aes256 or kms:KEY_ID")
            })?),
        };
    let object_lock = lock_policy(&args.object_lock)?;
    if object_lock.is_some() && !S3Location::is_s3_url(&args.dest.dest) {
        bail!("--object-lock-mode and --object-lock-days apply to S3 mirrors only");
    }
    let settings = WriteSettings {
        storage_class: args.storage_class.clone(),
        sse,
    };
    let dest = destination(global, &args.dest, settings)?;
    let options = SyncOptions {
        transfers: args.dest.transfers.max(1),
        delete_after,
        dry_run: args.dry_run,
        now: chrono::Utc::now(),
        object_lock,
    };
    // An unchanged repository is told apart by listings alone, before the password's key
    // derivation, which would otherwise be most of an unchanged sync's time.
    let source = repository::storage(global)?;
    if let Some(summary) = nothing_to_do(source.as_ref(), dest.as_ref(), &options)? {
        report(global, &dest.location(), &summary)?;
        return Ok(0);
    }
    let repo = repository::open(global)?;
    let progress =
        ProgressDisplay::start(Operation::Mirror, global.json, global.quiet || args.dry_run);
    let result = sync(&repo, &dest, &options, progress.progress());
    progress.finish();
    let summary = result?;
    report(global, &dest.location(), &summary)?;
    Ok(0)
}

fn run_restore(global: &GlobalArgs, args: MirrorRestoreArgs) -> Result<u8> {
    let mode = match args.mode {
        MirrorRestoreMode::Replace => RestoreMode::Replace,
        MirrorRestoreMode::Copy => RestoreMode::Copy,
    };
    let at = match &args.at {
        Some(text) => Some(
            cairn_config::instant::parse_instant(text).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
        ),
        None => None,
    };
    let target_dir = &args.target;
    let listing = std::fs::read_dir(target_dir).map(|mut entries| entries.next().is_some());
    // A repository that lost its config is still one to replace (disaster recovery); a
    // directory with none of a repository's parts is not.
    let has_repository_parts = ["config", "keys", "data", "index", "snapshots"]
        .iter()
        .any(|part| target_dir.join(part).exists());
    match (mode, listing) {
        (RestoreMode::Copy, Ok(true)) => bail!(
            "{} is not empty; --mode copy makes a new repository in an empty or new directory \
             (--mode replace overwrites a repository)",
            target_dir.display()
        ),
        (RestoreMode::Replace, Err(_)) => bail!(
            "{} does not exist; use --mode copy to make a new repository there",
            target_dir.display()
        ),
        (RestoreMode::Replace, Ok(_)) if !has_repository_parts => bail!(
            "{} is not a repository (no config, keys, data, index or snapshots); use --mode \
             copy for a new one",
            target_dir.display()
        ),
        _ => {}
    }
    let source = destination(
        global,
        &args.source,
        WriteSettings {
            storage_class: None,
            sse: None,
        },
    )?;
    // The mirror as it was then: for each object, the version current at that time.
    let source: Arc<dyn Storage> = match at {
        Some(at) => Arc::new(PointInTimeStore::open(source, at)?),
        None => source,
    };
    let target: Arc<dyn Storage> = Arc::new(LocalStore::new(target_dir));
    // Replace compares repository ids, which are sealed: it needs the password; copy does not.
    let password = match mode {
        RestoreMode::Replace => Some(password::get(global)?),
        RestoreMode::Copy => None,
    };
    let options = MirrorRestoreOptions {
        mode,
        transfers: args.source.transfers,
        dry_run: args.dry_run,
        password: password.as_ref().map(|p| p.expose().as_slice()),
        force_other_repository: args.force_other_repository,
    };
    let progress =
        ProgressDisplay::start(Operation::Mirror, global.json, global.quiet || args.dry_run);
    let result = restore_from_mirror(&source, &target, &options, progress.progress());
    progress.finish();
    let summary = result?;
    if global.json {
        let mut value = serde_json::to_value(&summary)?;
        value["message_type"] = json!("summary");
        crate::commands::print_json(&value)?;
    } else if !global.quiet {
        print_restore(&target_dir.display().to_string(), &summary);
    }
    Ok(0)
}

fn print_restore(target: &str, summary: &MirrorRestoreSummary) {
    for (verb, objects) in [
        ("fetch", &summary.would_fetch),
        ("delete", &summary.would_delete),
    ] {
        for object in objects {
            let size = format::bytes(object.size);
            println!("would {verb} {} {} ({size})", object.kind, object.name);
        }
    }
    let (fetched, removed) = if summary.dry_run {
        ("would fetch", "would delete")
    } else {
        ("fetched", "deleted")
    };
    println!(
        "{target}: {fetched} {} objects ({}), kept {} already present, {removed} {} ({})",
        summary.fetched_objects,
        format::bytes(summary.fetched_bytes),
        summary.kept_objects,
        summary.removed_objects,
        format::bytes(summary.removed_bytes),
    );
    if summary.kept_indexed_packs > 0 {
        println!(
            "kept {} local packs the mirror lacks: the restored index names them",
            summary.kept_indexed_packs
        );
    }
    if let Some(key) = &summary.kept_key {
        println!(
            "kept key {}: the mirror lacks it, and it is the one the password opens",
            &key[..8]
        );
    }
    if summary.missing_packs > 0 {
        eprintln!(
            "warning: {} packs the restored index names are neither in the mirror nor in {target}; \
             run `cairn -r {target} check` to see which snapshots lack data",
            summary.missing_packs
        );
    }
}

fn run_test(global: &GlobalArgs, args: MirrorTestArgs) -> Result<u8> {
    if !S3Location::is_s3_url(&args.dest) {
        bail!("mirror test checks S3 destinations: use s3:https://HOST/BUCKET[/PREFIX]");
    }
    let object_lock = lock_policy(&args.object_lock)?;
    let location = S3Location::parse(&args.dest)?;
    let options = crate::s3::options(global, &location)?;
    let mut steps = cairn_storage::s3::probe::probe(&location, &options);
    if object_lock.is_some() && steps.iter().all(|s| s.ok) {
        steps.extend(cairn_storage::s3::probe::probe_object_lock(
            &location, &options,
        ));
    }
    let ok = steps.iter().all(|s| s.ok);
    if global.json {
        crate::commands::print_json(&json!({
            "message_type": "summary",
            "destination": location.to_string(),
            "ok": ok,
            "steps": steps,
        }))?;
    } else {
        for step in &steps {
            let mark = if step.ok { "ok  " } else { "FAIL" };
            println!("{mark} {:<11} {}", step.step, step.detail);
            if let Some(fix) = &step.fix {
                println!("     {:<11} fix: {fix}", "");
            }
        }
        println!(
            "{location}: {}",
            if ok {
                "ready for cairn mirror"
            } else {
                "not usable yet (see FAIL above)"
            }
        );
    }
    Ok(if ok { 0 } else { 1 })
}

/// `10%`, `2.5%` or `10`: a share of 0 to 100.
fn parse_percent(text: &str) -> Result<f64> {
    let value: f64 = text.trim_end_matches('%').parse().map_err(|_| {
        anyhow::anyhow!("invalid --read-sample {text:?}: use a percentage such as 10%")
    })?;
    if !(0.0..=100.0).contains(&value) {
        bail!("invalid --read-sample {text:?}: use a percentage from 0% to 100%");
    }
    Ok(value)
}

fn run_verify(global: &GlobalArgs, args: MirrorVerifyArgs) -> Result<u8> {
    let percent = parse_percent(&args.read_sample)?;
    let settings = WriteSettings {
        storage_class: None,
        sse: None,
    };
    let dest = destination(global, &args.dest, settings)?;
    let repo = repository::open(global)?;
    let report = verify(&repo, &dest, percent)?;
    if global.json {
        let mut value = serde_json::to_value(&report)?;
        value["message_type"] = json!("summary");
        value["ok"] = json!(report.is_ok());
        crate::commands::print_json(&value)?;
    } else if !global.quiet || !report.is_ok() {
        print_verify(&dest.location(), &report);
    }
    Ok(if report.is_ok() { 0 } else { 1 })
}

fn print_verify(dest: &str, report: &VerifyReport) {
    for (label, problems) in [
        ("missing", &report.missing),
        ("extra", &report.extra),
        ("corrupt", &report.corrupt),
    ] {
        for p in problems {
            println!("{label} {} {}: {}", p.kind, p.name, p.reason);
        }
    }
    println!(
        "{dest}: {} objects compared, {} read ({}); {} missing, {} extra, {} corrupt, {} awaiting deletion",
        report.objects_compared,
        report.objects_read,
        format::bytes(report.bytes_read),
        report.missing.len(),
        report.extra.len(),
        report.corrupt.len(),
        report.awaiting_deletion
    );
}

fn report(global: &GlobalArgs, dest: &str, summary: &SyncSummary) -> Result<()> {
    if global.json {
        let mut value = serde_json::to_value(summary)?;
        value["message_type"] = json!("summary");
        return crate::commands::print_json(&value);
    }
    if global.quiet {
        return Ok(());
    }
    if summary.dry_run {
        let planned = [
            ("upload", &summary.would_upload),
            ("delete", &summary.would_delete),
        ];
        for (verb, objects) in planned {
            for object in objects {
                let size = format::bytes(object.size);
                println!("would {verb} {} {} ({size})", object.kind, object.name);
            }
        }
    }
    let verb = if summary.dry_run {
        "would upload"
    } else {
        "uploaded"
    };
    let deleted = if summary.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    println!(
        "{dest}: {verb} {} objects ({}), skipped {} present ({}), {deleted} {} ({}), {} waiting out the grace period",
        summary.uploaded_objects,
        format::bytes(summary.uploaded_bytes),
        summary.skipped_objects,
        format::bytes(summary.skipped_bytes),
        summary.deleted_objects,
        format::bytes(summary.deleted_bytes),
        summary.pending_deletions,
    );
    if summary.retention_extended > 0 || summary.retention_read > 0 {
        println!(
            "object lock: retention extended on {} objects ({} dates read from the store)",
            summary.retention_extended, summary.retention_read
        );
    }
    if summary.unindexed_packs > 0 {
        println!(
            "{} local packs no index names yet were not sent (a backup under way, or data prune removes)",
            summary.unindexed_packs
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn parses_grace_periods_and_rates() {
        let grace = |text| crate::repository::parse_duration("--delete-after", text);
        assert_eq!(grace("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(grace("1w2d").unwrap(), Duration::from_secs(9 * 86_400));
        assert_eq!(grace("36h").unwrap(), Duration::from_secs(36 * 3_600));
        assert_eq!(grace("0").unwrap(), Duration::ZERO);
        for bad in ["", "7", "7x", "d", "-1d"] {
            assert!(grace(bad).is_err(), "{bad}");
        }
        assert!(grace("7x")
            .unwrap_err()
            .to_string()
            .starts_with("--delete-after: invalid duration \"7x\""));
        assert_eq!(parse_rate("512K").unwrap(), 512 << 10);
        assert_eq!(parse_rate("10M").unwrap(), 10 << 20);
        assert_eq!(parse_rate("0").unwrap(), 0);
        assert!(parse_rate("fast").is_err());
    }
}

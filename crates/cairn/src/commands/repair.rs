//! `cairn repair index` and `cairn repair snapshots`.

use anyhow::Result;
use cairn_repo::repair::{
    repair_index, repair_snapshots, DamageKind, RepairIndexOptions, RepairIndexSummary,
    RepairSnapshotsOptions, RepairSnapshotsSummary, SnapshotRepair,
};

use crate::cli::{GlobalArgs, RepairCommand, RepairIndexArgs, RepairSnapshotsArgs};
use crate::{format, repository};

pub fn run(global: &GlobalArgs, command: RepairCommand) -> Result<u8> {
    match command {
        RepairCommand::Index(args) => run_index(global, args),
        RepairCommand::Snapshots(args) => run_snapshots(global, args),
    }
}

fn run_index(global: &GlobalArgs, args: RepairIndexArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let options = RepairIndexOptions {
        read_all_packs: args.read_all_packs,
    };
    let summary = repair_index(&repo, &options)?;
    if global.json {
        let mut value = serde_json::to_value(&summary)?;
        value["message_type"] = "summary".into();
        super::print_json(&value)?;
        return Ok(0);
    }
    for file in &summary.damaged_index_files {
        eprintln!(
            "warning: index {} cannot be read ({}); it is replaced",
            file.id, file.reason
        );
    }
    for pack in &summary.damaged_packs {
        eprintln!(
            "warning: pack {} is damaged ({}); it is left out of the index",
            pack.id, pack.reason
        );
    }
    if !global.quiet {
        print_index_summary(&summary);
    }
    if summary.packs_lost > 0 {
        eprintln!(
            "warning: the data of {} lost pack(s) is gone from the index; snapshots that used it are damaged: `cairn repair snapshots --dry-run` shows what they lost, `cairn repair snapshots --forget` rewrites them without it",
            summary.packs_lost
        );
    }
    if !summary.damaged_packs.is_empty() && !global.quiet {
        println!("hint: `cairn prune` deletes damaged packs once no index lists them");
    }
    Ok(0)
}

fn print_index_summary(summary: &RepairIndexSummary) {
    println!(
        "read {} of {} pack headers",
        summary.packs_read, summary.packs
    );
    for id in &summary.packs_added {
        println!("added pack {id}");
    }
    for id in &summary.packs_corrected {
        println!("re-indexed pack {id} from its header");
    }
    for id in &summary.packs_removed {
        println!("removed pack {id} from the index: it is missing from the storage");
    }
    if summary.packs_listed_twice > 0 {
        println!(
            "{} packs were listed by more than one index file; the new index lists each once",
            summary.packs_listed_twice
        );
    }
    if !summary.changed() {
        println!("the index is complete; nothing was changed");
        return;
    }
    println!(
        "{} packs added, {} re-indexed, {} removed, {} damaged; the index lists {} blobs",
        summary.packs_added.len(),
        summary.packs_corrected.len(),
        summary.packs_removed.len(),
        summary.damaged_packs.len(),
        summary.blobs
    );
    println!(
        "wrote {} index files, deleted {} index files",
        summary.index_files_written.len(),
        summary.index_files_deleted.len()
    );
}

fn run_snapshots(global: &GlobalArgs, args: RepairSnapshotsArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let options = RepairSnapshotsOptions {
        snapshots: args.ids,
        filter: args.filter.to_filter(),
        forget: args.forget,
        dry_run: args.dry_run,
    };
    let summary = repair_snapshots(&repo, &options)?;
    if global.json {
        let mut value = serde_json::to_value(&summary)?;
        value["message_type"] = "summary".into();
        super::print_json(&value)?;
        return Ok(0);
    }
    for file in &summary.unreadable_snapshots {
        eprintln!(
            "warning: snapshot {} cannot be read ({}); there is nothing to repair it from",
            file.id, file.reason
        );
    }
    if summary.packs_missing_from_storage > 0 {
        eprintln!(
            "warning: the index lists {} pack(s) the storage lacks; their data counts as lost (`cairn repair index` removes them from the index)",
            summary.packs_missing_from_storage
        );
    }
    if !global.quiet {
        print_snapshots_summary(&summary, args.forget);
    }
    Ok(0)
}

fn print_snapshots_summary(summary: &RepairSnapshotsSummary, forget: bool) {
    let would = |done: &str, planned: &str| {
        if summary.dry_run {
            planned.to_string()
        } else {
            done.to_string()
        }
    };
    for repair in &summary.repaired {
        print_snapshot_repair(repair, summary.dry_run, forget);
    }
    if !summary.repaired.is_empty() {
        println!();
    }
    let modified = summary.repaired.len();
    if modified == 0 {
        println!(
            "checked {} snapshots; {}",
            summary.snapshots_checked,
            would(
                "no snapshots were modified",
                "no snapshots would be modified"
            )
        );
    } else {
        println!(
            "checked {} snapshots; {} {modified} snapshots",
            summary.snapshots_checked,
            would("modified", "would modify")
        );
        if summary.dry_run {
            println!("dry run: nothing was changed");
        } else if !forget {
            println!(
                "the damaged snapshots are still there: remove them with `cairn forget ID...`, or run again with --forget"
            );
        }
    }
}

fn print_snapshot_repair(repair: &SnapshotRepair, dry_run: bool, forget: bool) {
    let snapshot = &repair.details;
    println!(
        "\nsnapshot {} of [{}] at {} by {}@{}",
        repair.snapshot.short(),
        snapshot.paths.join(", "),
        snapshot
            .time
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S"),
        snapshot.username,
        snapshot.hostname
    );
    for damage in &repair.damage {
        match &damage.kind {
            DamageKind::FileContentRemoved {
                blobs_missing,
                blobs,
                size_before,
                size_after,
            } => println!(
                "  file {:?}: removed missing content ({blobs_missing} of {blobs} blobs; {} left of {})",
                damage.path,
                format::bytes(*size_after),
                format::bytes(*size_before)
            ),
            DamageKind::FileSizeFixed {
                size_before,
                size_after,
            } => println!(
                "  file {:?}: fixed incorrect size ({size_before} to {size_after} bytes)",
                damage.path
            ),
            DamageKind::DirectoryEmptied { reason, .. } => println!(
                "  dir {:?}: replaced with an empty directory ({reason})",
                damage.path
            ),
        }
    }
    if let Some(reason) = &repair.root_unreadable {
        println!("  dir \"/\": not readable ({reason}); nothing of this snapshot can be saved");
        if !forget {
            println!("  run with --forget to remove it");
        }
    }
    match (repair.new_snapshot, dry_run) {
        (_, true) if repair.root_unreadable.is_none() => println!("  would save new snapshot"),
        (Some(id), false) if repair.already_written => {
            println!("  new snapshot {} was saved by an earlier run", id.short())
        }
        (Some(id), false) => println!("  saved new snapshot {}", id.short()),
        _ => {}
    }
    if repair.forgotten {
        if dry_run {
            println!("  would remove old snapshot {}", repair.snapshot.short());
        } else {
            println!("  removed old snapshot {}", repair.snapshot.short());
        }
    }
}

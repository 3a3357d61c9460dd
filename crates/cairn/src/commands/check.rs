//! `cairn check`: verify the repository.

use anyhow::Result;
use cairn_repo::check::{check, CheckOptions, ReadData};
use cairn_repo::progress::Operation;

use crate::cli::{CheckArgs, GlobalArgs};
use crate::progress::ProgressDisplay;
use crate::repository;

pub fn run(global: &GlobalArgs, args: CheckArgs) -> Result<u8> {
    let read_data = match (&args.read_data_subset, args.read_data) {
        (Some(subset), _) => subset.parse::<ReadData>()?,
        (None, true) => ReadData::All,
        (None, false) => ReadData::None,
    };
    let mut repo = repository::open(global)?;
    // Check what the store holds, not copies of it (restic, too, checks without its cache).
    repo.set_cache(None);
    let options = CheckOptions {
        read_data,
        threads: std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .max(2),
    };
    let progress = ProgressDisplay::start(Operation::Check, global.json, global.quiet);
    let result = check(&repo, &options, progress.progress());
    progress.finish();
    let report = result?;
    if global.json {
        let mut value = serde_json::to_value(&report)?;
        value["message_type"] = "summary".into();
        value["ok"] = report.is_ok().into();
        super::print_json(&value)?;
    } else {
        for problem in &report.problems {
            eprintln!("error: {}: {}", problem.object, problem.message);
            for affected in &problem.affected {
                eprintln!("  used by {affected}");
            }
        }
        if !global.quiet {
            for hint in &report.hints {
                println!("hint: {hint}");
            }
            println!(
                "checked {} snapshots, {} trees, {} packs{}",
                report.snapshots,
                report.trees,
                report.packs,
                if read_data == ReadData::None {
                    String::new()
                } else {
                    format!(
                        "; read {} packs, {} blobs",
                        report.packs_read, report.blobs_read
                    )
                }
            );
            if report.is_ok() {
                println!("no errors were found");
            }
        }
    }
    if report.is_ok() {
        Ok(0)
    } else {
        if !global.json {
            eprintln!("cairn: {} problems found; see above", report.problems.len());
        }
        Ok(crate::EXIT_FAILURE)
    }
}

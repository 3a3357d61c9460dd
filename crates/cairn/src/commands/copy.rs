//! `cairn copy`: snapshots from `--from-repo` into the repository of `-r`.

use anyhow::{bail, Result};
use cairn_format::{Id, Snapshot};
use cairn_repo::copy::{copy_snapshots, CopyObserver, CopyOptions, CopySummary};
use cairn_repo::progress::{Operation, Progress};
use cairn_repo::selection::SnapshotSelection;
use cairn_repo::{RepoError, Repository};

use crate::cli::{CopyArgs, GlobalArgs};
use crate::progress::ProgressDisplay;
use crate::{format, password, repository};

pub fn run(global: &GlobalArgs, args: CopyArgs) -> Result<u8> {
    let source = open_source(global, &args)?;
    let dest = repository::open(global)?;
    let selection = SnapshotSelection {
        ids: args.ids.clone(),
        filter: args.filter.to_filter(),
    };
    let observer = Printer::new(global);
    let result = copy_snapshots(
        &source,
        &dest,
        &selection,
        &CopyOptions::default(),
        &observer,
    );
    observer.display.finish();
    let summary = result?;
    print_summary(global, &summary)?;
    Ok(0)
}

/// Opens the source repository, with errors that name the source's options (the destination's
/// are `-r` and `--password-file`).
fn open_source(global: &GlobalArgs, args: &CopyArgs) -> Result<Repository> {
    if args.from_repo.is_empty() {
        bail!("the source repository location is empty: use --from-repo PATH or CAIRN_FROM_REPOSITORY");
    }
    let storage = repository::storage_at(global, &args.from_repo)?;
    if let Err(e) = storage.size(cairn_storage::FileKind::Config, "config") {
        if e.is_not_found() {
            bail!(
                "source {} is not a repository (no config file); check --from-repo",
                storage.location()
            );
        }
    }
    let password = password::get_source(
        args.from_password_file.as_deref(),
        args.from_password_command.as_deref(),
    )?;
    let mut repo = match Repository::open(storage, password.expose()) {
        Ok(repo) => repo,
        Err(RepoError::WrongPassword { location, tried }) => bail!(
            "wrong password for source repository {location} (tried {tried} key{}); supply the right one with --from-password-file, --from-password-command or CAIRN_FROM_PASSWORD",
            if tried == 1 { "" } else { "s" }
        ),
        Err(e) => return Err(e.into()),
    };
    repository::apply_lock_options(global, &mut repo)?;
    repo.set_cache(repository::cache_for(global, &repo));
    Ok(repo)
}

/// Prints a line per snapshot, and the progress (a bar on a terminal, JSON status lines with
/// `--json`).
struct Printer {
    lines: bool,
    display: ProgressDisplay,
}

impl Printer {
    fn new(global: &GlobalArgs) -> Printer {
        Printer {
            lines: !global.quiet && !global.json,
            display: ProgressDisplay::start(Operation::Copy, global.json, global.quiet),
        }
    }

    fn line(&self, text: String) {
        if self.lines {
            self.display.println(&text);
        }
    }
}

fn describe(id: &Id, snapshot: &Snapshot) -> String {
    format!(
        "snapshot {} of [{}] at {} by {}@{}",
        id.short(),
        snapshot.paths.join(" "),
        snapshot
            .time
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S"),
        snapshot.username,
        snapshot.hostname
    )
}

impl CopyObserver for Printer {
    fn progress(&self) -> Option<&Progress> {
        Some(self.display.progress())
    }

    fn snapshot_skipped(&self, source: &Id, snapshot: &Snapshot, existing: &Id) {
        self.line(format!(
            "skipped {}: already copied as {}",
            describe(source, snapshot),
            existing.short()
        ));
    }

    fn snapshot_copied(&self, source: &Id, snapshot: &Snapshot, new: &Id) {
        self.line(format!(
            "copied {} as {}",
            describe(source, snapshot),
            new.short()
        ));
    }
}

fn print_summary(global: &GlobalArgs, summary: &CopySummary) -> Result<()> {
    if global.json {
        let mut value = serde_json::to_value(summary)?;
        value["message_type"] = "summary".into();
        return super::print_json(&value);
    }
    if global.quiet {
        return Ok(());
    }
    println!(
        "{} snapshots copied, {} skipped; added {} blobs ({} data, {} tree), {} ({} stored in {} packs)",
        summary.copied.len(),
        summary.skipped.len(),
        summary.data_blobs + summary.tree_blobs,
        summary.data_blobs,
        summary.tree_blobs,
        format::bytes(summary.plaintext_bytes),
        format::bytes(summary.stored_bytes),
        summary.packs
    );
    Ok(())
}

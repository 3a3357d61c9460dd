//! `cairn backup`: files, directories, standard input or a command's output into a snapshot.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use cairn_repo::backup::{
    self, BackupOptions, BackupSummary, ExcludeRules, ParentChoice, Pattern, TagFile, CACHEDIR_TAG,
};
use cairn_repo::blob_writer::WriterOptions;
use cairn_repo::progress::Operation;
use chrono::{Local, NaiveDateTime, TimeZone};

use crate::cli::{BackupArgs, GlobalArgs};
use crate::format;
use crate::progress::ProgressDisplay;
use crate::repository;

pub fn run(global: &GlobalArgs, args: BackupArgs) -> Result<u8> {
    let mut options = options(&args)?;
    if args.stdin && args.stdin_from_command {
        bail!("--stdin and --stdin-from-command cannot be used together");
    }
    if args.stdin_from_command && args.paths.is_empty() {
        bail!("--stdin-from-command needs the command after `--`, e.g. cairn backup --stdin-from-command -- pg_dump db");
    }
    if args.stdin && !args.paths.is_empty() {
        bail!("--stdin reads standard input; do not give paths as well");
    }
    if !args.stdin && !args.stdin_from_command && args.paths.is_empty() {
        bail!("nothing to back up: give paths, --stdin, or --stdin-from-command -- CMD");
    }
    let repo = repository::open(global)?;
    if let Some(text) = &args.parent {
        // A unique prefix is enough, as with restic.
        let (id, _) = cairn_repo::snapshots::find_snapshot(&repo, text, &Default::default())?;
        options.parent = ParentChoice::Id(id);
    }
    let progress = ProgressDisplay::start(Operation::Backup, global.json, global.quiet);
    let result = if args.stdin {
        backup::backup_stdin(
            &repo,
            &std::io::stdin(),
            &args.stdin_filename,
            &options,
            &progress,
        )
    } else if args.stdin_from_command {
        backup::backup_command_output(
            &repo,
            &args.paths,
            &args.stdin_filename,
            &options,
            &progress,
        )
    } else {
        let paths: Vec<PathBuf> = args.paths.iter().map(PathBuf::from).collect();
        backup::backup(&repo, &paths, &options, &progress)
    };
    progress.finish();
    let summary = result?;
    print_summary(global, &summary)?;
    Ok(if summary.errors.is_empty() {
        0
    } else {
        crate::EXIT_PARTIAL_BACKUP
    })
}

fn options(args: &BackupArgs) -> Result<BackupOptions> {
    let mut excludes = ExcludeRules {
        one_file_system: args.one_file_system,
        ..ExcludeRules::default()
    };
    for pattern in &args.exclude {
        excludes.patterns.push(Pattern::new(pattern, false)?);
    }
    for pattern in &args.iexclude {
        excludes.patterns.push(Pattern::new(pattern, true)?);
    }
    for file in &args.exclude_file {
        excludes.add_exclude_file(file, false)?;
    }
    for file in &args.iexclude_file {
        excludes.add_exclude_file(file, true)?;
    }
    for spec in &args.exclude_if_present {
        excludes.tag_files.push(TagFile::parse(spec)?);
    }
    if args.exclude_caches {
        excludes.tag_files.push(TagFile::parse(CACHEDIR_TAG)?);
    }
    let parent = match (&args.parent, args.force) {
        (Some(_), true) => bail!("--parent and --force cannot be used together"),
        // Resolved to a full id once the repository is open.
        (Some(_), false) => ParentChoice::Latest,
        (None, true) => ParentChoice::None,
        (None, false) => ParentChoice::Latest,
    };
    let time = match &args.time {
        None => None,
        Some(text) => {
            let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
                .with_context(|| format!("invalid --time {text:?}: use \"YYYY-MM-DD HH:MM:SS\""))?;
            let local = Local
                .from_local_datetime(&naive)
                .earliest()
                .with_context(|| {
                    format!("--time {text:?} does not exist in the local time zone")
                })?;
            Some(local.fixed_offset())
        }
    };
    if args.pack_size < 4 || args.pack_size > 128 {
        bail!(
            "--pack-size {} is out of range: use 4 to 128 (MiB)",
            args.pack_size
        );
    }
    let mut tags: Vec<String> = args
        .tags
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    // Given order, without repeats, as restic records them.
    let mut seen = std::collections::HashSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    let defaults = BackupOptions::default();
    Ok(BackupOptions {
        excludes,
        tags,
        host: args.host.clone(),
        parent,
        time,
        dry_run: args.dry_run,
        with_atime: args.with_atime,
        compression: args.compression.parse().map_err(anyhow::Error::msg)?,
        writer: WriterOptions {
            pack_size: args.pack_size << 20,
            ..WriterOptions::default()
        },
        read_threads: args.read_threads.unwrap_or(defaults.read_threads),
        compress_threads: defaults.compress_threads,
    })
}

fn print_summary(global: &GlobalArgs, summary: &BackupSummary) -> Result<()> {
    if global.json {
        let mut value = serde_json::to_value(summary)?;
        value["message_type"] = "summary".into();
        return super::print_json(&value);
    }
    if global.quiet {
        return Ok(());
    }
    if let Some(parent) = &summary.parent {
        println!("using parent snapshot {}", parent.short());
    }
    println!(
        "Files:  {:>6} new, {:>6} changed, {:>6} unmodified",
        summary.files_new, summary.files_changed, summary.files_unmodified
    );
    println!(
        "Dirs:   {:>6} new, {:>6} changed, {:>6} unmodified",
        summary.dirs_new, summary.dirs_changed, summary.dirs_unmodified
    );
    println!(
        "Added to the repository: {}",
        format::bytes(summary.data_added)
    );
    println!(
        "processed {} files, {} in {}",
        summary.total_files_processed,
        format::bytes(summary.total_bytes_processed),
        format::duration(summary.total_duration)
    );
    match &summary.snapshot_id {
        Some(id) => println!("snapshot {} saved", id.short()),
        None if summary.dry_run => println!("dry run: nothing was written"),
        None => {}
    }
    if !summary.errors.is_empty() {
        eprintln!(
            "warning: {} entries could not be read and are not in the snapshot (see the errors above)",
            summary.errors.len()
        );
    }
    Ok(())
}

//! Backing up a stream: standard input, or the output of a command (a database dump).
//!
//! The snapshot holds one file at its root, named by `--stdin-filename`. For a command, the
//! snapshot is written only if the command exits successfully: a failed dump must never look
//! like a good backup.

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Instant;

use cairn_chunker::Chunker;
use cairn_format::tree::{encode_tree, GoTime, Node, NodeType};
use cairn_format::{BlobType, Id};
use chrono::Local;
use crossbeam_channel::bounded;

use super::file_reader::{compress_loop, ChunkJob, ChunkSource};
use super::progress::Report;
use super::{new_snapshot, save_snapshot, Abort, BackupObserver, BackupOptions, BackupSummary};
use crate::blob_codec::BlobEncoder;
use crate::blob_writer::{BlobWriter, WriterOptions};
use crate::index::Index;
use crate::progress::Phase;
use crate::{system, RepoError, Repository, Result};

/// Backs up everything read from the descriptor `reader` (standard input, a pipe, a file) as
/// the file `/<filename>`.
pub fn backup_stdin(
    repo: &Repository,
    reader: &dyn AsRawFd,
    filename: &str,
    options: &BackupOptions,
    observer: &dyn BackupObserver,
) -> Result<BackupSummary> {
    backup_stream(repo, reader, filename, options, observer, &mut || Ok(()))
}

/// Runs `command` and backs up its standard output as `/<filename>`. If the command fails,
/// no snapshot is written and the error says how it failed.
pub fn backup_command_output(
    repo: &Repository,
    command: &[OsString],
    filename: &str,
    options: &BackupOptions,
    observer: &dyn BackupObserver,
) -> Result<BackupSummary> {
    let (program, args) = command.split_first().ok_or_else(|| {
        RepoError::InvalidInput("--stdin-from-command needs a command after `--`".into())
    })?;
    let shown = program.to_string_lossy().into_owned();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| RepoError::InvalidInput(format!("cannot run {shown}: {e}")))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut wait = || {
        let status = child.wait().map_err(|e| RepoError::io(&shown, e))?;
        if status.success() {
            Ok(())
        } else {
            Err(RepoError::InvalidInput(format!(
                "command {shown} failed ({status}); no snapshot was written"
            )))
        }
    };
    backup_stream(repo, &stdout, filename, options, observer, &mut wait)
}

fn validate_filename(filename: &str) -> Result<()> {
    if filename.is_empty() || filename.contains('/') || filename == "." || filename == ".." {
        return Err(RepoError::InvalidInput(format!(
            "invalid --stdin-filename {filename:?}: give a plain file name"
        )));
    }
    Ok(())
}

fn backup_stream(
    repo: &Repository,
    reader: &dyn AsRawFd,
    filename: &str,
    options: &BackupOptions,
    observer: &dyn BackupObserver,
    finished_ok: &mut dyn FnMut() -> Result<()>,
) -> Result<BackupSummary> {
    Report::with(observer, |report| {
        let summary =
            backup_stream_reporting(repo, reader, filename, options, report, finished_ok)?;
        report.progress.set_phase(Phase::Done);
        Ok(summary)
    })
}

fn backup_stream_reporting(
    repo: &Repository,
    reader: &dyn AsRawFd,
    filename: &str,
    options: &BackupOptions,
    report: &Report<'_>,
    finished_ok: &mut dyn FnMut() -> Result<()>,
) -> Result<BackupSummary> {
    validate_filename(filename)?;
    let started = Instant::now();
    let time = options.time.unwrap_or_else(|| Local::now().fixed_offset());
    let _lock = if options.dry_run {
        None
    } else {
        Some(repo.lock(false)?)
    };
    report.progress.set_phase(Phase::LoadingIndex);
    let index = Index::load(repo)?;
    report.progress.set_phase(Phase::Uploading);
    report.progress.set_current(Some(filename));
    let writer_options = WriterOptions {
        dry_run: options.dry_run,
        ..options.writer.clone()
    };
    let writer = BlobWriter::new(repo, &index, &writer_options);
    let abort = Abort::default();
    let tables = repo.chunker_tables();
    let compression = (options.compression, repo.supports_compression());

    let (blobs, size) = std::thread::scope(|scope| -> Result<(Vec<Id>, u64)> {
        let (sender, receiver) = bounded::<ChunkJob>(options.compress_threads.max(1) * 2);
        for _ in 0..options.compress_threads.max(1) {
            let (receiver, writer, abort) = (receiver.clone(), &writer, &abort);
            scope.spawn(move || compress_loop(receiver, writer, compression, abort));
        }
        let mut chunker = Chunker::new(&tables);
        let pool = super::file_reader::read_buffer_pool();
        let mut source = ChunkSource::new(reader, &mut chunker, &pool, 0);
        let mut blobs = Vec::new();
        while let Some(chunk) = source
            .next_chunk(report)
            .map_err(|e| RepoError::io(filename, e))?
        {
            if abort.is_set() {
                break;
            }
            let id = Id::hash(&chunk);
            blobs.push(id);
            if writer.reserve(BlobType::Data, id) {
                let _ = sender.send(ChunkJob {
                    blob_type: BlobType::Data,
                    id,
                    data: chunk,
                });
            }
        }
        Ok((blobs, source.total))
    })?;
    if let Some(error) = abort.take() {
        return Err(error);
    }
    // The stream is complete; a failed command ends here, before anything names its data.
    finished_ok()?;
    report.file_done();
    report.progress.set_phase(Phase::Saving);

    let now = GoTime::from_unix_local(time.timestamp(), time.timestamp_subsec_nanos());
    let mut node = Node::new(filename.as_bytes().to_vec(), NodeType::File);
    node.mode = 0o644;
    node.mtime = now;
    node.atime = now;
    node.ctime = now;
    node.uid = system::uid();
    node.gid = system::gid();
    node.size = size;
    node.content = Some(blobs);
    let tree = encode_tree(&[node]);
    let root = Id::hash(&tree);
    let mut encoder = BlobEncoder::new(options.compression, repo.supports_compression());
    writer.save(&mut encoder, BlobType::Tree, root, &tree)?;
    let written = writer.finish()?;

    let mut summary = BackupSummary {
        files_new: 1,
        total_files_processed: 1,
        total_bytes_processed: size,
        data_blobs: written.data_blobs,
        tree_blobs: written.tree_blobs,
        data_added: written.stored_bytes,
        dry_run: options.dry_run,
        ..BackupSummary::default()
    };
    if !options.dry_run {
        let host = options.host.clone().unwrap_or_else(system::hostname);
        let snapshot = new_snapshot(
            root,
            vec![format!("/{filename}")],
            host,
            time,
            options,
            None,
        );
        summary.snapshot_id = Some(save_snapshot(repo, &snapshot)?);
    }
    summary.total_duration = started.elapsed().as_secs_f64();
    Ok(summary)
}

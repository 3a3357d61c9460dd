//! `cairn`: the command-line interface. Parses arguments, wires the library together, prints.
//!
//! One file per command under `commands/`; everything a command does beyond parsing and
//! printing lives in the library crates.

mod cli;
mod commands;
mod daemon_client;
mod format;
mod interrupt;
mod password;
mod progress;
mod repository;
mod s3;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes, as restic's: 0 success, 1 failure, 2 usage (clap), 3 a backup that finished
/// but could not read some files.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_PARTIAL_BACKUP: u8 = 3;

fn main() -> ExitCode {
    tune_allocator();
    let cli = cli::Cli::parse();
    init_logging(&cli.global);
    // A signal must not leave a lock behind: remove ours, then exit as the shell expects. The
    // daemon handles its signals itself (it stops its jobs first).
    if !matches!(cli.command, cli::Command::Daemon) {
        interrupt::install();
    }
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            cairn_repo::lock::release_held_locks();
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("cairn: {}", format::error_line(&error));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Allocator tuning for the backup pipeline's large buffers (glibc).
///
/// - Buffers of 1 MiB and more (read buffers, packs) are always mapped and unmapped on free.
///   glibc otherwise raises its mmap threshold to the largest buffer freed so far (the 32 MiB of
///   the key derivation, first thing in every run) and then serves every later buffer from the
///   heap, which keeps freed memory resident: the peak RSS of a 1 GiB backup grew steadily to
///   about 150 MB instead of tracking the buffers actually in flight.
/// - One arena: buffers are freed on other threads than the ones that allocated them, and
///   per-thread arenas each keep their own freed memory.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(global: &cli::GlobalArgs) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

//! Measures the memory a restore takes beyond the loaded index, and what the plan costs per
//! file: restores the latest snapshot of a local repository with the given plan batch size
//! and prints the peak resident size of the restore alone (the peak is reset after the key
//! derivation and the index load, whose own peaks would hide it).
//!
//! `CAIRN_PASSWORD=… cargo run --release -p cairn-repo --example restore_memory -- REPO TARGET
//! [BATCH_PLAN_BYTES]` (default: the restore's default; a huge value plans everything as one
//! batch, as restores did before batches).

use std::path::PathBuf;
use std::sync::Arc;

use cairn_repo::index::Index;
use cairn_repo::restore::{restore, NoRestoreObserver, RestoreOptions};
use cairn_repo::snapshots::load_all_snapshots;
use cairn_repo::Repository;
use cairn_storage::LocalStore;

/// A value in KiB from /proc/self/status (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("field in /proc/self/status");
    line.split_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("number")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: restore_memory REPO TARGET [BATCH_PLAN_BYTES]";
    let repo_path = PathBuf::from(args.next().expect(usage));
    let target = PathBuf::from(args.next().expect(usage));
    let batch_plan_bytes_max: usize = args.next().map_or(0, |n| n.parse().expect(usage));
    let password = std::env::var("CAIRN_PASSWORD").expect("CAIRN_PASSWORD");
    // The allocator tuning of the cairn binary (see its main.rs), so figures compare.
    // SAFETY: mallopt only adjusts allocator tuning; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let repo = Repository::open(Arc::new(LocalStore::new(repo_path)), password.as_bytes())
        .expect("open the repository");
    let (_, snapshot) = load_all_snapshots(&repo)
        .expect("snapshots")
        .into_iter()
        .max_by_key(|(_, s)| s.time)
        .expect("a snapshot");
    let index = Index::load(&repo).expect("index");
    let before_kib = status_kib("VmRSS:");
    // Writing 5 to clear_refs resets VmHWM to the current resident size.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak (Linux ≥ 4.0)");
    let options = RestoreOptions {
        threads: 4,
        batch_plan_bytes_max,
        ..RestoreOptions::default()
    };
    let summary = restore(
        &repo,
        &index,
        &snapshot.tree,
        &target,
        &options,
        &NoRestoreObserver,
    )
    .expect("restore");
    let peak_kib = status_kib("VmHWM:");
    let growth = (peak_kib.saturating_sub(before_kib)) as f64 * 1024.0;
    println!(
        "{} files, {} blobs in the index: resident {:.1} MiB before the restore, peak {:.1} MiB \
         during it (+{:.1} MiB, {:.0} bytes per file); plan estimate of the batches alive at \
         once: {:.1} MiB; {} errors",
        summary.files_restored,
        index.blob_count(),
        before_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        growth / 1048576.0,
        growth / summary.files_restored.max(1) as f64,
        summary.plan_bytes_peak as f64 / 1048576.0,
        summary.errors.len()
    );
}

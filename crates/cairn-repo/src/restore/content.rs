//! Phase 2 of a restore: fetch packs, open blobs, write them where they belong.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use cairn_storage::FileKind;

use super::metadata;
use super::plan::{create_file, PackPlan, Plan, PlannedBlob};
use super::{Errors, RestoreObserver};
use crate::blob_codec::BlobDecoder;
use crate::Repository;

/// Blobs closer than this in a pack are fetched with one read (the gap is read and dropped):
/// one request for a run beats many small ones on every store.
const RUN_GAP_MAX: u64 = 1 << 20;
/// A run ends once it spans this much, which bounds each worker's buffer.
const RUN_BYTES_MAX: u64 = 4 << 20;
/// Open files kept per worker, so a large file's many blobs do not reopen it each time.
const OPEN_FILES_MAX: usize = 64;

/// What one worker thread keeps from pack to pack.
struct Worker {
    files: HashMap<u32, File>,
    /// The bytes of one run, reused for every run (no fresh memory per read).
    buffer: Vec<u8>,
    decoder: BlobDecoder,
}

/// Writes every planned blob; returns the bytes written (holes included).
pub(crate) fn write_all(
    repo: &Repository,
    plan: &Plan,
    threads: usize,
    observer: &dyn RestoreObserver,
    errors: &Errors,
) -> u64 {
    let next = AtomicUsize::new(0);
    let written = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(plan.packs.len()).max(1) {
            scope.spawn(|| {
                let mut worker = Worker {
                    files: HashMap::new(),
                    buffer: Vec::new(),
                    decoder: BlobDecoder::new(),
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(pack) = plan.packs.get(i) else { break };
                    restore_pack(repo, plan, pack, &mut worker, observer, errors, &written);
                }
            });
        }
    });
    written.into_inner()
}

fn restore_pack(
    repo: &Repository,
    plan: &Plan,
    pack: &PackPlan,
    worker: &mut Worker,
    observer: &dyn RestoreObserver,
    errors: &Errors,
    written: &AtomicU64,
) {
    let Worker {
        files,
        buffer,
        decoder,
    } = worker;
    for run in runs(&pack.blobs) {
        let start = u64::from(run[0].location.offset);
        let end = run
            .iter()
            .map(|b| u64::from(b.location.offset) + u64::from(b.location.length))
            .max()
            .unwrap_or(start);
        let name = pack.pack.to_hex();
        if let Err(e) =
            repo.storage()
                .get_range_into(FileKind::Pack, &name, start, end - start, buffer)
        {
            for blob in run {
                let message = format!("cannot read pack {}: {e}", pack.pack);
                report_blob(plan, blob, observer, errors, &message);
                for &(file_number, _) in &blob.targets {
                    target_done(plan, files, file_number, observer, errors);
                }
            }
            continue;
        }
        for blob in run {
            let from = (u64::from(blob.location.offset) - start) as usize;
            let sealed = &mut buffer[from..from + blob.location.length as usize];
            let plaintext = match decoder.decode(repo.key(), &blob.id, &blob.location, sealed) {
                Ok(p) => p,
                Err(e) => {
                    report_blob(plan, blob, observer, errors, &e.to_string());
                    for &(file_number, _) in &blob.targets {
                        target_done(plan, files, file_number, observer, errors);
                    }
                    continue;
                }
            };
            // A blob of zeros is left unwritten: the file was created at its full size, so the
            // range already reads as zeros and stays a hole on disk.
            let zeros = is_all_zero(plaintext);
            for &(file_number, offset) in &blob.targets {
                let path = &plan.files[file_number as usize].path;
                let data = if zeros { &[][..] } else { plaintext };
                match write_at(plan, files, file_number, offset, data) {
                    Ok(()) => {
                        written.fetch_add(plaintext.len() as u64, Ordering::Relaxed);
                        observer.bytes_written(plaintext.len() as u64);
                    }
                    Err(e) => errors.add(observer, path, format!("cannot write: {e}")),
                }
                target_done(plan, files, file_number, observer, errors);
            }
        }
    }
}

/// Counts one write to a file as done; the worker doing its last one applies its metadata
/// through the descriptor it holds and closes it.
fn target_done(
    plan: &Plan,
    files: &mut HashMap<u32, File>,
    file_number: u32,
    observer: &dyn RestoreObserver,
    errors: &Errors,
) {
    if plan.remaining[file_number as usize].fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    let Some(file) = files.remove(&file_number) else {
        return;
    };
    let planned = &plan.files[file_number as usize];
    metadata::apply_to_open_file(
        &file,
        &planned.path,
        &planned.node,
        metadata::as_root(),
        observer,
        errors,
    );
    plan.metadata_done[file_number as usize].store(true, Ordering::Release);
}

fn report_blob(
    plan: &Plan,
    blob: &PlannedBlob,
    observer: &dyn RestoreObserver,
    errors: &Errors,
    message: &str,
) {
    for &(file_number, offset) in &blob.targets {
        let path = &plan.files[file_number as usize].path;
        errors.add(
            observer,
            path,
            format!("content at offset {offset} is lost: {message}"),
        );
    }
}

/// Writes `data` at `offset` (nothing when empty: a hole), creating the file on first use.
fn write_at(
    plan: &Plan,
    files: &mut HashMap<u32, File>,
    file_number: u32,
    offset: u64,
    data: &[u8],
) -> std::io::Result<()> {
    if !files.contains_key(&file_number) {
        if files.len() >= OPEN_FILES_MAX {
            files.clear();
        }
        let planned = &plan.files[file_number as usize];
        files.insert(file_number, create_file(&planned.path, planned.node.size)?);
    }
    if data.is_empty() {
        return Ok(());
    }
    files[&file_number].write_all_at(data, offset)
}

/// Splits a pack's blobs (sorted by offset) into runs read with one request each.
fn runs(blobs: &[PlannedBlob]) -> Vec<&[PlannedBlob]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=blobs.len() {
        let split = i == blobs.len() || {
            let previous = &blobs[i - 1].location;
            let previous_end = u64::from(previous.offset) + u64::from(previous.length);
            let next = &blobs[i].location;
            let next_end = u64::from(next.offset) + u64::from(next.length);
            let run_start = u64::from(blobs[start].location.offset);
            u64::from(next.offset) > previous_end + RUN_GAP_MAX
                || next_end - run_start > RUN_BYTES_MAX
        };
        if split {
            out.push(&blobs[start..i]);
            start = i;
        }
    }
    out
}

/// Whether every byte is zero. OR-folding fixed 64-byte blocks lets the compiler vectorize;
/// a non-zero block ends the scan early.
pub(crate) fn is_all_zero(data: &[u8]) -> bool {
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        if block.iter().fold(0u8, |acc, b| acc | b) != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_detection_sees_a_single_set_bit_anywhere() {
        assert!(is_all_zero(&[]));
        assert!(is_all_zero(&[0; 1000]));
        for position in [0, 63, 64, 999] {
            let mut data = vec![0u8; 1000];
            data[position] = 1;
            assert!(!is_all_zero(&data), "bit at {position}");
        }
    }
}

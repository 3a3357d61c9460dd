//! Phase 2 of a restore: fetch packs, open blobs, write them where they belong.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use cairn_storage::FileKind;

use super::plan::{PackPlan, Plan, PlannedBlob};
use super::{Errors, RestoreObserver};
use crate::blob_codec::decode_blob;
use crate::Repository;

/// Blobs closer than this in a pack are fetched with one read (the gap is read and dropped):
/// one request for a run beats many small ones on every store.
const RUN_GAP_MAX: u64 = 1 << 20;
/// Open files kept per worker, so a large file's many blobs do not reopen it each time.
const OPEN_FILES_MAX: usize = 64;

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
                let mut files: HashMap<u32, File> = HashMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(pack) = plan.packs.get(i) else { break };
                    restore_pack(repo, plan, pack, &mut files, observer, errors, &written);
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
    files: &mut HashMap<u32, File>,
    observer: &dyn RestoreObserver,
    errors: &Errors,
    written: &AtomicU64,
) {
    for run in runs(&pack.blobs) {
        let start = u64::from(run[0].location.offset);
        let end = run
            .iter()
            .map(|b| u64::from(b.location.offset) + u64::from(b.location.length))
            .max()
            .unwrap_or(start);
        let mut bytes =
            match repo
                .storage()
                .get_range(FileKind::Pack, &pack.pack.to_hex(), start, end - start)
            {
                Ok(bytes) => bytes,
                Err(e) => {
                    for blob in run {
                        report_blob(
                            plan,
                            blob,
                            observer,
                            errors,
                            &format!("cannot read pack {}: {e}", pack.pack),
                        );
                    }
                    continue;
                }
            };
        for blob in run {
            let from = (u64::from(blob.location.offset) - start) as usize;
            let sealed = &mut bytes[from..from + blob.location.length as usize];
            let plaintext = match decode_blob(repo.key(), &blob.id, &blob.location, sealed) {
                Ok(p) => p,
                Err(e) => {
                    report_blob(plan, blob, observer, errors, &e.to_string());
                    continue;
                }
            };
            // A blob of zeros is left unwritten: the file was created at its full size, so the
            // range already reads as zeros and stays a hole on disk.
            let zeros = is_all_zero(&plaintext);
            for &(file_number, offset) in &blob.targets {
                if !zeros {
                    if let Err(e) = write_at(plan, files, file_number, offset, &plaintext) {
                        let path = &plan.files[file_number as usize].path;
                        errors.add(observer, path, format!("cannot write: {e}"));
                        continue;
                    }
                }
                written.fetch_add(plaintext.len() as u64, Ordering::Relaxed);
                observer.bytes_written(plaintext.len() as u64);
            }
        }
    }
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
        let file = OpenOptions::new()
            .write(true)
            .open(&plan.files[file_number as usize].path)?;
        files.insert(file_number, file);
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
            u64::from(blobs[i].location.offset) > previous_end + RUN_GAP_MAX
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

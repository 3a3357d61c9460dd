//! Phase 2 of a restore: fetch a pack's needed ranges, open blobs, write them where they
//! belong.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use cairn_storage::FileKind;

use super::batch::{Batch, PlannedBlob};
use super::metadata;
use super::plan::create_file;
use super::{Errors, Report};
use crate::blob_codec::BlobDecoder;
use crate::Repository;

/// Blobs closer than this in a pack are fetched with one read (the gap is read and dropped):
/// one request for a run beats many small ones on every store.
const RUN_GAP_MAX: u64 = 1 << 20;
/// A run ends once it spans this much, which bounds each worker's buffer.
const RUN_BYTES_MAX: u64 = 4 << 20;
/// Buffers a large blob (up to 8 MiB, the chunker's maximum) grew beyond this are freed after
/// its run: four workers would otherwise each keep the largest blob they ever met, twice
/// (read and decompressed), and a long restore meets them all.
const BUFFER_KEEP_BYTES: usize = RUN_BYTES_MAX as usize;
/// Open files kept per worker, so a large file's many blobs do not reopen it each time.
const OPEN_FILES_MAX: usize = 64;

/// What one worker thread keeps from pack to pack.
pub(crate) struct Worker {
    /// Keyed by restore-wide file number ([`Batch::first_file`] + position in the batch).
    files: HashMap<u64, File>,
    /// The bytes of one run, reused for every run (no fresh memory per read).
    buffer: Vec<u8>,
    decoder: BlobDecoder,
    as_root: bool,
}

impl Worker {
    pub fn new() -> Worker {
        Worker {
            files: HashMap::new(),
            buffer: run_buffer(),
            decoder: BlobDecoder::new(),
            as_root: metadata::as_root(),
        }
    }

    pub fn release_large_buffers(&mut self) {
        if self.buffer.capacity() > BUFFER_KEEP_BYTES {
            self.buffer = run_buffer();
        }
        self.decoder.release_beyond(BUFFER_KEEP_BYTES);
    }

    /// The worker's read buffer, for verification between packs.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }
}

/// A buffer any run fits in but one with a larger blob: it never grows by doubling, so its
/// capacity beyond [`BUFFER_KEEP_BYTES`] means a large blob. Pages are only taken when used.
fn run_buffer() -> Vec<u8> {
    Vec::with_capacity(BUFFER_KEEP_BYTES)
}

/// Writes the blobs a batch needs from its pack number `pack`; returns the bytes written
/// (holes included).
pub(crate) fn restore_pack(
    repo: &Repository,
    batch: &Batch,
    pack: usize,
    worker: &mut Worker,
    report: &Report<'_>,
    errors: &Errors,
) -> u64 {
    let pack = &batch.packs[pack];
    let mut written = 0u64;
    for run in runs(&pack.blobs) {
        let start = u64::from(run[0].location.offset);
        let end = run
            .iter()
            .map(|b| u64::from(b.location.offset) + u64::from(b.location.length))
            .max()
            .unwrap_or(start);
        let name = pack.pack.to_hex();
        if let Err(e) = repo.storage().get_range_into(
            FileKind::Pack,
            &name,
            start,
            end - start,
            &mut worker.buffer,
        ) {
            let message = format!("cannot read pack {}: {e}", pack.pack);
            for blob in run {
                lose_blob(batch, blob, worker, report, errors, &message);
            }
            worker.release_large_buffers();
            continue;
        }
        for blob in run {
            let from = (u64::from(blob.location.offset) - start) as usize;
            let sealed = &mut worker.buffer[from..from + blob.location.length as usize];
            let plaintext =
                match worker
                    .decoder
                    .decode(repo.key(), &blob.id, &blob.location, sealed)
                {
                    Ok(p) => p,
                    Err(e) => {
                        let message = e.to_string();
                        lose_blob(batch, blob, worker, report, errors, &message);
                        continue;
                    }
                };
            // A blob of zeros is left unwritten: the file was created at its full size, so the
            // range already reads as zeros and stays a hole on disk.
            let data = if is_all_zero(plaintext) {
                &[][..]
            } else {
                plaintext
            };
            for &(file_number, offset) in &blob.targets {
                match write_at(batch, &mut worker.files, file_number, offset, data) {
                    Ok(()) => {
                        written += plaintext.len() as u64;
                        report.progress.add_bytes(plaintext.len() as u64);
                    }
                    Err(e) => {
                        let path = &batch.files[file_number as usize].path;
                        errors.add(report, path, format!("cannot write: {e}"));
                    }
                }
                target_done(
                    batch,
                    &mut worker.files,
                    worker.as_root,
                    file_number,
                    report,
                    errors,
                );
            }
        }
        worker.release_large_buffers();
    }
    written
}

/// Counts one write to a file as done; the worker doing its last one applies its metadata
/// through the descriptor it holds and closes it.
fn target_done(
    batch: &Batch,
    files: &mut HashMap<u64, File>,
    as_root: bool,
    file_number: u32,
    report: &Report<'_>,
    errors: &Errors,
) {
    if batch.remaining[file_number as usize].fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    let Some(file) = files.remove(&(batch.first_file + u64::from(file_number))) else {
        return;
    };
    let planned = &batch.files[file_number as usize];
    metadata::apply_to_open_file(
        &file,
        &planned.path,
        &planned.metadata,
        as_root,
        report,
        errors,
    );
    batch.metadata_done[file_number as usize].store(true, Ordering::Release);
    report.file_done(&planned.path);
}

/// Reports a blob that cannot be restored against every place it was to be written, which
/// still counts as done (the file keeps a hole there).
fn lose_blob(
    batch: &Batch,
    blob: &PlannedBlob,
    worker: &mut Worker,
    report: &Report<'_>,
    errors: &Errors,
    message: &str,
) {
    for &(file_number, offset) in &blob.targets {
        let path = &batch.files[file_number as usize].path;
        errors.add(
            report,
            path,
            format!("content at offset {offset} is lost: {message}"),
        );
        target_done(
            batch,
            &mut worker.files,
            worker.as_root,
            file_number,
            report,
            errors,
        );
    }
}

/// Writes `data` at `offset` (nothing when empty: a hole), creating the file on first use.
fn write_at(
    batch: &Batch,
    files: &mut HashMap<u64, File>,
    file_number: u32,
    offset: u64,
    data: &[u8],
) -> std::io::Result<()> {
    let key = batch.first_file + u64::from(file_number);
    if !files.contains_key(&key) {
        if files.len() >= OPEN_FILES_MAX {
            files.clear();
        }
        let planned = &batch.files[file_number as usize];
        files.insert(key, create_file(&planned.path, planned.size)?);
    }
    if data.is_empty() {
        return Ok(());
    }
    files[&key].write_all_at(data, offset)
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
    fn a_worker_keeps_its_run_buffer_and_frees_what_a_large_blob_grew() {
        let mut worker = Worker::new();
        worker.buffer.resize(3 << 20, 1);
        let kept = worker.buffer.as_ptr();
        worker.release_large_buffers();
        // The largest ordinary run after a smaller one: no growth, nothing freed.
        worker.buffer.resize(RUN_BYTES_MAX as usize, 1);
        worker.release_large_buffers();
        assert_eq!(worker.buffer.as_ptr(), kept);
        assert_eq!(worker.buffer.capacity(), BUFFER_KEEP_BYTES);
        // A run holding an 8 MiB blob.
        worker.buffer.resize(8 << 20, 1);
        worker.release_large_buffers();
        assert!(worker.buffer.capacity() <= BUFFER_KEEP_BYTES);
        assert!(worker.buffer.is_empty());
    }

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

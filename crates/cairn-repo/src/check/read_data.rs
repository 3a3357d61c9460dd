//! The read-data part of check: every byte of the selected packs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use cairn_format::{BlobType, Id, IndexBlob};
use cairn_storage::FileKind;
use rand::seq::SliceRandom;

use super::structure::CheckState;
use super::{CheckOptions, CheckReport, Problem, ReadData};
use crate::blob_codec::decode_blob;
use crate::index::BlobLocation;
use crate::pack_reader::parse_pack;
use crate::progress::{Phase, Progress};
use crate::Repository;

/// Reads the selected packs; returns the ids of those found damaged (problems are added to the
/// report).
pub(crate) fn read_packs(
    repo: &Repository,
    state: &CheckState,
    options: &CheckOptions,
    report: &mut CheckReport,
    progress: &Progress,
) -> HashSet<Id> {
    let mut packs: Vec<Id> = state
        .stored_packs
        .keys()
        .copied()
        .filter(|id| state.pack_blobs.contains_key(id))
        .collect();
    packs.sort();
    let selected: Vec<Id> = match options.read_data {
        ReadData::None => Vec::new(),
        ReadData::All => packs,
        ReadData::Bucket { n, m } => packs
            .into_iter()
            .filter(|id| u32::from(id.0[0]) % m == n - 1)
            .collect(),
        ReadData::Percent(percent) => {
            let count = ((packs.len() as f64) * percent / 100.0).ceil() as usize;
            let mut packs = packs;
            packs.shuffle(&mut rand::thread_rng());
            packs.truncate(count.min(packs.len()));
            packs
        }
    };
    progress.set_totals(
        Some(selected.len() as u64),
        Some(selected.iter().map(|id| state.stored_packs[id]).sum()),
    );
    progress.set_phase(Phase::ReadingData);
    let next = AtomicUsize::new(0);
    let blobs_read = AtomicU64::new(0);
    let problems = Mutex::new(Vec::new());
    let damaged = Mutex::new(HashSet::new());
    let threads = options.threads.max(1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pack) = selected.get(i) else { break };
                progress.set_current(Some(&format!("pack {}", pack.short())));
                let found = check_pack(repo, pack, &state.pack_blobs[pack], &blobs_read);
                progress.add_files(1);
                progress.add_bytes(state.stored_packs[pack]);
                if !found.is_empty() {
                    damaged.lock().expect("damaged").insert(*pack);
                    problems.lock().expect("problems").extend(found);
                }
            });
        }
    });
    report.packs_read = selected.len() as u64;
    report.blobs_read = blobs_read.into_inner();
    report
        .problems
        .extend(problems.into_inner().expect("problems"));
    damaged.into_inner().expect("damaged")
}

fn check_pack(
    repo: &Repository,
    pack: &Id,
    indexed: &[IndexBlob],
    blobs_read: &AtomicU64,
) -> Vec<Problem> {
    let object = format!("pack {pack}");
    let problem = |message: String| Problem {
        object: object.clone(),
        message,
        affected: Vec::new(),
    };
    let mut bytes = match repo.storage().get(FileKind::Pack, &pack.to_hex()) {
        Ok(bytes) => bytes,
        Err(e) => return vec![problem(format!("cannot be read: {e}"))],
    };
    let mut problems = Vec::new();
    if Id::hash(&bytes) != *pack {
        problems.push(problem(
            "content does not match its name (SHA-256 mismatch): the pack was modified or damaged"
                .into(),
        ));
    }
    let header = match parse_pack(repo.key(), pack, &bytes) {
        Ok(header) => header,
        Err(e) => {
            problems.push(problem(format!("header unreadable: {e}")));
            Vec::new()
        }
    };
    let in_header: HashMap<(BlobType, Id), (u32, u32)> = header
        .iter()
        .map(|b| ((b.blob_type, b.id), (b.offset, b.length)))
        .collect();
    for blob in indexed {
        if !header.is_empty()
            && in_header.get(&(blob.blob_type, blob.id)) != Some(&(blob.offset, blob.length))
        {
            problems.push(problem(format!(
                "{} blob {} is at offset {} length {} in the index but not in the pack header",
                blob.blob_type, blob.id, blob.offset, blob.length
            )));
        }
        let end = blob.offset as usize + blob.length as usize;
        if end > bytes.len() {
            problems.push(problem(format!(
                "{} blob {} lies past the end of the pack",
                blob.blob_type, blob.id
            )));
            continue;
        }
        let location = BlobLocation {
            blob_type: blob.blob_type,
            pack: *pack,
            offset: blob.offset,
            length: blob.length,
            uncompressed_length: blob.uncompressed_length,
        };
        blobs_read.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = decode_blob(
            repo.key(),
            &blob.id,
            &location,
            &mut bytes[blob.offset as usize..end],
        ) {
            problems.push(problem(e.to_string()));
        }
    }
    problems
}

//! A batch: the part of a restore plan held in memory at once.
//!
//! The planner fills a [`BatchBuilder`] with files (each whole, with every blob it needs) until
//! the batch's estimated plan bytes reach the limit, then hands it to the content workers as a
//! [`Batch`] and starts the next one. The restore's memory is so bounded by the batches alive
//! at once, whatever the size of the snapshot.

use std::collections::HashMap;
use std::mem::size_of;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};

use cairn_format::Id;

use super::metadata::Metadata;
use crate::index::BlobLocation;

/// Plan bytes per batch unless [`super::RestoreOptions::batch_plan_bytes_max`] says otherwise:
/// a few thousand small files or a few hundred GiB of large ones (large files cost per blob).
pub(crate) const BATCH_PLAN_BYTES_DEFAULT: usize = 2 << 20;

pub(crate) struct PlannedFile {
    pub path: PathBuf,
    pub size: u64,
    pub metadata: Metadata,
    /// The file's blobs in order with their plaintext lengths; kept only for `--verify`.
    pub blobs: Vec<(Id, u32)>,
}

/// One blob to fetch from a pack and every (file, offset) of its batch it is written to.
pub(crate) struct PlannedBlob {
    pub id: Id,
    pub location: BlobLocation,
    /// (file number within the batch, offset in the file).
    pub targets: Vec<(u32, u64)>,
}

pub(crate) struct PackPlan {
    pub pack: Id,
    /// Sorted by offset.
    pub blobs: Vec<PlannedBlob>,
}

pub(crate) struct Batch {
    /// Position in planning order: batches are finished in this order, so a hard link is made
    /// only once the batch that restores its first path is done.
    pub number: u64,
    /// The restore-wide number of `files[0]`, so that workers' caches of open files never
    /// confuse the files of two batches.
    pub first_file: u64,
    pub files: Vec<PlannedFile>,
    pub packs: Vec<PackPlan>,
    /// Per file: blob writes still to come. Files are created by the content workers (in
    /// parallel) and get their metadata from the worker that does the last write.
    pub remaining: Vec<AtomicU32>,
    /// Per file: whether its metadata has been applied.
    pub metadata_done: Vec<AtomicBool>,
    /// Symlinks, FIFOs and devices, already created; their metadata waits for the batch's end.
    pub others: Vec<(PathBuf, Metadata)>,
    /// Hard links to make once content is written: (link, the path restored first).
    pub links: Vec<(PathBuf, PathBuf)>,
    /// Jobs of the batch's current stage (its packs, then its verification) not yet done.
    pub jobs_left: AtomicUsize,
    /// The estimate the batch was closed at.
    pub plan_bytes: usize,
}

/// The batch being planned.
#[derive(Default)]
pub(crate) struct BatchBuilder {
    files: Vec<PlannedFile>,
    others: Vec<(PathBuf, Metadata)>,
    links: Vec<(PathBuf, PathBuf)>,
    /// pack → (its blobs, blob → position in them).
    by_pack: HashMap<Id, (Vec<PlannedBlob>, HashMap<Id, usize>)>,
    plan_bytes: usize,
}

/// What one entry of a `HashMap<Id, usize>` costs, with the table's usual slack.
const POSITION_ENTRY_BYTES: usize = (size_of::<Id>() + size_of::<usize>()) * 8 / 7 + 1;
/// Per file beyond its own struct and path: its counters, and its pack plan's position map.
const FILE_COUNTER_BYTES: usize = size_of::<AtomicU32>() + size_of::<AtomicBool>();

impl BatchBuilder {
    /// Estimated heap bytes of the plan so far: what the batch costs while it is alive.
    pub fn plan_bytes(&self) -> usize {
        self.plan_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.others.is_empty() && self.links.is_empty()
    }

    /// Plans a file's content: `blobs` are its blobs in order with their locations (up to the
    /// first one missing from the index). `keep_blob_lists` keeps them for verification.
    /// Returns whether any blob will be written to it (a content worker then creates it).
    pub fn add_file(
        &mut self,
        path: PathBuf,
        size: u64,
        metadata: Metadata,
        blobs: &[(Id, BlobLocation)],
        keep_blob_lists: bool,
    ) -> bool {
        let file_number = self.files.len() as u32;
        let mut offset = 0u64;
        for (id, location) in blobs {
            let (pack_blobs, positions) = self.by_pack.entry(location.pack).or_default();
            let position = *positions.entry(*id).or_insert_with(|| {
                pack_blobs.push(PlannedBlob {
                    id: *id,
                    location: *location,
                    targets: Vec::new(),
                });
                self.plan_bytes += size_of::<PlannedBlob>() + POSITION_ENTRY_BYTES;
                pack_blobs.len() - 1
            });
            pack_blobs[position].targets.push((file_number, offset));
            offset += u64::from(location.plaintext_len());
        }
        let blob_list: Vec<(Id, u32)> = if keep_blob_lists {
            blobs
                .iter()
                .map(|(id, location)| (*id, location.plaintext_len()))
                .collect()
        } else {
            Vec::new()
        };
        self.plan_bytes += size_of::<PlannedFile>()
            + FILE_COUNTER_BYTES
            + path.as_os_str().len()
            + metadata.heap_bytes()
            + blobs.len() * size_of::<(u32, u64)>()
            + blob_list.len() * size_of::<(Id, u32)>();
        self.files.push(PlannedFile {
            path,
            size,
            metadata,
            blobs: blob_list,
        });
        !blobs.is_empty()
    }

    pub fn add_other(&mut self, path: PathBuf, metadata: Metadata) {
        self.plan_bytes +=
            size_of::<(PathBuf, Metadata)>() + path.as_os_str().len() + metadata.heap_bytes();
        self.others.push((path, metadata));
    }

    pub fn add_link(&mut self, link: PathBuf, first: PathBuf) {
        self.plan_bytes +=
            size_of::<(PathBuf, PathBuf)>() + link.as_os_str().len() + first.as_os_str().len();
        self.links.push((link, first));
    }

    /// Closes the batch: its packs in id order, each pack's blobs by offset (so that nearby
    /// blobs are read with one request).
    pub fn finish(self, number: u64, first_file: u64) -> Batch {
        let mut packs: Vec<PackPlan> = self
            .by_pack
            .into_iter()
            .map(|(pack, (mut blobs, _))| {
                blobs.sort_by_key(|b| b.location.offset);
                PackPlan { pack, blobs }
            })
            .collect();
        packs.sort_by_key(|p| p.pack);
        let mut remaining = vec![0u32; self.files.len()];
        for blob in packs.iter().flat_map(|p| &p.blobs) {
            for &(file, _) in &blob.targets {
                remaining[file as usize] += 1;
            }
        }
        Batch {
            number,
            first_file,
            metadata_done: (0..self.files.len())
                .map(|_| AtomicBool::new(false))
                .collect(),
            remaining: remaining.into_iter().map(AtomicU32::new).collect(),
            files: self.files,
            packs,
            others: self.others,
            links: self.links,
            jobs_left: AtomicUsize::new(0),
            plan_bytes: self.plan_bytes,
        }
    }
}

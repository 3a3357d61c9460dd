//! `repair index`: rebuild the index from the packs the storage holds.
//!
//! A pack keeps the entries a readable index file gives it when they account for its exact
//! size; any other pack (unindexed, listed only by a damaged index file, or of the wrong size),
//! and with `read_all_packs` every pack, is indexed from its own header. Reading a header costs
//! two small ranged reads (the 4-byte trailer, then the sealed header it locates), not the
//! pack; only when those do not make sense is the whole pack fetched, in case the store's
//! ranged reads are what failed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cairn_format::pack::{decode_header, PackBlob, TRAILER_LEN};
use cairn_format::{BlobType, Id, IndexBlob, IndexFile, IndexPack, UnknownFields};
use cairn_storage::FileKind;

use crate::index::{load_index_files, PackSummary};
use crate::pack_reader::{header_span, parse_pack};
use crate::{ErrorKind, RepoError, Repository, Result};

/// Threads reading pack headers at once; enough to hide storage latency.
const HEADER_READERS: usize = 4;

/// A new index file is started once this many blobs are in the current one (restic's limit,
/// which keeps each index file quick to load).
const INDEX_BLOBS_MAX: usize = 50_000;

#[derive(Debug, Clone, Default)]
pub struct RepairIndexOptions {
    /// Index every pack from its header, even where the index files describe it correctly,
    /// and write the index afresh even when nothing changed.
    pub read_all_packs: bool,
}

/// A repository file that cannot be used, and why (the reason does not repeat the name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DamagedFile {
    pub id: Id,
    pub reason: String,
}

/// What `repair index` found and did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairIndexSummary {
    /// Packs in the storage.
    pub packs: u64,
    /// Pack headers read.
    pub packs_read: u64,
    /// Packs indexed now that no readable index file listed.
    pub packs_added: Vec<Id>,
    /// Packs whose index entries did not match the pack (size or header) and were re-indexed
    /// from its header.
    pub packs_corrected: Vec<Id>,
    /// Packs the index files listed that are gone from the storage; their entries are dropped.
    pub packs_removed: Vec<Id>,
    /// Packs whose header cannot be read: left out of the index. Snapshots that used their
    /// blobs now lack data (`repair snapshots` rewrites them).
    pub damaged_packs: Vec<DamagedFile>,
    /// Index files that could not be read; deleted once the new index is written.
    pub damaged_index_files: Vec<DamagedFile>,
    /// Packs more than one index file listed (left by an interrupted prune or repair); the
    /// new index lists each pack once.
    pub packs_listed_twice: u64,
    /// Packs the index listed and no longer does (removed or damaged): snapshots that used
    /// their blobs lack data from now on.
    pub packs_lost: u64,
    /// Blobs the new index lists.
    pub blobs: u64,
    pub index_files_written: Vec<Id>,
    pub index_files_deleted: Vec<Id>,
}

impl RepairIndexSummary {
    /// Whether the index was rewritten.
    pub fn changed(&self) -> bool {
        !self.index_files_written.is_empty() || !self.index_files_deleted.is_empty()
    }
}

/// Rebuilds the index under an exclusive lock (see the module documentation of
/// [`crate::repair`] for the order of writes that keeps every instant safe).
pub fn repair_index(repo: &Repository, options: &RepairIndexOptions) -> Result<RepairIndexSummary> {
    let _lock = repo.lock(true)?;
    let mut summary = RepairIndexSummary::default();

    let mut stored: Vec<(Id, u64)> = repo.list_ids(FileKind::Pack)?;
    stored.sort();
    summary.packs = stored.len() as u64;

    // What the readable index files say, first listing first (as the in-memory index does).
    let mut old_index_files = Vec::new();
    let mut indexed: HashMap<Id, IndexPack> = HashMap::new();
    for (id, file) in load_index_files(repo)? {
        old_index_files.push(id);
        match file {
            Ok(file) => {
                for pack in file.packs {
                    match indexed.entry(pack.id) {
                        Entry::Vacant(entry) => {
                            entry.insert(pack);
                        }
                        Entry::Occupied(_) => summary.packs_listed_twice += 1,
                    }
                }
            }
            Err(e) if is_damage(&e) => summary.damaged_index_files.push(DamagedFile {
                id,
                reason: damage_reason(e),
            }),
            Err(e) => return Err(e),
        }
    }

    let to_read: Vec<(Id, u64)> = stored
        .iter()
        .copied()
        .filter(|(id, size)| {
            options.read_all_packs
                || !indexed
                    .get(id)
                    .is_some_and(|pack| describes_size(pack, *size))
        })
        .collect();
    summary.packs_read = to_read.len() as u64;
    let mut headers = read_headers(repo, &to_read)?;

    let stored_ids: HashSet<Id> = stored.iter().map(|(id, _)| *id).collect();
    let mut new_packs: Vec<IndexPack> = Vec::with_capacity(stored.len());
    let mut index_changed =
        !summary.damaged_index_files.is_empty() || summary.packs_listed_twice > 0;
    for (id, _) in &stored {
        let old = indexed.get(id);
        let Some(header) = headers.remove(id) else {
            // Not read: the index files describe it correctly.
            new_packs.push(old.expect("unread packs are indexed").clone());
            continue;
        };
        match header {
            HeaderRead::Blobs(blobs) => {
                let mut pack = IndexPack {
                    id: *id,
                    blobs: blobs.iter().map(IndexBlob::from).collect(),
                    unknown_fields: UnknownFields::default(),
                };
                match old {
                    None => {
                        summary.packs_added.push(*id);
                        index_changed = true;
                    }
                    Some(old) if !same_entries(old, &pack) => {
                        summary.packs_corrected.push(*id);
                        index_changed = true;
                        // Fields this version does not know still describe the same pack.
                        pack.unknown_fields = old.unknown_fields.clone();
                    }
                    // The entry was right: it stays as it was, with any fields it carries.
                    Some(old) => pack = old.clone(),
                }
                new_packs.push(pack);
            }
            HeaderRead::Damaged(reason) => {
                tracing::info!("pack {id} is damaged ({reason}); leaving it out of the index");
                index_changed |= old.is_some();
                summary.packs_lost += u64::from(old.is_some());
                summary.damaged_packs.push(DamagedFile { id: *id, reason });
            }
            HeaderRead::Gone => {
                // Deleted between listing and reading (it cannot be, under the exclusive
                // lock, unless someone ignored it): nothing to index.
                index_changed |= old.is_some();
                if old.is_some() {
                    summary.packs_removed.push(*id);
                }
            }
        }
    }
    let mut removed: Vec<Id> = indexed
        .keys()
        .filter(|id| !stored_ids.contains(id))
        .copied()
        .collect();
    removed.sort();
    index_changed |= !removed.is_empty();
    summary.packs_removed.extend(removed);
    summary.packs_lost += summary.packs_removed.len() as u64;
    summary.blobs = new_packs.iter().map(|p| p.blobs.len() as u64).sum();

    if !index_changed && !options.read_all_packs {
        return Ok(summary);
    }

    // New index files first, made durable before anything old goes away: until the old files
    // are deleted, old and new overlap, which is allowed.
    for packs in split_into_files(new_packs) {
        let file = IndexFile {
            supersedes: Vec::new(),
            packs,
            unknown_fields: UnknownFields::default(),
        };
        summary
            .index_files_written
            .push(repo.save_unpacked(FileKind::Index, &file.to_json())?);
    }
    repo.storage().sync()?;

    let written: HashSet<Id> = summary.index_files_written.iter().copied().collect();
    for id in old_index_files {
        // A new file can only have an old one's name if its bytes are the same; keep it then.
        if written.contains(&id) {
            continue;
        }
        match repo.storage().remove(FileKind::Index, &id.to_hex()) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        summary.index_files_deleted.push(id);
    }
    repo.storage().sync()?;
    Ok(summary)
}

/// Whether an error reading an object means the object itself is damaged (as opposed to a
/// failure to reach it, which must stop the repair rather than drop a good object).
fn is_damage(error: &RepoError) -> bool {
    matches!(error.kind(), ErrorKind::Corrupt | ErrorKind::Other)
}

/// What is wrong with a damaged object, without the object's name (the caller names it).
pub(super) fn damage_reason(error: RepoError) -> String {
    match error {
        RepoError::Corrupt { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Whether an index entry accounts for exactly `size` bytes: its blobs, the sealed header
/// they imply and the trailer.
fn describes_size(pack: &IndexPack, size: u64) -> bool {
    let summary = PackSummary {
        id: pack.id,
        blob_type: pack.blobs.first().map_or(BlobType::Data, |b| b.blob_type),
        blobs: pack.blobs.len() as u32,
        compressed_blobs: pack
            .blobs
            .iter()
            .filter(|b| b.uncompressed_length.is_some())
            .count() as u32,
        blob_bytes: pack.blobs.iter().map(|b| u64::from(b.length)).sum(),
    };
    !pack.blobs.is_empty() && summary.expected_size() == size
}

/// Whether two entries for one pack list the same blobs at the same places (in any order).
fn same_entries(a: &IndexPack, b: &IndexPack) -> bool {
    let key = |blob: &IndexBlob| {
        (
            blob.offset,
            blob.length,
            blob.id,
            blob.blob_type == BlobType::Tree,
            blob.uncompressed_length,
        )
    };
    let mut left: Vec<_> = a.blobs.iter().map(key).collect();
    let mut right: Vec<_> = b.blobs.iter().map(key).collect();
    left.sort();
    right.sort();
    left == right
}

/// Groups packs into index files of at most [`INDEX_BLOBS_MAX`] blobs (a pack is never split).
fn split_into_files(packs: Vec<IndexPack>) -> Vec<Vec<IndexPack>> {
    let mut files: Vec<Vec<IndexPack>> = Vec::new();
    let mut current: Vec<IndexPack> = Vec::new();
    let mut blobs = 0;
    for pack in packs {
        if !current.is_empty() && blobs + pack.blobs.len() > INDEX_BLOBS_MAX {
            files.push(std::mem::take(&mut current));
            blobs = 0;
        }
        blobs += pack.blobs.len();
        current.push(pack);
    }
    if !current.is_empty() {
        files.push(current);
    }
    files
}

enum HeaderRead {
    Blobs(Vec<PackBlob>),
    Damaged(String),
    Gone,
}

/// Reads the headers of `packs` in parallel. Fails only on errors that say nothing about the
/// packs themselves (a store that cannot be reached); damage is reported per pack.
fn read_headers(repo: &Repository, packs: &[(Id, u64)]) -> Result<HashMap<Id, HeaderRead>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(HashMap::with_capacity(packs.len()));
    let failure: Mutex<Option<RepoError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..HEADER_READERS.min(packs.len()) {
            scope.spawn(|| loop {
                if failure.lock().expect("failure").is_some() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((id, size)) = packs.get(i) else {
                    break;
                };
                let read = match read_pack_header(repo, id, *size) {
                    Ok(blobs) if blobs.is_empty() => {
                        HeaderRead::Damaged("its header lists no blobs".to_string())
                    }
                    Ok(blobs) => HeaderRead::Blobs(blobs),
                    Err(e) if e.kind() == ErrorKind::NotFound => HeaderRead::Gone,
                    Err(e) if is_damage(&e) => HeaderRead::Damaged(damage_reason(e)),
                    Err(e) => {
                        failure.lock().expect("failure").get_or_insert(e);
                        break;
                    }
                };
                results.lock().expect("headers").insert(*id, read);
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("failure") {
        return Err(e);
    }
    Ok(results.into_inner().expect("headers"))
}

/// The blobs a pack's header lists, from the tail of the pack, or from the whole pack when the
/// tail cannot be used.
fn read_pack_header(repo: &Repository, pack: &Id, size: u64) -> Result<Vec<PackBlob>> {
    match read_header_from_tail(repo, pack, size) {
        Ok(blobs) => Ok(blobs),
        Err(tail_error) if tail_error.kind() == ErrorKind::Corrupt => {
            let bytes = repo.storage().get(FileKind::Pack, &pack.to_hex())?;
            parse_pack(repo.key(), pack, &bytes)
        }
        Err(e) => Err(e),
    }
}

fn read_header_from_tail(repo: &Repository, pack: &Id, size: u64) -> Result<Vec<PackBlob>> {
    let object = || format!("pack {pack}");
    let name = pack.to_hex();
    let overhead = cairn_crypto::OVERHEAD as u64;
    if size < TRAILER_LEN as u64 + overhead {
        return Err(RepoError::corrupt(
            object(),
            format!("only {size} bytes long, too short for a header"),
        ));
    }
    let trailer: [u8; TRAILER_LEN] = repo
        .storage()
        .get_range(
            FileKind::Pack,
            &name,
            size - TRAILER_LEN as u64,
            TRAILER_LEN as u64,
        )?
        .try_into()
        .map_err(|_| RepoError::corrupt(object(), "the store returned a short trailer"))?;
    let (start, length) = header_span(size, trailer)
        .filter(|(_, length)| *length >= overhead)
        .ok_or_else(|| {
            RepoError::corrupt(
                object(),
                format!(
                    "its trailer gives a header length of {} bytes, impossible in a pack of {size}",
                    u32::from_le_bytes(trailer)
                ),
            )
        })?;
    let sealed = repo
        .storage()
        .get_range(FileKind::Pack, &name, start, length)?;
    let plaintext = repo
        .key()
        .open(&sealed)
        .map_err(|e| RepoError::corrupt(object(), format!("header: {e}")))?;
    decode_header(&plaintext, start).map_err(|e| RepoError::corrupt(object(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use cairn_storage::{MemoryStore, Storage};

    use super::*;
    use crate::blob_codec::{BlobEncoder, Compression};
    use crate::blob_writer::{BlobWriter, WriterOptions};
    use crate::index::Index;
    use crate::repair::test_support::{random_bytes, repo};

    /// Stores `count` distinct 16 KiB blobs (starting at `first`) in 64 KiB packs, one index
    /// file.
    fn write_blobs(repo: &Repository, first: u32, count: u32) {
        let index = Index::load_strict(repo).unwrap();
        let options = WriterOptions {
            pack_size: 64 << 10,
            upload_threads: Some(1),
            ..WriterOptions::default()
        };
        let writer = BlobWriter::new(repo, &index, &options);
        let mut encoder = BlobEncoder::new(Compression::Auto, true);
        for i in first..first + count {
            let data = random_bytes(u64::from(i), 16 << 10);
            writer
                .save(&mut encoder, BlobType::Data, Id::hash(&data), &data)
                .unwrap();
        }
        writer.finish().unwrap();
    }

    fn names(store: &MemoryStore, kind: FileKind) -> Vec<String> {
        let mut names: Vec<String> = store
            .list(kind)
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_healthy_index_is_left_alone_overlaps_are_merged_and_read_all_packs_rewrites_it() {
        let (store, repo) = repo();
        write_blobs(&repo, 0, 20);
        write_blobs(&repo, 20, 20);
        let before = Index::load_strict(&repo).unwrap();
        let files_before = names(&store, FileKind::Index);

        let summary = repair_index(&repo, &RepairIndexOptions::default()).unwrap();
        assert_eq!(summary.packs_read, 0, "{summary:?}");
        assert!(!summary.changed(), "{summary:?}");
        assert_eq!(names(&store, FileKind::Index), files_before);

        // An index file listing the same packs again (as a killed prune or repair leaves
        // them) is merged away.
        let first = files_before[0].parse::<Id>().unwrap();
        let json = repo.load_unpacked(FileKind::Index, &first).unwrap();
        repo.save_unpacked(FileKind::Index, &json).unwrap();
        let summary = repair_index(&repo, &RepairIndexOptions::default()).unwrap();
        assert!(summary.packs_listed_twice > 0, "{summary:?}");
        assert_eq!(summary.packs_read, 0, "{summary:?}");
        assert_eq!(summary.index_files_written.len(), 1, "{summary:?}");
        assert_eq!(summary.index_files_deleted.len(), files_before.len() + 1);
        assert!(!repair_index(&repo, &RepairIndexOptions::default())
            .unwrap()
            .changed());

        let files_before = names(&store, FileKind::Index);
        let summary = repair_index(
            &repo,
            &RepairIndexOptions {
                read_all_packs: true,
            },
        )
        .unwrap();
        assert_eq!(summary.packs_read, summary.packs, "{summary:?}");
        assert!(summary.packs_added.is_empty() && summary.packs_corrected.is_empty());
        assert_eq!(summary.index_files_deleted.len(), files_before.len());
        let after = Index::load_strict(&repo).unwrap();
        assert_eq!(after.blob_count(), before.blob_count());
        for (id, location) in before.blobs() {
            assert_eq!(after.lookup(location.blob_type, &id), Some(location));
        }
    }

    #[test]
    fn lost_and_damaged_index_files_are_rebuilt_from_pack_headers() {
        let (store, repo) = repo();
        write_blobs(&repo, 0, 20);
        write_blobs(&repo, 20, 20);
        let before = Index::load_strict(&repo).unwrap();
        let files = names(&store, FileKind::Index);
        assert_eq!(files.len(), 2);
        store.remove(FileKind::Index, &files[0]).unwrap();
        let mut damaged = store.get(FileKind::Index, &files[1]).unwrap();
        damaged[20] ^= 1;
        store.put(FileKind::Index, &files[1], &damaged).unwrap();

        let summary = repair_index(&repo, &RepairIndexOptions::default()).unwrap();
        assert_eq!(summary.damaged_index_files.len(), 1, "{summary:?}");
        assert_eq!(summary.packs_added.len() as u64, summary.packs);
        assert!(summary.damaged_packs.is_empty());
        assert_eq!(
            names(&store, FileKind::Index),
            summary
                .index_files_written
                .iter()
                .map(Id::to_hex)
                .collect::<Vec<_>>()
        );
        let after = Index::load_strict(&repo).unwrap();
        assert_eq!(after.blob_count(), before.blob_count());
        for (id, location) in before.blobs() {
            assert_eq!(after.lookup(location.blob_type, &id), Some(location));
        }
        // Done once, there is nothing left to do.
        assert!(!repair_index(&repo, &RepairIndexOptions::default())
            .unwrap()
            .changed());
    }

    #[test]
    fn missing_packs_leave_the_index_and_unreadable_ones_are_named_and_left_out() {
        let (store, repo) = repo();
        write_blobs(&repo, 0, 30);
        let packs = names(&store, FileKind::Pack);
        assert!(packs.len() >= 4, "{packs:?}");
        store.remove(FileKind::Pack, &packs[0]).unwrap();
        // Cut the trailer and part of the header off the second pack.
        let bytes = store.get(FileKind::Pack, &packs[1]).unwrap();
        store
            .put(FileKind::Pack, &packs[1], &bytes[..bytes.len() - 10])
            .unwrap();
        // Garble the sealed header of the third (its size stays right: only reading shows it).
        let mut bytes = store.get(FileKind::Pack, &packs[2]).unwrap();
        let at = bytes.len() - 8;
        bytes[at] ^= 0xff;
        store.put(FileKind::Pack, &packs[2], &bytes).unwrap();

        let summary = repair_index(&repo, &RepairIndexOptions::default()).unwrap();
        assert_eq!(
            summary.packs_removed,
            vec![packs[0].parse::<Id>().unwrap()],
            "{summary:?}"
        );
        assert_eq!(
            summary.packs_read, 1,
            "only the cut pack looks wrong: {summary:?}"
        );
        let damaged: Vec<String> = summary
            .damaged_packs
            .iter()
            .map(|d| d.id.to_hex())
            .collect();
        assert_eq!(damaged, vec![packs[1].clone()], "{summary:?}");
        assert_eq!(summary.packs_lost, 2, "{summary:?}");
        let index = Index::load_strict(&repo).unwrap();
        assert!(!index.contains_pack(&packs[0].parse().unwrap()));
        assert!(!index.contains_pack(&packs[1].parse().unwrap()));
        assert!(index.contains_pack(&packs[2].parse().unwrap()));

        let summary = repair_index(
            &repo,
            &RepairIndexOptions {
                read_all_packs: true,
            },
        )
        .unwrap();
        let damaged: Vec<String> = summary
            .damaged_packs
            .iter()
            .map(|d| d.id.to_hex())
            .collect();
        assert_eq!(
            damaged,
            vec![packs[1].clone(), packs[2].clone()],
            "{summary:?}"
        );
        assert!(
            summary.damaged_packs[1].reason.contains("header"),
            "{summary:?}"
        );
        assert_eq!(
            summary.packs_lost, 1,
            "only the garbled pack was still indexed"
        );
        let index = Index::load_strict(&repo).unwrap();
        assert!(!index.contains_pack(&packs[2].parse().unwrap()));
        assert_eq!(index.packs().len(), packs.len() - 3);
    }
}

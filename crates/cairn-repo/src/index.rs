//! The in-memory index: where every blob is stored.
//!
//! Built from all index files of a repository. A blob listed in several packs (after
//! concurrent backups, or an interrupted prune) keeps its first location; all locations are
//! valid. Memory per blob is one map entry of 32 (key) + 16 (location) bytes plus the map's
//! overhead, about 56 bytes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cairn_format::{BlobType, Id, IndexFile, IndexPack};
use cairn_storage::FileKind;

use crate::id_hasher::IdMap;
use crate::{RepoError, Repository, Result};

/// Where one blob is: its pack and byte range, and its plaintext length when compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    pub blob_type: BlobType,
    pub pack: Id,
    pub offset: u32,
    pub length: u32,
    pub uncompressed_length: Option<u32>,
}

impl BlobLocation {
    /// Length of the plaintext (after decryption and decompression).
    pub fn plaintext_len(&self) -> u32 {
        self.uncompressed_length
            .unwrap_or(self.length.saturating_sub(cairn_crypto::OVERHEAD as u32))
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    pack: u32,
    offset: u32,
    length: u32,
    /// 0 when the blob is not compressed (a compressed blob always has a non-empty plaintext
    /// header, so 0 never means a real length).
    uncompressed_length: u32,
}

/// What the index says about one pack: enough to compute the size the pack must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackSummary {
    pub id: Id,
    pub blob_type: BlobType,
    pub blobs: u32,
    pub compressed_blobs: u32,
    /// Sum of the stored lengths of its blobs.
    pub blob_bytes: u64,
}

impl PackSummary {
    /// The size the pack file must have: blobs, sealed header, 4-byte trailer.
    pub fn expected_size(&self) -> u64 {
        let header_plaintext = u64::from(self.blobs) * cairn_format::pack::ENTRY_LEN as u64
            + u64::from(self.compressed_blobs) * 4;
        self.blob_bytes
            + header_plaintext
            + cairn_crypto::OVERHEAD as u64
            + cairn_format::pack::TRAILER_LEN as u64
    }
}

#[derive(Default)]
pub struct Index {
    packs: Vec<PackSummary>,
    pack_numbers: IdMap<Id, u32>,
    data: IdMap<Id, Entry>,
    tree: IdMap<Id, Entry>,
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// Loads every index file; fails on the first one that cannot be read, naming it. For
    /// operations that delete data (prune), where a skipped index file could make used packs
    /// look unused.
    pub fn load_strict(repo: &Repository) -> Result<Index> {
        let mut index = Index::new();
        for (_, file) in load_index_files(repo)? {
            for pack in &file?.packs {
                index.add_pack(pack);
            }
        }
        index.prune_cache(repo);
        Ok(index)
    }

    /// Loads every index file, leaving out damaged ones with a warning. Reading, restoring and
    /// backing up stay possible with a damaged index file: blobs only it listed are reported
    /// missing where needed (and re-stored by a backup), everything else works. A file that
    /// cannot be fetched at all (store unreachable, timeout after retries) fails the load: an
    /// index silently missing files would make a backup store blobs again, or a restore report
    /// data missing that is not.
    pub fn load(repo: &Repository) -> Result<Index> {
        let mut index = Index::new();
        for (id, file) in load_index_files(repo)? {
            match file {
                Ok(file) => {
                    for pack in &file.packs {
                        index.add_pack(pack);
                    }
                }
                Err(e) if e.is_damage() => tracing::warn!(
                    "skipping index {id}: {e}; run `cairn check` to see what it affects"
                ),
                Err(e) => return Err(e),
            }
        }
        index.prune_cache(repo);
        Ok(index)
    }

    /// Drops cached packs no index names any more (pruned here or on another host).
    fn prune_cache(&self, repo: &Repository) {
        if let Some(cache) = repo.cache() {
            cache.retain(FileKind::Pack, |id| self.contains_pack(id));
        }
    }

    /// Adds the blobs of one pack. A pack already known is not counted twice.
    pub fn add_pack(&mut self, pack: &IndexPack) {
        if self.pack_numbers.contains_key(&pack.id) {
            // The same pack listed by two index files: its blobs are already here.
            return;
        }
        let number = self.packs.len() as u32;
        let mut summary = PackSummary {
            id: pack.id,
            blob_type: pack.blobs.first().map_or(BlobType::Data, |b| b.blob_type),
            blobs: 0,
            compressed_blobs: 0,
            blob_bytes: 0,
        };
        for blob in &pack.blobs {
            summary.blobs += 1;
            summary.compressed_blobs += u32::from(blob.uncompressed_length.is_some());
            summary.blob_bytes += u64::from(blob.length);
            let entry = Entry {
                pack: number,
                offset: blob.offset,
                length: blob.length,
                uncompressed_length: blob.uncompressed_length.unwrap_or(0),
            };
            let map = match blob.blob_type {
                BlobType::Data => &mut self.data,
                BlobType::Tree => &mut self.tree,
            };
            map.entry(blob.id).or_insert(entry);
        }
        self.packs.push(summary);
        self.pack_numbers.insert(pack.id, number);
    }

    pub fn lookup(&self, blob_type: BlobType, id: &Id) -> Option<BlobLocation> {
        let map = match blob_type {
            BlobType::Data => &self.data,
            BlobType::Tree => &self.tree,
        };
        map.get(id).map(|e| self.location(blob_type, e))
    }

    fn location(&self, blob_type: BlobType, e: &Entry) -> BlobLocation {
        BlobLocation {
            blob_type,
            pack: self.packs[e.pack as usize].id,
            offset: e.offset,
            length: e.length,
            uncompressed_length: (e.uncompressed_length != 0).then_some(e.uncompressed_length),
        }
    }

    pub fn contains(&self, blob_type: BlobType, id: &Id) -> bool {
        match blob_type {
            BlobType::Data => self.data.contains_key(id),
            BlobType::Tree => self.tree.contains_key(id),
        }
    }

    pub fn packs(&self) -> &[PackSummary] {
        &self.packs
    }

    pub fn contains_pack(&self, id: &Id) -> bool {
        self.pack_numbers.contains_key(id)
    }

    pub fn blob_count(&self) -> usize {
        self.data.len() + self.tree.len()
    }

    /// Every indexed blob with its location.
    pub fn blobs(&self) -> impl Iterator<Item = (Id, BlobLocation)> + '_ {
        let data = self
            .data
            .iter()
            .map(|(id, e)| (*id, self.location(BlobType::Data, e)));
        let tree = self
            .tree
            .iter()
            .map(|(id, e)| (*id, self.location(BlobType::Tree, e)));
        data.chain(tree)
    }
}

/// Threads that fetch and decrypt index files at once; enough to hide storage latency.
const INDEX_LOADERS: usize = 4;

/// Reads and decodes every index file, in parallel. Damage to a file (bytes that fail
/// authentication or do not parse) is returned beside its id, so that `check` can report all
/// of them; a failure to list or to fetch any file is an error of the whole call, never a file
/// quietly missing from the result.
pub fn load_index_files(repo: &Repository) -> Result<Vec<(Id, Result<IndexFile>)>> {
    let ids: Vec<Id> = repo
        .list_ids(FileKind::Index)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    load_index_files_of(repo, &ids)
}

/// Like [`load_index_files`], for index files the caller has listed already (the mirror needs
/// the set of one listing taken at a known moment).
pub fn load_index_files_of(repo: &Repository, ids: &[Id]) -> Result<Vec<(Id, Result<IndexFile>)>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(ids.len()));
    std::thread::scope(|scope| {
        for _ in 0..INDEX_LOADERS.min(ids.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { break };
                let file = repo.load_unpacked(FileKind::Index, id).and_then(|json| {
                    IndexFile::from_json(&json)
                        .map_err(|e| RepoError::corrupt(format!("index {id}"), e.to_string()))
                });
                results.lock().expect("index results").push((*id, file));
            });
        }
    });
    let mut results = results.into_inner().expect("index results");
    if let Some(position) = results
        .iter()
        .position(|(_, file)| file.as_ref().is_err_and(|e| !e.is_damage()))
    {
        if let (_, Err(e)) = results.swap_remove(position) {
            return Err(e);
        }
    }
    results.sort_by_key(|(id, _)| *id);
    Ok(results)
}

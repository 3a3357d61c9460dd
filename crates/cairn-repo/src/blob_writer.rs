//! Writing new blobs: deduplication, pack assembly, upload, and the index files that name the
//! packs.
//!
//! Ordering that protects data: a pack is stored (and, at the next commit point, synced) before
//! any index file names it, and `finish` returns only after the last index file is stored, so
//! the caller can then write the snapshot that refers to the blobs. A process killed at any
//! instant leaves at worst packs no index names, which `check` reports as unreferenced and
//! `prune` removes; never an index entry without its pack.
//!
//! Threads: any number of workers call [`BlobWriter::save`]; packs are assembled under one
//! mutex per blob type and handed, when full, to `upload_threads` uploader threads over a
//! bounded channel, so compression never waits for storage unless storage is the bottleneck.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_format::{BlobType, Id, IndexFile, IndexPack};
use cairn_storage::FileKind;
use crossbeam_channel::{Receiver, Sender};

use crate::blob_codec::BlobEncoder;
use crate::buffer_pool::BufferPool;
use crate::id_hasher::IdSet;
use crate::index::Index;
use crate::pack_builder::{FinishedPack, PackBody, PackBuilder};
use crate::{RepoError, Repository, Result};

/// restic's default pack size target.
pub const PACK_SIZE_DEFAULT: usize = 16 << 20;

/// An index file is written once this many blobs wait for one (restic's limit, which keeps
/// single index files small enough to load quickly).
const INDEX_BLOBS_MAX: usize = 50_000;

/// ... or once this much time has passed (the default of `WriterOptions::index_interval`), so
/// an interrupted long backup leaves its packs indexed and the next run deduplicates against
/// them.
pub const INDEX_INTERVAL_DEFAULT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub pack_size: usize,
    /// Threads storing packs; `None` asks the storage ([`cairn_storage::Storage::write_concurrency`]).
    pub upload_threads: Option<usize>,
    /// Assemble packs and count them, but store nothing (`--dry-run`).
    pub dry_run: bool,
    /// Write an index for the packs stored so far at least this often.
    pub index_interval: Duration,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            pack_size: PACK_SIZE_DEFAULT,
            upload_threads: None,
            dry_run: false,
            index_interval: INDEX_INTERVAL_DEFAULT,
        }
    }
}

/// What a writing session added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterSummary {
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// Plaintext bytes of the new blobs.
    pub plaintext_bytes: u64,
    /// Bytes stored: packs including headers.
    pub stored_bytes: u64,
    pub packs: u64,
    pub index_files: Vec<Id>,
}

struct UploadState {
    unindexed: Vec<IndexPack>,
    unindexed_blobs: usize,
    last_index: Instant,
    summary: WriterSummary,
    error: Option<RepoError>,
}

pub struct BlobWriter<'a> {
    repo: &'a Repository,
    known: &'a Index,
    /// Blobs this session has taken on, by type: a blob is compressed and stored by exactly one
    /// worker even when several files hold it at the same moment.
    reserved: [Mutex<IdSet<Id>>; 2],
    /// Packs being filled and not held by a worker, by type (data and tree blobs never share
    /// a pack). A worker takes one out, seals its blob into it and puts it back, so sealing,
    /// hashing and writing need no lock; concurrent workers fill separate packs. On a store
    /// with pending files packs are written as they fill, so an open pack costs no memory.
    open_packs: [Mutex<Vec<PackBuilder>>; 2],
    pack_size: usize,
    /// Pack buffers come back here after their upload, to be filled again.
    pool: Arc<BufferPool>,
    upload: Option<Sender<FinishedPack>>,
    uploaders: Vec<JoinHandle<()>>,
    state: Arc<Mutex<UploadState>>,
    dry_run: bool,
    /// Set when an upload fails, so workers stop early instead of filling more packs.
    failed: Arc<AtomicBool>,
}

fn slot(blob_type: BlobType) -> usize {
    match blob_type {
        BlobType::Data => 0,
        BlobType::Tree => 1,
    }
}

impl<'a> BlobWriter<'a> {
    pub fn new(repo: &'a Repository, known: &'a Index, options: &WriterOptions) -> BlobWriter<'a> {
        let threads = options
            .upload_threads
            .unwrap_or_else(|| repo.storage().write_concurrency())
            .max(1);
        // One finished pack may wait for an uploader; more would only hold memory while the
        // compressors are already filling the next one.
        let (sender, receiver) = crossbeam_channel::bounded::<FinishedPack>(1);
        // One idle buffer saves most page faults; more would only keep touched memory resident.
        let pool = Arc::new(BufferPool::new(1, 1 << 20));
        let state = Arc::new(Mutex::new(UploadState {
            unindexed: Vec::new(),
            unindexed_blobs: 0,
            last_index: Instant::now(),
            summary: WriterSummary::default(),
            error: None,
        }));
        let failed = Arc::new(AtomicBool::new(false));
        let uploaders = (0..threads)
            .map(|i| {
                let repo = repo.clone();
                let receiver = receiver.clone();
                let state = state.clone();
                let failed = failed.clone();
                let pool = pool.clone();
                let (dry_run, interval) = (options.dry_run, options.index_interval);
                std::thread::Builder::new()
                    .name(format!("cairn-upload-{i}"))
                    .spawn(move || {
                        let uploaded = |body: PackBody| {
                            if let PackBody::Memory(bytes) = body {
                                pool.give(bytes);
                            }
                        };
                        upload_loop(
                            &repo, &receiver, &state, &failed, dry_run, interval, &uploaded,
                        )
                    })
                    .expect("spawn uploader thread")
            })
            .collect();
        BlobWriter {
            repo,
            known,
            reserved: Default::default(),
            open_packs: Default::default(),
            pack_size: options.pack_size,
            pool,
            upload: Some(sender),
            uploaders,
            state,
            dry_run: options.dry_run,
            failed,
        }
    }

    /// Whether the blob is already stored or taken on by this session.
    pub fn is_known(&self, blob_type: BlobType, id: &Id) -> bool {
        self.known.contains(blob_type, id)
            || self.reserved[slot(blob_type)]
                .lock()
                .expect("reserved")
                .contains(id)
    }

    /// Takes on a blob: true when the caller must store it (with [`Self::store`]), false when
    /// it is already in the repository or another worker has it.
    pub fn reserve(&self, blob_type: BlobType, id: Id) -> bool {
        !self.known.contains(blob_type, &id)
            && self.reserved[slot(blob_type)]
                .lock()
                .expect("reserved")
                .insert(id)
    }

    /// Compresses, seals and adds a reserved blob to the open pack of its type.
    pub fn store(
        &self,
        encoder: &mut BlobEncoder,
        blob_type: BlobType,
        id: Id,
        plaintext: &[u8],
    ) -> Result<()> {
        self.check_failed()?;
        let (payload, uncompressed_length) = encoder.compress(plaintext);
        let taken = self.open_packs[slot(blob_type)]
            .lock()
            .expect("open packs")
            .pop();
        let mut pack = match taken {
            Some(pack) => pack,
            None => self.new_pack(blob_type)?,
        };
        pack.append_with(id, |out| {
            self.repo.key().seal_into(payload, out);
            uncompressed_length
        })?;
        if pack.len() >= self.pack_size {
            self.send(pack)?;
        } else {
            self.open_packs[slot(blob_type)]
                .lock()
                .expect("open packs")
                .push(pack);
        }
        Ok(())
    }

    /// A new pack: written straight into the store where it offers that (a local disk), else
    /// assembled in a pooled buffer.
    fn new_pack(&self, blob_type: BlobType) -> Result<PackBuilder> {
        if !self.dry_run {
            if let Some(file) = self.repo.storage().create_pending(FileKind::Pack)? {
                return Ok(PackBuilder::streaming(blob_type, file));
            }
        }
        let capacity = match blob_type {
            // A data pack ends with the blob that passes the target: up to one largest chunk
            // over it, plus header room.
            BlobType::Data => self.pack_size + (8 << 20) + 4096,
            BlobType::Tree => 1 << 20,
        };
        Ok(PackBuilder::with_buffer(
            blob_type,
            self.pool.take(capacity),
        ))
    }

    /// Stores a blob unless it is known; returns whether it was new.
    pub fn save(
        &self,
        encoder: &mut BlobEncoder,
        blob_type: BlobType,
        id: Id,
        plaintext: &[u8],
    ) -> Result<bool> {
        if !self.reserve(blob_type, id) {
            return Ok(false);
        }
        self.store(encoder, blob_type, id, plaintext)?;
        Ok(true)
    }

    fn send(&self, pack: PackBuilder) -> Result<()> {
        let finished = pack.finish(self.repo.key())?;
        let sender = self.upload.as_ref().expect("writer is open");
        if sender.send(finished).is_err() {
            // Every uploader has stopped, which happens only after an error.
            self.check_failed()?;
        }
        Ok(())
    }

    fn check_failed(&self) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            let mut state = self.state.lock().expect("upload state");
            return Err(state.error.take().unwrap_or(RepoError::Interrupted));
        }
        Ok(())
    }

    /// Stores the partly filled packs, waits for every upload, and writes the index for the
    /// packs not yet indexed. Returns what the session added.
    pub fn finish(mut self) -> Result<WriterSummary> {
        for blob_type in [BlobType::Data, BlobType::Tree] {
            let packs =
                std::mem::take(&mut *self.open_packs[slot(blob_type)].lock().expect("open packs"));
            for pack in packs.into_iter().filter(|p| !p.is_empty()) {
                if !self.failed.load(Ordering::Acquire) {
                    self.send(pack)?;
                }
            }
        }
        self.upload = None;
        for uploader in self.uploaders.drain(..) {
            uploader.join().expect("uploader thread panicked");
        }
        let mut state = self.state.lock().expect("upload state");
        if let Some(error) = state.error.take() {
            return Err(error);
        }
        if !self.dry_run {
            write_index(self.repo, &mut state)?;
        }
        Ok(std::mem::take(&mut state.summary))
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        // On an early return (error), stop the uploaders without writing an index: the packs
        // they stored stay unreferenced, which is safe.
        self.upload = None;
        for uploader in self.uploaders.drain(..) {
            let _ = uploader.join();
        }
    }
}

fn upload_loop(
    repo: &Repository,
    receiver: &Receiver<FinishedPack>,
    state: &Mutex<UploadState>,
    failed: &AtomicBool,
    dry_run: bool,
    index_interval: Duration,
    uploaded: &dyn Fn(PackBody),
) {
    for pack in receiver {
        if failed.load(Ordering::Acquire) {
            continue;
        }
        let FinishedPack {
            id,
            body,
            size,
            index,
            plaintext_bytes,
        } = pack;
        let name = id.to_hex();
        let (result, body) = match body {
            PackBody::Memory(bytes) if dry_run => (Ok(()), Some(PackBody::Memory(bytes))),
            PackBody::Memory(bytes) => {
                let result = repo.storage().put(FileKind::Pack, &name, &bytes);
                // Tree packs go into the cache as they are written: the next backup walks
                // these trees as its parent, and `ls` reads them.
                let is_tree = index.blobs.first().map(|b| b.blob_type) == Some(BlobType::Tree);
                if let (Ok(()), Some(cache), true) = (&result, repo.cache(), is_tree) {
                    cache.put_pack(&id, &bytes);
                }
                (result, Some(PackBody::Memory(bytes)))
            }
            PackBody::File(file) => (file.commit(&name), None),
        };
        if let Some(body) = body {
            uploaded(body);
        }
        let mut state = state.lock().expect("upload state");
        match result {
            Ok(()) => {
                let summary = &mut state.summary;
                summary.packs += 1;
                summary.stored_bytes += size;
                summary.plaintext_bytes += plaintext_bytes;
                let blobs = index.blobs.len();
                match index.blobs.first().map(|b| b.blob_type) {
                    Some(BlobType::Tree) => summary.tree_blobs += blobs as u64,
                    _ => summary.data_blobs += blobs as u64,
                }
                state.unindexed_blobs += blobs;
                state.unindexed.push(index);
                let index_due = state.unindexed_blobs >= INDEX_BLOBS_MAX
                    || state.last_index.elapsed() >= index_interval;
                // A dry run stores no packs, so it must never write an index naming them.
                if !dry_run && index_due {
                    if let Err(e) = write_index(repo, &mut state) {
                        state.error.get_or_insert(e);
                        failed.store(true, Ordering::Release);
                    }
                }
            }
            Err(e) => {
                state.error.get_or_insert(e.into());
                failed.store(true, Ordering::Release);
            }
        }
    }
}

/// Makes the stored packs durable, then writes one index file naming them.
fn write_index(repo: &Repository, state: &mut UploadState) -> Result<()> {
    state.last_index = Instant::now();
    if state.unindexed.is_empty() {
        return Ok(());
    }
    repo.storage().sync()?;
    let file = IndexFile {
        supersedes: Vec::new(),
        packs: std::mem::take(&mut state.unindexed),
        unknown_fields: Default::default(),
    };
    let id = repo.save_unpacked(FileKind::Index, &file.to_json())?;
    state.unindexed_blobs = 0;
    state.summary.index_files.push(id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_storage::{MemoryStore, Storage};

    use super::*;
    use crate::blob_codec::Compression;
    use crate::keys::KeyOptions;

    fn repo() -> (Arc<MemoryStore>, Repository) {
        let store = Arc::new(MemoryStore::new());
        let options = KeyOptions {
            kdf: Some(cairn_crypto::KdfParams {
                n: 1024,
                r: 8,
                p: 1,
            }),
            ..KeyOptions::default()
        };
        let repo = Repository::init(store.clone(), b"pw", &options).unwrap();
        (store, repo)
    }

    /// Saves `count` distinct 64 KiB blobs with 256 KiB packs and an index interval of zero.
    fn write_blobs(repo: &Repository, dry_run: bool, count: u32) -> WriterSummary {
        let index = Index::new();
        let options = WriterOptions {
            pack_size: 256 << 10,
            upload_threads: Some(2),
            dry_run,
            index_interval: Duration::ZERO,
        };
        let writer = BlobWriter::new(repo, &index, &options);
        let mut encoder = BlobEncoder::new(Compression::Off, true);
        for i in 0..count {
            let data = vec![i as u8; 64 << 10];
            let id = Id::hash(&data);
            assert!(writer
                .save(&mut encoder, BlobType::Data, id, &data)
                .unwrap());
            assert!(
                !writer
                    .save(&mut encoder, BlobType::Data, id, &data)
                    .unwrap(),
                "a repeated blob is stored once"
            );
        }
        writer.finish().unwrap()
    }

    #[test]
    fn packs_are_indexed_as_they_are_stored_and_every_pack_is_in_an_index() {
        let (store, repo) = repo();
        let summary = write_blobs(&repo, false, 20);
        assert_eq!(summary.data_blobs, 20);
        assert!(summary.packs >= 4, "{summary:?}");
        assert!(
            summary.index_files.len() >= 2,
            "an interval of zero indexes packs as they land: {summary:?}"
        );
        let index = Index::load_strict(&repo).unwrap();
        assert_eq!(index.blob_count(), 20);
        assert_eq!(index.packs().len() as u64, summary.packs);
        assert_eq!(
            store.list(FileKind::Pack).unwrap().len() as u64,
            summary.packs
        );
    }

    #[test]
    fn a_dry_run_stores_no_pack_and_writes_no_index_however_long_it_runs() {
        let (store, repo) = repo();
        let summary = write_blobs(&repo, true, 20);
        assert!(
            summary.packs >= 4,
            "a dry run still counts packs: {summary:?}"
        );
        assert!(summary.index_files.is_empty());
        assert!(store.list(FileKind::Pack).unwrap().is_empty());
        assert!(store.list(FileKind::Index).unwrap().is_empty());
    }
}

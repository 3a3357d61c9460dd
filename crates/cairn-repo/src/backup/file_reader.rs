//! Readers and compressors: file content into chunks, chunks into packs.
//!
//! A reader reads a file in blocks of `READ_BLOCK` bytes into the buffer of the chunk being
//! formed, asks the chunker where the chunk ends, hashes each finished chunk and passes the
//! ones the repository lacks to the compressors. Chunk buffers move between threads without
//! copies except the tail of a block that belongs to the next chunk.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use cairn_chunker::{Chunker, ChunkerTables};
use cairn_format::{BlobType, Id};
use crossbeam_channel::{Receiver, Sender};

use super::progress::Report;
use super::streams::StreamSource;
use super::{Abort, Counters, FileStatus};
use crate::blob_codec::{BlobEncoder, Compression};
use crate::blob_writer::BlobWriter;
use crate::buffer_pool::BufferPool;
use crate::RepoError;

/// How much one read asks for. Large reads keep syscalls few; 1 MiB is below the average chunk
/// so the tail copied into the next chunk's buffer stays small.
const READ_BLOCK: usize = 1 << 20;
/// The read buffer chunks are sliced from. Larger means fewer chunks straddle two buffers (the
/// straddling part is copied); smaller means less memory pinned by chunks in flight. At 4 MiB
/// about a fifth of the bytes are copied once, a few tens of milliseconds per gigabyte.
const READ_BUFFER: usize = 4 << 20;

/// Idle read buffers kept for reuse (16 MiB). Buffers pinned by chunks in flight are on top;
/// more idle ones would only keep touched memory resident.
pub(crate) const READ_BUFFERS_KEPT: usize = 4;

/// A pool of read buffers for one backup.
pub(crate) fn read_buffer_pool() -> Arc<BufferPool> {
    Arc::new(BufferPool::new(READ_BUFFERS_KEPT, READ_BUFFER))
}

/// A file to read, and where to send its content list.
pub(crate) struct FileJob {
    /// The file's path; for a stream, its path in the snapshot.
    pub path: PathBuf,
    /// Read from here instead of opening `path` (a database dump).
    pub stream: Option<Box<dyn StreamSource>>,
    /// Size from lstat, to size the first buffer of small files.
    pub size: u64,
    pub status: FileStatus,
    pub result: Sender<FileResult>,
}

/// The blobs of a file in order and the bytes read; `Err` when the file could not be read
/// (already reported).
pub(crate) type FileResult = std::result::Result<FileContent, ()>;

pub(crate) struct FileContent {
    pub blobs: Vec<Id>,
    pub size: u64,
}

/// A blob for the compressors.
pub(crate) struct ChunkJob {
    pub blob_type: BlobType,
    pub id: Id,
    pub data: Bytes,
}

/// What every reader shares.
pub(crate) struct Readers<'a> {
    pub writer: &'a BlobWriter<'a>,
    pub tables: &'a ChunkerTables,
    pub pool: &'a Arc<BufferPool>,
    pub report: &'a Report<'a>,
    pub counters: &'a Counters,
    pub abort: &'a Abort,
}

pub(crate) fn reader_loop(jobs: Receiver<FileJob>, chunks: Sender<ChunkJob>, shared: &Readers<'_>) {
    let Readers {
        writer,
        tables,
        pool,
        report,
        counters,
        abort,
    } = *shared;
    let mut chunker = Chunker::new(tables);
    for mut job in jobs {
        if abort.is_set() {
            let _ = job.result.send(Err(()));
            continue;
        }
        report.file_started(&job.path);
        let stream = job.stream.take();
        let is_stream = stream.is_some();
        let result = match stream {
            Some(source) => read_stream(
                &job,
                source,
                &mut chunker,
                pool,
                &chunks,
                writer,
                report,
                abort,
            ),
            None => {
                let opened = open_for_reading(&job.path).map_err(ReadFailure::Io);
                opened.and_then(|file| {
                    read_fd(
                        &job,
                        &file,
                        &mut chunker,
                        pool,
                        &chunks,
                        writer,
                        report,
                        abort,
                    )
                })
            }
        };
        let result = match result {
            Ok(content) => {
                counters.file(job.status);
                counters
                    .bytes_processed
                    .fetch_add(content.size, Ordering::Relaxed);
                report.file_done();
                Ok(content)
            }
            // A stream that cannot be read ends the backup: a snapshot without its dump
            // would look like a good one.
            Err(ReadFailure::Io(e)) if is_stream => {
                abort.fail(RepoError::StreamFailed {
                    path: job.path.display().to_string(),
                    reason: format!("reading it failed: {e}"),
                });
                Err(())
            }
            Err(ReadFailure::Io(e)) => {
                counters.error(report, &job.path, e.to_string());
                Err(())
            }
            Err(ReadFailure::Aborted) => Err(()),
        };
        let _ = job.result.send(result);
    }
}

enum ReadFailure {
    Io(io::Error),
    Aborted,
}

impl From<io::Error> for ReadFailure {
    fn from(e: io::Error) -> ReadFailure {
        ReadFailure::Io(e)
    }
}

/// Opens without updating the access time where the kernel allows it (owner or root), as
/// restic does, so a backup does not disturb atime-based tools.
fn open_for_reading(path: &Path) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME | libc::O_NOFOLLOW)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path),
        other => other,
    }
}

/// Reads a stream to its end, then asks its source whether it is complete; a source that says
/// no fails the backup.
#[allow(clippy::too_many_arguments)]
fn read_stream(
    job: &FileJob,
    mut source: Box<dyn StreamSource>,
    chunker: &mut Chunker<'_>,
    pool: &Arc<BufferPool>,
    chunks: &Sender<ChunkJob>,
    writer: &BlobWriter<'_>,
    report: &Report<'_>,
    abort: &Abort,
) -> std::result::Result<FileContent, ReadFailure> {
    let fd = source.open()?;
    let read = read_fd(job, &fd, chunker, pool, chunks, writer, report, abort);
    drop(fd);
    // The producer is waited for even after a failed read, so no process is left behind.
    let finished = source.finish();
    let content = read?;
    if let Err(reason) = finished {
        abort.fail(RepoError::StreamFailed {
            path: job.path.display().to_string(),
            reason,
        });
        return Err(ReadFailure::Aborted);
    }
    Ok(content)
}

#[allow(clippy::too_many_arguments)]
fn read_fd(
    job: &FileJob,
    file: &dyn AsRawFd,
    chunker: &mut Chunker<'_>,
    pool: &Arc<BufferPool>,
    chunks: &Sender<ChunkJob>,
    writer: &BlobWriter<'_>,
    report: &Report<'_>,
    abort: &Abort,
) -> std::result::Result<FileContent, ReadFailure> {
    let mut source = ChunkSource::new(file, chunker, pool, job.size);
    let mut blobs = Vec::new();
    while let Some(chunk) = source.next_chunk(report)? {
        if abort.is_set() {
            return Err(ReadFailure::Aborted);
        }
        let id = Id::hash(&chunk);
        blobs.push(id);
        if writer.reserve(BlobType::Data, id) {
            let job = ChunkJob {
                blob_type: BlobType::Data,
                id,
                data: chunk,
            };
            chunks.send(job).map_err(|_| ReadFailure::Aborted)?;
        }
    }
    Ok(FileContent {
        blobs,
        size: source.total,
    })
}

/// A read buffer that goes back to its pool when the last chunk sliced from it is dropped.
struct PooledBuffer {
    data: Vec<u8>,
    pool: Option<Arc<BufferPool>>,
}

impl AsRef<[u8]> for PooledBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.give(std::mem::take(&mut self.data));
        }
    }
}

/// Splits a stream into chunks without copying them.
///
/// A read buffer is filled, frozen, and chunks are sliced out of it as `Bytes` sharing its
/// memory; only the unfinished chunk at its end is copied into the next buffer. Buffers come
/// from a pool and return to it when their last chunk has been stored, so a backup neither
/// copies its data nor makes the kernel fault in fresh memory for every buffer.
pub(crate) struct ChunkSource<'r, 'c, 't, R: AsRawFd + ?Sized> {
    reader: &'r R,
    chunker: &'c mut Chunker<'t>,
    pool: Arc<BufferPool>,
    /// The buffer being filled; it holds the start of the unfinished chunk.
    filling: Vec<u8>,
    /// Whether `filling` came from the pool (small files get a buffer of their own).
    pooled: bool,
    /// The filled buffer chunks are sliced from.
    frozen: Option<Bytes>,
    /// In `frozen`: where the unfinished chunk starts, and how far the chunker has looked.
    start: usize,
    scanned: usize,
    eof: bool,
    /// The last chunk has been handed out.
    finished: bool,
    pub total: u64,
}

impl<'r, 'c, 't, R: AsRawFd + ?Sized> ChunkSource<'r, 'c, 't, R> {
    pub(crate) fn new(
        reader: &'r R,
        chunker: &'c mut Chunker<'t>,
        pool: &Arc<BufferPool>,
        size_hint: u64,
    ) -> Self {
        chunker.reset();
        // A small file gets a buffer of its own size (one more byte to see EOF without
        // another buffer), so 20,000 small files do not each take a pooled buffer.
        let wanted = (size_hint as usize).saturating_add(1);
        let (filling, pooled) = if wanted < READ_BUFFER {
            (Vec::with_capacity(wanted), false)
        } else {
            (pool.take(READ_BUFFER), true)
        };
        ChunkSource {
            reader,
            chunker,
            pool: pool.clone(),
            filling,
            pooled,
            frozen: None,
            start: 0,
            scanned: 0,
            eof: false,
            finished: false,
            total: 0,
        }
    }

    /// The next chunk, or `None` at the end of the stream. An empty stream has no chunks.
    pub(crate) fn next_chunk(&mut self, report: &Report<'_>) -> io::Result<Option<Bytes>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if let Some(frozen) = &self.frozen {
                if self.scanned < frozen.len() {
                    if let Some(cut) = self.chunker.next_boundary(&frozen[self.scanned..]) {
                        let end = self.scanned + cut;
                        let chunk = frozen.slice(self.start..end);
                        (self.start, self.scanned) = (end, end);
                        return Ok(Some(chunk));
                    }
                    self.scanned = frozen.len();
                }
                let frozen = self.frozen.take().expect("checked above");
                if self.eof {
                    self.finished = true;
                    let rest = frozen.slice(self.start..);
                    return Ok((!rest.is_empty()).then_some(rest));
                }
                // Move the unfinished chunk to the front of a fresh buffer and read on.
                let tail = &frozen[self.start..];
                let mut next = self.pool.take(READ_BUFFER.max(tail.len() + READ_BLOCK));
                next.extend_from_slice(tail);
                (self.filling, self.pooled) = (next, true);
                (self.start, self.scanned) = (0, tail.len());
            }
            while !self.eof && self.filling.len() < self.filling.capacity() {
                let want = (self.filling.capacity() - self.filling.len()).min(READ_BLOCK);
                let read = read_into_spare(self.reader, &mut self.filling, want)?;
                if read == 0 {
                    self.eof = true;
                } else {
                    self.total += read as u64;
                    report.bytes_done(read as u64);
                }
            }
            let owner = PooledBuffer {
                data: std::mem::take(&mut self.filling),
                pool: self.pooled.then(|| self.pool.clone()),
            };
            self.frozen = Some(Bytes::from_owner(owner));
        }
    }
}

/// Reads up to `want` bytes from the descriptor straight into the buffer's spare capacity,
/// without zero-filling it first (zero-filling freshly allocated buffers cost more than a
/// copy). Retries on EINTR; returns 0 at end of input.
fn read_into_spare<R: AsRawFd + ?Sized>(
    reader: &R,
    buffer: &mut Vec<u8>,
    want: usize,
) -> io::Result<usize> {
    let spare = buffer.spare_capacity_mut();
    let want = want.min(spare.len());
    loop {
        // SAFETY: `spare` is writable memory of at least `want` bytes owned by `buffer`; read(2)
        // writes at most `want` bytes into it and reads nothing from it.
        let n = unsafe { libc::read(reader.as_raw_fd(), spare.as_mut_ptr().cast(), want) };
        if n >= 0 {
            let n = n as usize;
            // SAFETY: the kernel initialised the first `n` bytes of the spare capacity.
            unsafe { buffer.set_len(buffer.len() + n) };
            return Ok(n);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

pub(crate) fn compress_loop(
    chunks: Receiver<ChunkJob>,
    writer: &BlobWriter<'_>,
    (compression, supports_compression): (Compression, bool),
    abort: &Abort,
) {
    let mut encoder = BlobEncoder::new(compression, supports_compression);
    for job in chunks {
        if abort.is_set() {
            continue;
        }
        if let Err(e) = writer.store(&mut encoder, job.blob_type, job.id, &job.data) {
            abort.fail(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use cairn_chunker::{chunk_lengths, Polynomial};

    use super::*;
    use crate::backup::NoObserver;

    fn pseudo_random(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    /// Chunks a file through `ChunkSource` and checks the pieces against the chunker run on the
    /// whole input: same boundaries, same bytes, and nothing after the end.
    fn check(data: &[u8], size_hint: u64) {
        let tables = ChunkerTables::new(Polynomial(0x3DA3358B4DC173));
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(data).unwrap();
        use std::io::Seek;
        file.rewind().unwrap();
        let pool = read_buffer_pool();
        let mut chunker = Chunker::new(&tables);
        let mut source = ChunkSource::new(&file, &mut chunker, &pool, size_hint);
        let mut chunks = Vec::new();
        Report::with(&NoObserver, |report| {
            while let Some(chunk) = source.next_chunk(report).unwrap() {
                chunks.push(chunk);
            }
            assert!(
                source.next_chunk(report).unwrap().is_none(),
                "None stays None"
            );
        });
        assert_eq!(source.total, data.len() as u64);
        let lengths: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(
            lengths,
            chunk_lengths(&tables, data),
            "len {} hint {size_hint}",
            data.len()
        );
        assert_eq!(chunks.concat(), data);
    }

    #[test]
    fn chunks_match_the_chunker_over_buffer_boundaries() {
        for len in [
            0,
            1,
            100,
            512 << 10,
            READ_BUFFER - 1,
            READ_BUFFER,
            READ_BUFFER + 1,
            9 << 20,
            21 << 20,
        ] {
            let data = pseudo_random(len, len as u64 + 1);
            check(&data, len as u64);
            // A wrong size hint (the file grew or shrank since lstat) changes nothing.
            check(&data, 10);
            check(&data, 64 << 20);
        }
        // Low-entropy data cut only at the maximum chunk size.
        check(&vec![7u8; 20 << 20], 20 << 20);
    }
}

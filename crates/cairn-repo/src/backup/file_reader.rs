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

use bytes::{Bytes, BytesMut};
use cairn_chunker::{Chunker, ChunkerTables};
use cairn_format::{BlobType, Id};
use crossbeam_channel::{Receiver, Sender};

use super::{Abort, BackupObserver, Counters, FileStatus};
use crate::blob_codec::{BlobEncoder, Compression};
use crate::blob_writer::BlobWriter;

/// How much one read asks for. Large reads keep syscalls few; 1 MiB is below the average chunk
/// so the tail copied into the next chunk's buffer stays small.
const READ_BLOCK: usize = 1 << 20;
/// The read buffer chunks are split from: large, so few chunks straddle two buffers.
const READ_BUFFER: usize = 8 << 20;

/// A file to read, and where to send its content list.
pub(crate) struct FileJob {
    pub path: PathBuf,
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

pub(crate) fn reader_loop(
    jobs: Receiver<FileJob>,
    chunks: Sender<ChunkJob>,
    writer: &BlobWriter<'_>,
    tables: &ChunkerTables,
    observer: &dyn BackupObserver,
    counters: &Counters,
    abort: &Abort,
) {
    let mut chunker = Chunker::new(tables);
    for job in jobs {
        if abort.is_set() {
            let _ = job.result.send(Err(()));
            continue;
        }
        let result = read_file(&job, &mut chunker, &chunks, writer, observer, abort);
        let result = match result {
            Ok(content) => {
                counters.file(job.status);
                counters
                    .bytes_processed
                    .fetch_add(content.size, Ordering::Relaxed);
                observer.file_done(&job.path, content.size, job.status);
                Ok(content)
            }
            Err(ReadFailure::Io(e)) => {
                counters.error(observer, &job.path, e.to_string());
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

fn read_file(
    job: &FileJob,
    chunker: &mut Chunker<'_>,
    chunks: &Sender<ChunkJob>,
    writer: &BlobWriter<'_>,
    observer: &dyn BackupObserver,
    abort: &Abort,
) -> std::result::Result<FileContent, ReadFailure> {
    let file = open_for_reading(&job.path)?;
    let mut source = ChunkSource::new(&file, chunker, job.size);
    let mut blobs = Vec::new();
    while let Some(chunk) = source.next_chunk(observer)? {
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

/// Splits a stream into chunks without copying them: chunks are split off the front of a large
/// read buffer and share its memory (`Bytes`); only an unfinished chunk at the end of a buffer
/// is copied, into the next one.
pub(crate) struct ChunkSource<'r, 'c, 't, R: AsRawFd + ?Sized> {
    reader: &'r R,
    chunker: &'c mut Chunker<'t>,
    /// Bytes read and not handed out yet: the chunk being formed starts at 0, and bytes
    /// `..scanned` have been seen by the chunker.
    buffer: BytesMut,
    scanned: usize,
    eof: bool,
    pub total: u64,
}

impl<'r, 'c, 't, R: AsRawFd + ?Sized> ChunkSource<'r, 'c, 't, R> {
    pub(crate) fn new(reader: &'r R, chunker: &'c mut Chunker<'t>, size_hint: u64) -> Self {
        chunker.reset();
        // A small file gets a buffer of its own size (one more byte to see EOF without
        // growing), so 20,000 small files do not each take a large buffer.
        let capacity = (size_hint as usize).saturating_add(1).min(READ_BUFFER);
        ChunkSource {
            reader,
            chunker,
            buffer: BytesMut::with_capacity(capacity),
            scanned: 0,
            eof: false,
            total: 0,
        }
    }

    /// The next chunk, or `None` at the end of the stream. An empty stream has no chunks.
    pub(crate) fn next_chunk(
        &mut self,
        observer: &dyn BackupObserver,
    ) -> io::Result<Option<Bytes>> {
        loop {
            if self.scanned < self.buffer.len() {
                if let Some(cut) = self.chunker.next_boundary(&self.buffer[self.scanned..]) {
                    let end = self.scanned + cut;
                    self.scanned = 0;
                    return Ok(Some(self.buffer.split_to(end).freeze()));
                }
                self.scanned = self.buffer.len();
            }
            if self.eof {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(self.buffer.split().freeze()));
            }
            if self.buffer.capacity() - self.buffer.len() < READ_BLOCK {
                // While chunks split off this buffer are still in flight, this allocates a new
                // buffer and moves the unfinished chunk into it.
                let wanted = READ_BUFFER.max(self.buffer.len() + READ_BLOCK);
                self.buffer.reserve(wanted - self.buffer.len());
            }
            let want = (self.buffer.capacity() - self.buffer.len()).min(READ_BLOCK);
            let read = read_into_spare(self.reader, &mut self.buffer, want)?;
            if read == 0 {
                self.eof = true;
            } else {
                self.total += read as u64;
                observer.bytes_done(read as u64);
            }
        }
    }
}

/// Reads up to `want` bytes from the descriptor straight into the buffer's spare capacity,
/// without zero-filling it first (zero-filling freshly allocated buffers cost more than a
/// copy). Retries on EINTR; returns 0 at end of input.
fn read_into_spare<R: AsRawFd + ?Sized>(
    reader: &R,
    buffer: &mut BytesMut,
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

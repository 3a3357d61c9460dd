//! Readers and compressors: file content into chunks, chunks into packs.
//!
//! A reader reads a file in blocks of `READ_BLOCK` bytes into the buffer of the chunk being
//! formed, asks the chunker where the chunk ends, hashes each finished chunk and passes the
//! ones the repository lacks to the compressors. Chunk buffers move between threads without
//! copies except the tail of a block that belongs to the next chunk.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use cairn_chunker::{Chunker, ChunkerTables};
use cairn_format::{BlobType, Id};
use crossbeam_channel::{Receiver, Sender};

use super::{Abort, BackupObserver, Counters, FileStatus};
use crate::blob_codec::{BlobEncoder, Compression};
use crate::blob_writer::BlobWriter;

/// How much one read asks for. Large reads keep syscalls few; 1 MiB is below the average chunk
/// so the tail copied into the next chunk's buffer stays small.
const READ_BLOCK: usize = 1 << 20;
/// A chunk buffer's capacity: the largest chunk plus one read block.
const CHUNK_CAPACITY: usize = (8 << 20) + READ_BLOCK;

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
    pub data: Vec<u8>,
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
    let mut file = open_for_reading(&job.path)?;
    let mut source = ChunkSource::new(&mut file, chunker, job.size);
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

/// Splits a stream into chunks.
pub(crate) struct ChunkSource<'r, 'c, 't, R: Read + ?Sized> {
    reader: &'r mut R,
    chunker: &'c mut Chunker<'t>,
    /// The chunk being formed; bytes `..scanned` have been seen by the chunker.
    current: Vec<u8>,
    scanned: usize,
    eof: bool,
    pub total: u64,
}

impl<'r, 'c, 't, R: Read + ?Sized> ChunkSource<'r, 'c, 't, R> {
    pub(crate) fn new(reader: &'r mut R, chunker: &'c mut Chunker<'t>, size_hint: u64) -> Self {
        chunker.reset();
        // Small files get a buffer of their own size (one more byte to see EOF without growing),
        // so 20,000 small files do not each allocate a chunk-sized buffer.
        let capacity = (size_hint as usize).saturating_add(1).min(CHUNK_CAPACITY);
        ChunkSource {
            reader,
            chunker,
            current: Vec::with_capacity(capacity),
            scanned: 0,
            eof: false,
            total: 0,
        }
    }

    /// The next chunk, or `None` at the end of the stream. An empty stream has no chunks.
    pub(crate) fn next_chunk(
        &mut self,
        observer: &dyn BackupObserver,
    ) -> io::Result<Option<Vec<u8>>> {
        loop {
            if self.scanned < self.current.len() {
                if let Some(cut) = self.chunker.next_boundary(&self.current[self.scanned..]) {
                    let end = self.scanned + cut;
                    let mut next = Vec::with_capacity(CHUNK_CAPACITY);
                    next.extend_from_slice(&self.current[end..]);
                    self.current.truncate(end);
                    self.scanned = 0;
                    return Ok(Some(std::mem::replace(&mut self.current, next)));
                }
                self.scanned = self.current.len();
            }
            if self.eof {
                if self.current.is_empty() {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(std::mem::take(&mut self.current)));
            }
            if self.current.capacity() - self.current.len() < READ_BLOCK {
                self.current.reserve(READ_BLOCK);
            }
            let want = (self.current.capacity() - self.current.len()).min(READ_BLOCK);
            let read = read_some(self.reader, &mut self.current, want)?;
            if read == 0 {
                self.eof = true;
            } else {
                self.total += read as u64;
                observer.bytes_done(read as u64);
            }
        }
    }
}

/// Appends up to `want` bytes to `buf` without zero-filling the spare capacity first.
fn read_some<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    want: usize,
) -> io::Result<usize> {
    let before = buf.len();
    (&mut *reader).take(want as u64).read_to_end(buf)?;
    Ok(buf.len() - before)
}

pub(crate) fn compress_loop(
    chunks: Receiver<ChunkJob>,
    writer: &BlobWriter<'_>,
    (compression, supports_compression): (Compression, bool),
    abort: &Abort,
) {
    let mut encoder = BlobEncoder::new(compression, supports_compression);
    let mut stored = Vec::new();
    for job in chunks {
        if abort.is_set() {
            continue;
        }
        if let Err(e) = writer.store(&mut encoder, &mut stored, job.blob_type, job.id, &job.data) {
            abort.fail(e);
        }
    }
}

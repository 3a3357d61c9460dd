//! The finisher: turns directory records, in post-order, into tree blobs.

use cairn_format::tree::{encode_tree, Node};
use cairn_format::{BlobType, Id};
use crossbeam_channel::{Receiver, Sender};

use super::file_reader::FileResult;
use super::{Abort, Counters, FileStatus};
use crate::blob_codec::{BlobEncoder, Compression};
use crate::blob_writer::BlobWriter;

/// A directory's tree id, or `Err` when it could not be completed (already reported).
pub(crate) type DirResult = std::result::Result<Id, ()>;

/// One entry of a directory as the walker leaves it.
pub(crate) enum Child {
    /// Complete: metadata only, or a file taken over from the parent snapshot.
    Ready(Node),
    /// A file being read; its content list arrives on `result`.
    File {
        node: Node,
        result: Receiver<FileResult>,
    },
    /// A subdirectory; its tree id arrives on `result`.
    Dir {
        node: Node,
        result: Receiver<DirResult>,
    },
}

/// A directory whose entries have all been handed out, sent after the records of its
/// subdirectories.
pub(crate) struct DirRecord {
    pub children: Vec<Child>,
    /// The same directory's tree in the parent snapshot, to tell changed from unmodified.
    pub parent_subtree: Option<Id>,
    pub done: Sender<DirResult>,
}

pub(crate) fn finisher_loop(
    records: Receiver<DirRecord>,
    writer: &BlobWriter<'_>,
    (compression, supports_compression): (Compression, bool),
    counters: &Counters,
    abort: &Abort,
) {
    let mut encoder = BlobEncoder::new(compression, supports_compression);
    for record in records {
        let mut nodes = Vec::with_capacity(record.children.len());
        for child in record.children {
            match child {
                Child::Ready(node) => nodes.push(node),
                Child::File { mut node, result } => {
                    if let Ok(Ok(content)) = result.recv() {
                        node.size = content.size;
                        node.content = Some(content.blobs);
                        nodes.push(node);
                    }
                }
                Child::Dir { mut node, result } => {
                    if let Ok(Ok(id)) = result.recv() {
                        node.subtree = Some(id);
                        nodes.push(node);
                    }
                }
            }
        }
        if abort.is_set() {
            // Dropping `done` tells the parent directory this one failed.
            continue;
        }
        let bytes = encode_tree(&nodes);
        let id = Id::hash(&bytes);
        if let Err(e) = writer.save(&mut encoder, BlobType::Tree, id, &bytes) {
            abort.fail(e);
            continue;
        }
        counters.dir(match record.parent_subtree {
            None => FileStatus::New,
            Some(parent) if parent == id => FileStatus::Unmodified,
            Some(_) => FileStatus::Changed,
        });
        let _ = record.done.send(Ok(id));
    }
}

//! A file's bytes, whole or one byte range (HTTP `Range`), read blob by blob. The blobs
//! before the range are skipped by their lengths in the index, never fetched.

use std::io::Write;

use cairn_format::tree::{Node, NodeType};
use cairn_format::BlobType;

use crate::index::Index;
use crate::{RepoError, Repository, Result};

/// Writes bytes `start..end` (end exclusive, clamped to the file's size) of the file `node`
/// to `out`; returns how many were written. `what` names the file in errors.
pub fn write_range(
    repo: &Repository,
    index: &Index,
    node: &Node,
    start: u64,
    end: u64,
    what: &str,
    out: &mut dyn Write,
) -> Result<u64> {
    if node.node_type != NodeType::File {
        return Err(RepoError::InvalidInput(format!(
            "{what} is a {}, not a file; list it or download it as an archive",
            node.node_type.as_str()
        )));
    }
    let end = end.min(node.size);
    let mut written = 0u64;
    let mut blob_start = 0u64;
    for id in node.content.as_deref().unwrap_or(&[]) {
        if blob_start >= end {
            break;
        }
        let location = index
            .lookup(BlobType::Data, id)
            .ok_or(RepoError::BlobNotIndexed {
                blob_type: BlobType::Data,
                id: *id,
            })?;
        let blob_end = blob_start + u64::from(location.plaintext_len());
        if blob_end > start {
            let plaintext = repo.read_blob(&location, id)?;
            let from = start.saturating_sub(blob_start) as usize;
            let to = ((end - blob_start) as usize).min(plaintext.len());
            if from < to {
                out.write_all(&plaintext[from..to])
                    .map_err(|e| RepoError::io(format!("download of {what}"), e))?;
                written += (to - from) as u64;
            }
        }
        blob_start = blob_end;
    }
    Ok(written)
}

//! Last stage of a batch (optional): read its restored files back and compare each blob's
//! SHA-256 with the id the snapshot names.

use std::fs::File;
use std::os::unix::fs::FileExt;

use cairn_format::Id;

use super::batch::PlannedFile;
use super::{Errors, Report};

/// Verifies `files` (a slice of one batch, whose content and metadata are done); returns the
/// number that verified.
pub(crate) fn verify_files(
    files: &[PlannedFile],
    report: &Report<'_>,
    errors: &Errors,
    buffer: &mut Vec<u8>,
) -> u64 {
    let mut verified = 0;
    for file in files {
        match verify_file(&file.path, &file.blobs, file.size, buffer) {
            Ok(()) => verified += 1,
            Err(message) => errors.add(
                report,
                &file.path,
                format!("verification failed: {message}"),
            ),
        }
    }
    verified
}

fn verify_file(
    path: &std::path::Path,
    blobs: &[(Id, u32)],
    size: u64,
    buffer: &mut Vec<u8>,
) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let actual = file.metadata().map_err(|e| e.to_string())?.len();
    if actual != size {
        return Err(format!("size is {actual}, the snapshot says {size}"));
    }
    let mut offset = 0u64;
    for (id, length) in blobs {
        buffer.resize(*length as usize, 0);
        file.read_exact_at(buffer, offset)
            .map_err(|e| format!("cannot read at offset {offset}: {e}"))?;
        if Id::hash(buffer) != *id {
            return Err(format!("content at offset {offset} differs from blob {id}"));
        }
        offset += u64::from(*length);
    }
    Ok(())
}

//! Phase 4 of a restore (optional): read every restored file back and compare each blob's
//! SHA-256 with the id the snapshot names.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use cairn_format::Id;

use super::plan::Plan;
use super::{Errors, RestoreObserver};

/// Returns the number of files that verified.
pub(crate) fn verify_all(
    plan: &Plan,
    threads: usize,
    observer: &dyn RestoreObserver,
    errors: &Errors,
) -> u64 {
    let next = AtomicUsize::new(0);
    let verified = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buffer = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = plan.files.get(i) else { break };
                    match verify_file(&file.path, &file.blobs, file.node.size, &mut buffer) {
                        Ok(()) => {
                            verified.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(message) => errors.add(
                            observer,
                            &file.path,
                            format!("verification failed: {message}"),
                        ),
                    }
                }
            });
        }
    });
    verified.into_inner()
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

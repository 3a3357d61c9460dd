//! Moving objects from one store to another with several workers at once.
//!
//! Each object is read whole, its SHA-256 checked against its name (so a corrupt local object
//! is never spread to the mirror), and written whole. The first failure stops new transfers;
//! those under way finish, and the failure is returned.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use cairn_format::Id;
use cairn_storage::{FileKind, Retention, Storage};

use crate::error::{RepoError, Result};
use crate::progress::Progress;

/// One object to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub kind: FileKind,
    pub name: String,
    pub size: u64,
    /// Written with `put_bulk` (the storage class for bulk data) rather than `put`.
    pub bulk: bool,
}

/// Copies every transfer from `from` to `to` with `workers` threads; each object sent is
/// counted in `progress` (one file, its size in bytes, its name as the current item). With a
/// `retention`, every object is written with it (Object Lock).
pub fn run(
    from: &dyn Storage,
    to: &dyn Storage,
    transfers: &[Transfer],
    workers: usize,
    retention: Option<&Retention>,
    progress: &Progress,
) -> Result<()> {
    let next = Mutex::new(transfers.iter());
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<RepoError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1).min(transfers.len().max(1)) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Acquire) {
                    return;
                }
                let Some(transfer) = next.lock().expect("queue").next() else {
                    return;
                };
                match copy_one(from, to, transfer, retention) {
                    Ok(()) => {
                        progress.add_files(1);
                        progress.add_bytes(transfer.size);
                        progress.set_current(Some(&transfer.kind.path(&transfer.name)));
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Release);
                        first_error.lock().expect("error slot").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match first_error.into_inner().expect("error slot") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn copy_one(
    from: &dyn Storage,
    to: &dyn Storage,
    transfer: &Transfer,
    retention: Option<&Retention>,
) -> Result<()> {
    let data = from.get(transfer.kind, &transfer.name)?;
    if transfer.kind != FileKind::Config && transfer.kind != FileKind::Sidecar {
        let hash = Id::hash(&data);
        if hash.to_string() != transfer.name {
            return Err(RepoError::Corrupt {
                object: format!("{}/{}", from.location(), transfer.kind.path(&transfer.name)),
                reason: format!(
                    "its content hashes to {hash}, not its name; it was not sent (run `cairn check --read-data`)"
                ),
            });
        }
    }
    if let Some(retention) = retention {
        to.put_retained(
            transfer.kind,
            &transfer.name,
            &data,
            transfer.bulk,
            retention,
        )?;
    } else if transfer.bulk {
        to.put_bulk(transfer.kind, &transfer.name, &data)?;
    } else {
        to.put(transfer.kind, &transfer.name, &data)?;
    }
    Ok(())
}

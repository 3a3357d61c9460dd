//! Why an operation must stop before its next storage call: a lock it holds was lost (no more
//! writes), or its caller cancelled it (nothing more at all).
//!
//! Checked by [`super::guarded_store`] on every call, so cancelling needs no cooperation from
//! each phase of each operation: a backup, restore, prune, check or mirror stops at its next
//! read or write, within moments, and returns [`cairn_storage::ErrorKind::Cancelled`] or
//! `Aborted`. Lock files are exempt, so the lock is still released on the way out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::health::HeldLocks;

#[derive(Debug, Default)]
pub(crate) struct StopSignals {
    pub locks: HeldLocks,
    /// Set by whoever runs the operation; `None` until a caller asks for cancellation.
    cancel: RwLock<Option<Arc<AtomicBool>>>,
}

/// What stopped an operation.
pub(crate) enum Stop {
    LockLost(String),
    Cancelled,
}

impl StopSignals {
    pub fn set_cancel(&self, flag: Option<Arc<AtomicBool>>) {
        *self.cancel.write().unwrap_or_else(|e| e.into_inner()) = flag;
    }

    pub fn cancelled(&self) -> bool {
        self.cancel
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Before a read: only cancellation stops it.
    pub fn check_read(&self) -> Result<(), Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        Ok(())
    }

    /// Before a write: cancellation, or a lost lock.
    pub fn check_write(&self) -> Result<(), Stop> {
        self.check_read()?;
        self.locks.ensure_held().map_err(Stop::LockLost)
    }
}

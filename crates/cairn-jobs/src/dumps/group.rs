//! The dumps of one backup as a group: when one fails, the others are killed.
//!
//! The backup reads each stream on a reader thread that blocks while its tool is silent (a
//! `pg_dump` waiting for a lock, a server that stopped answering). When another dump fails,
//! the engine stops the backup, but a reader blocked on a silent pipe would wait for that
//! tool forever; killing the group's tools closes their pipes, the readers see the end, and
//! the backup ends with the first failure. After a failure no tool of the group starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub(crate) struct DumpGroup {
    state: Mutex<GroupState>,
}

#[derive(Default)]
struct GroupState {
    failed: bool,
    /// Process groups of the tools running now.
    running: Vec<libc::pid_t>,
}

impl DumpGroup {
    pub(crate) fn new() -> Arc<DumpGroup> {
        Arc::new(DumpGroup::default())
    }

    /// Records a started tool; `false` (and the tool is killed) when the group has failed.
    pub(crate) fn started(&self, group: libc::pid_t) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.failed {
            kill_group(group);
            return false;
        }
        state.running.push(group);
        true
    }

    /// A tool is done (it will be reaped next, so its id is not used again before).
    pub(crate) fn ended(&self, group: libc::pid_t) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.running.retain(|g| *g != group);
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failed
    }

    /// One dump failed: every other running tool of the group is killed.
    pub(crate) fn fail(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.failed = true;
        for group in state.running.drain(..) {
            kill_group(group);
        }
    }
}

/// Fails `group` (killing its tools) once `cancel` is set; the watcher ends with the group
/// (when the backup has dropped its streams) or after failing it.
pub(crate) fn stop_on_cancel(group: &Arc<DumpGroup>, cancel: Arc<AtomicBool>) {
    let group = Arc::downgrade(group);
    let spawned = std::thread::Builder::new()
        .name("cairn-dump-cancel".into())
        .spawn(move || loop {
            let Some(group) = group.upgrade() else { return };
            if cancel.load(Ordering::Relaxed) {
                group.fail();
                return;
            }
            drop(group);
            std::thread::sleep(CANCEL_POLL);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch the dumps for a cancel: {e}");
    }
}

/// How often a run's dumps look at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(200);

fn kill_group(group: libc::pid_t) {
    // SAFETY: kill(2) on a process group a ChildStream leads and has not reaped yet.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

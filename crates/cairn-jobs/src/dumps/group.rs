//! The dumps of one backup as a group: when one fails, the others are killed.
//!
//! The backup reads each stream on a reader thread that blocks while its tool is silent (a
//! `pg_dump` waiting for a lock, a server that stopped answering). When another dump fails,
//! the engine stops the backup, but a reader blocked on a silent pipe would wait for that
//! tool forever; killing the group's tools closes their pipes, the readers see the end, and
//! the backup ends with the first failure. After a failure no tool of the group starts.

use std::sync::{Arc, Mutex};

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

fn kill_group(group: libc::pid_t) {
    // SAFETY: kill(2) on a process group a ChildStream leads and has not reaped yet.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

//! What to do when SIGINT or SIGTERM ends a command: remove the locks this process holds
//! (always), and whatever a command registered (a foreground run records its job as
//! cancelled, so the state never shows it running forever).

use std::sync::Mutex;

type Action = Box<dyn Fn() + Send>;

static ACTIONS: Mutex<Vec<Action>> = Mutex::new(Vec::new());

/// Runs `action` if the process is interrupted.
pub fn on_interrupt(action: impl Fn() + Send + 'static) {
    ACTIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Box::new(action));
}

/// Installs the handler: registered actions, then the locks, then exit 130.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        for action in ACTIONS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            action();
        }
        cairn_repo::lock::release_held_locks();
        std::process::exit(130);
    });
}

/// Records job `id` (in the state under `state_dir`) as cancelled if the process is
/// interrupted while running it in the foreground.
pub fn cancel_job_on_interrupt(state_dir: std::path::PathBuf, id: i64) {
    on_interrupt(move || {
        if let Ok(state) = cairn_state::StateStore::open(&state_dir) {
            let end = cairn_state::JobEnd {
                state: cairn_state::JobState::Cancelled,
                snapshot: None,
                bytes_added: None,
                error: Some("interrupted by a signal".into()),
            };
            let _ = state.finish_job(id, &end, chrono::Utc::now());
        }
    });
}

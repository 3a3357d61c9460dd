//! How every config edit of the API ends: validated by the real loader, written back in
//! place, and handed to the daemon, in that order, or nothing happens.
//!
//! Edits are serialized (one lock for the process) so two forms saved at once cannot both
//! start from the same text and lose one change. An edit starts from the text the daemon
//! runs with; when the file on disk no longer holds that text (someone edited it and did
//! not reload), the edit is refused rather than silently undoing their change.

use std::sync::Mutex;

use cairn_config::edit::{field_of, ConfigEdit, EditError, EditErrorKind};
use cairn_config::{Config, ConfigErrors, KeyPath};
use cairn_jobs::daemon::Daemon;

use crate::{ApiError, FieldError};

/// Held from reading the running config to the daemon's reload.
static CONFIG_WRITE: Mutex<()> = Mutex::new(());

/// Whether an edit is written or only checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    Write,
    ValidateOnly,
}

/// Applies `change` to the running config's text, validates it and, for [`Commit::Write`],
/// writes the file atomically and reloads the daemon before returning the new config.
/// Errors name form fields relative to `table` (`plans.web`).
pub(crate) fn commit(
    daemon: &Daemon,
    table: &KeyPath,
    commit: Commit,
    change: impl FnOnce(&mut ConfigEdit) -> Result<(), EditError>,
) -> Result<Config, ApiError> {
    let _serialized = CONFIG_WRITE.lock().unwrap_or_else(|e| e.into_inner());
    let running = daemon.config();
    let mut edit = ConfigEdit::new(&running).map_err(edit_error)?;
    change(&mut edit).map_err(edit_error)?;
    let mut config = edit.validate().map_err(|errors| invalid(&errors, table))?;
    // Overrides (CAIRN_STATE_DIR, --state-dir) stay as the daemon was started.
    config.state_dir = running.state_dir.clone();
    // A multihost server's managed tables stay in the model (its file is not edited here).
    cairn_config::merge_managed_file(&mut config).map_err(|errors| invalid(&errors, table))?;
    if commit == Commit::ValidateOnly {
        return Ok(config);
    }
    let path = edit.path().to_path_buf();
    let on_disk = std::fs::read_to_string(&path).map_err(|e| {
        ApiError::Conflict(format!(
            "cannot read the config {} ({e}); fix it and reload the daemon",
            path.display()
        ))
    })?;
    if on_disk != running.source().text() {
        return Err(ApiError::Conflict(format!(
            "{} changed on disk since the daemon read it; reload the daemon (SIGHUP) and edit again",
            path.display()
        )));
    }
    cairn_config::edit::write_atomically(&path, &edit.text())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    daemon.reload(config.clone());
    tracing::info!("config {} edited through the API", path.display());
    Ok(config)
}

pub(crate) fn edit_error(error: EditError) -> ApiError {
    match error.kind {
        EditErrorKind::NotFound => ApiError::NotFound(error.message),
        EditErrorKind::Exists => ApiError::Conflict(error.message),
        EditErrorKind::InvalidField => ApiError::Invalid(vec![FieldError {
            field: error.field,
            message: error.message,
        }]),
    }
}

/// Validation errors, each at its form field (below `table`), or at its key path when it is
/// about something outside the form (a notification naming a deleted plan).
fn invalid(errors: &ConfigErrors, table: &KeyPath) -> ApiError {
    ApiError::Invalid(
        errors
            .errors()
            .iter()
            .map(|error| FieldError {
                field: field_of(error, table).unwrap_or_else(|| {
                    error
                        .key_path()
                        .map(|path| path.to_string())
                        .unwrap_or_default()
                }),
                message: error.message().to_string(),
            })
            .collect(),
    )
}

//! Writing the config file so that a reader (the daemon on SIGHUP, `cairn run`, an editor)
//! only ever sees the old text or the new one, and a crash leaves one of them on disk.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writing the config file failed; the old file is left as it was.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the config {path}: {source}; check the permissions of its directory")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Replaces `path` by `text`: a temporary file in the same directory (so the rename stays on
/// one file system), with the old file's mode (0600 for a new file), written and fsynced,
/// renamed over the old one, then the directory fsynced so the rename itself is durable.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), WriteError> {
    let fail = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mode = match std::fs::metadata(path) {
        Ok(metadata) => metadata.permissions().mode() & 0o7777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0o600,
        Err(e) => return Err(fail(e)),
    };
    let temporary = temporary_name(path);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        // The umask may have narrowed the mode given to open.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(directory)?.sync_all()
    })();
    if result.is_err() {
        // Best effort: the temporary may not exist (open failed) or be gone (renamed).
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(fail)
}

/// `.NAME.cairn-edit-PID-N` beside the file: hidden, and unique within and across processes.
fn temporary_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cairn.toml".to_string());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.cairn-edit-{}-{n}", std::process::id()))
}

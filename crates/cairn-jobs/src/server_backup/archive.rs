//! The archive: a tar stream sealed to the recovery public key. It holds `manifest.json`
//! (what each entry is and where it came from), `state.db` (an online backup of the state
//! database), `cairn.toml`, the instance key, the identity key when there is one, the recovery
//! public key, and every secret file the config names (`secrets/N`).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cairn_access::archive_seal::SealWriter;
use cairn_access::RecoveryPublic;
use cairn_config::Config;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{JobError, Result};

pub const MANIFEST: &str = "manifest.json";
pub const STATE_DB: &str = "state.db";
pub const CONFIG: &str = "cairn.toml";
/// Files of the state directory carried as they are (when present).
pub const STATE_FILES: [&str; 3] = ["instance.key", "identity.key", "recovery.pub"];

/// What an archive holds beyond its fixed entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub created: DateTime<Utc>,
    /// Where the config and state directory were on the server that made the archive.
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    /// The state directory's files included (names from [`STATE_FILES`]).
    pub state_files: Vec<String>,
    pub secret_files: Vec<SecretFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretFile {
    /// `secrets/N` in the archive.
    pub entry: String,
    /// Where it goes back.
    pub path: PathBuf,
    pub mode: u32,
}

pub(crate) fn failed(what: impl std::fmt::Display) -> JobError {
    JobError::ServerBackup(what.to_string())
}

/// Writes the sealed archive of this server to `out`; `scratch` is a private directory
/// for the database copy. Returns the archive's size.
pub fn write_archive(
    config: &Config,
    recovery: &RecoveryPublic,
    scratch: &Path,
    out: &Path,
    now: DateTime<Utc>,
) -> Result<u64> {
    let state_dir = &config.state_dir;
    let database = scratch.join(STATE_DB);
    cairn_state::online_backup::backup_state(state_dir, &database)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| failed(format!("cannot create {}: {e}", out.display())))?;
    let sealer = SealWriter::new(std::io::BufWriter::new(file), recovery)?;
    let mut tar = tar::Builder::new(sealer);
    let mut state_files = Vec::new();
    for name in STATE_FILES {
        let path = state_dir.join(name);
        if path.exists() {
            append_file(&mut tar, name, &path)?;
            state_files.push(name.to_string());
        }
    }
    let mut secret_files = Vec::new();
    for (index, path) in cairn_config::secret_files(config).into_iter().enumerate() {
        let entry = format!("secrets/{index}");
        let mode = std::fs::metadata(&path)
            .map_err(|e| {
                failed(format!(
                    "cannot read {} (named in the config): {e}",
                    path.display()
                ))
            })?
            .permissions()
            .mode()
            & 0o7777;
        append_file(&mut tar, &entry, &path)?;
        secret_files.push(SecretFile { entry, path, mode });
    }
    let manifest = Manifest {
        version: 1,
        created: now,
        config_path: config.source().path().to_path_buf(),
        state_dir: state_dir.clone(),
        state_files,
        secret_files,
    };
    append_bytes(
        &mut tar,
        MANIFEST,
        &serde_json::to_vec_pretty(&manifest).expect("the manifest serializes"),
    )?;
    append_bytes(&mut tar, CONFIG, config.source().text().as_bytes())?;
    append_file(&mut tar, STATE_DB, &database)?;
    let sealer = tar
        .into_inner()
        .map_err(|e| failed(format!("cannot write {}: {e}", out.display())))?;
    let mut file = sealer
        .finish()
        .map_err(|e| failed(format!("cannot write {}: {e}", out.display())))?;
    file.flush()
        .map_err(|e| failed(format!("cannot write {}: {e}", out.display())))?;
    let file = file
        .into_inner()
        .map_err(|e| failed(format!("cannot write {}: {e}", out.display())))?;
    file.sync_all()
        .map_err(|e| failed(format!("cannot write {}: {e}", out.display())))?;
    std::fs::remove_file(&database).ok();
    Ok(std::fs::metadata(out).map(|m| m.len()).unwrap_or(0))
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, entry: &str, path: &Path) -> Result<()> {
    let cannot = |e: std::io::Error| failed(format!("cannot read {}: {e}", path.display()));
    // Streamed: a large state database is never held in memory.
    let file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append_data(&mut header, entry, file.take(size))
        .map_err(|e| failed(format!("cannot write the archive: {e}")))
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, entry: &str, bytes: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append_data(&mut header, entry, bytes)
        .map_err(|e| failed(format!("cannot write the archive: {e}")))
}

//! Key files: adding, finding, listing and removing the passwords that open a repository.
//!
//! Each key file seals the same master key under a different password. A key file is named by
//! the SHA-256 of its bytes, so a damaged one is told apart from a wrong password.

use cairn_crypto::{calibrate_kdf, derive_key, random_bytes, KdfParams, MasterKey, SALT_LEN};
use cairn_format::{Id, KeyFile};
use cairn_storage::{FileKind, Storage};
use chrono::Local;

use crate::{system, RepoError, Result};

/// restic tries at most this many key files before giving up; so do we, so that a repository
/// with hundreds of keys does not take minutes of scrypt to reject a wrong password.
const KEYS_TRIED_MAX: usize = 20;

/// How new key files are made.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// scrypt parameters; `None` calibrates on this machine (about 0.5 s), as restic does.
    pub kdf: Option<KdfParams>,
    /// Recorded in the key file; default: the current user and host.
    pub username: Option<String>,
    pub hostname: Option<String>,
}

/// Seals `key` under `password` in a new key file and returns its id.
pub fn add_key(
    storage: &dyn Storage,
    key: &MasterKey,
    password: &[u8],
    options: &KeyOptions,
) -> Result<Id> {
    let params = options.kdf.unwrap_or_else(calibrate_kdf);
    let salt = random_bytes::<SALT_LEN>().to_vec();
    let user_key = derive_key(password, &salt, params)
        .map_err(|e| RepoError::InvalidInput(format!("cannot derive a key: {e}")))?;
    let data = user_key.seal(key.to_json().expose());
    let file = KeyFile {
        created: Some(Local::now().fixed_offset()),
        username: options.username.clone().unwrap_or_else(system::username),
        hostname: options.hostname.clone().unwrap_or_else(system::hostname),
        kdf: "scrypt".to_string(),
        n: params.n,
        r: params.r,
        p: params.p,
        salt,
        data,
        unknown_fields: Default::default(),
    };
    let bytes = file.to_json();
    let id = Id::hash(&bytes);
    storage.put(FileKind::Key, &id.to_hex(), &bytes)?;
    Ok(id)
}

/// Why one key file did not open the repository.
enum KeyFailure {
    WrongPassword,
    Damaged(String),
}

/// Opens the master key of one key file with `password`.
fn try_key(
    storage: &dyn Storage,
    id: &Id,
    password: &[u8],
) -> Result<std::result::Result<MasterKey, KeyFailure>> {
    let bytes = storage.get(FileKind::Key, &id.to_hex())?;
    if Id::hash(&bytes) != *id {
        return Ok(Err(KeyFailure::Damaged(
            "its content does not match its name".into(),
        )));
    }
    let file = match KeyFile::from_json(&bytes) {
        Ok(file) => file,
        Err(e) => return Ok(Err(KeyFailure::Damaged(e.to_string()))),
    };
    let params = KdfParams {
        n: file.n,
        r: file.r,
        p: file.p,
    };
    let user_key = match derive_key(password, &file.salt, params) {
        Ok(key) => key,
        Err(e) => return Ok(Err(KeyFailure::Damaged(e.to_string()))),
    };
    let Ok(json) = user_key.open(&file.data) else {
        return Ok(Err(KeyFailure::WrongPassword));
    };
    match MasterKey::from_json(&json) {
        Ok(key) => Ok(Ok(key)),
        Err(e) => Ok(Err(KeyFailure::Damaged(e.to_string()))),
    }
}

/// Finds the key file that `password` opens and returns it with the master key.
pub fn find_key(storage: &dyn Storage, password: &[u8]) -> Result<(Id, MasterKey)> {
    let mut ids: Vec<Id> = storage
        .list(FileKind::Key)?
        .into_iter()
        .filter_map(|o| o.name.parse().ok())
        .collect();
    ids.sort();
    if ids.is_empty() {
        return Err(RepoError::corrupt(
            format!("repository {}", storage.location()),
            "it has no key files (keys/ is empty); restore them from a backup",
        ));
    }
    let mut damaged = Vec::new();
    let mut tried = 0;
    for id in ids.iter().take(KEYS_TRIED_MAX) {
        tried += 1;
        match try_key(storage, id, password)? {
            Ok(key) => return Ok((*id, key)),
            Err(KeyFailure::WrongPassword) => {}
            Err(KeyFailure::Damaged(reason)) => damaged.push((*id, reason)),
        }
    }
    if let Some((id, reason)) = damaged.first() {
        if damaged.len() == tried {
            return Err(RepoError::corrupt(
                format!("key file {id}"),
                format!(
                    "{reason}; restore keys/ from a backup or open the repository with another key"
                ),
            ));
        }
        tracing::warn!("key file {id} is damaged ({reason}); it was skipped");
    }
    Err(RepoError::WrongPassword {
        location: storage.location(),
        tried,
    })
}

/// One key file as `key list` shows it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub id: Id,
    pub file: Option<KeyFile>,
    /// Why the file could not be read, if it could not.
    pub problem: Option<String>,
}

pub fn list_keys(storage: &dyn Storage) -> Result<Vec<KeyInfo>> {
    let mut out = Vec::new();
    for object in storage.list(FileKind::Key)? {
        let Ok(id) = object.name.parse::<Id>() else {
            continue;
        };
        let bytes = storage.get(FileKind::Key, &object.name)?;
        let (file, problem) = if Id::hash(&bytes) != id {
            (None, Some("content does not match its name".to_string()))
        } else {
            match KeyFile::from_json(&bytes) {
                Ok(file) => (Some(file), None),
                Err(e) => (None, Some(e.to_string())),
            }
        };
        out.push(KeyInfo { id, file, problem });
    }
    out.sort_by(|a, b| {
        let created = |k: &KeyInfo| k.file.as_ref().map(|f| f.created);
        created(a).cmp(&created(b)).then(a.id.cmp(&b.id))
    });
    Ok(out)
}

/// Removes a key file. Refuses to remove the key that opened the repository, so nobody locks
/// themselves out by mistake.
pub fn remove_key(storage: &dyn Storage, current: Id, id: Id) -> Result<()> {
    if id == current {
        return Err(RepoError::InvalidInput(format!(
            "key {} is the one in use; open the repository with another key to remove it",
            id.short()
        )));
    }
    storage.remove(FileKind::Key, &id.to_hex())?;
    storage.sync()?;
    Ok(())
}

/// Resolves a key id or unique prefix among the key files.
pub fn resolve_key_id(storage: &dyn Storage, text: &str) -> Result<Id> {
    let matches: Vec<Id> = storage
        .list(FileKind::Key)?
        .into_iter()
        .filter(|o| o.name.starts_with(text))
        .filter_map(|o| o.name.parse().ok())
        .collect();
    match matches.as_slice() {
        [id] => Ok(*id),
        [] => Err(RepoError::InvalidInput(format!(
            "no key file matches {text:?}; see `cairn key list`"
        ))),
        _ => Err(RepoError::InvalidInput(format!(
            "{text:?} matches {} key files; give more digits",
            matches.len()
        ))),
    }
}

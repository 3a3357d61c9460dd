//! The files a config references, checked before anything runs: a password file that is
//! missing fails a run at 3 a.m.; a credentials file others can read leaks a key today.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::Config;
use crate::error::{ConfigError, ErrorKind, Reporter};
use crate::positions::KeyPath;
use crate::secret::SecretSource;

/// Every referenced file that is missing, unreadable, or (credentials) readable by others.
/// Reads metadata only, never the files' contents.
pub fn check_referenced_files(config: &Config) -> Vec<ConfigError> {
    let mut reporter = Reporter::new(config.source(), config.positions());
    for (name, repository) in &config.repositories {
        let table = KeyPath::of(&["repositories", name]);
        password_file(&mut reporter, &table, Some(&repository.password));
        if let Some(path) = &repository.credentials_file {
            credentials_file(&mut reporter, &table.key("credentials_file"), path);
        }
        if let Some(offsite) = &repository.offsite {
            if let Some(path) = &offsite.credentials_file {
                let key = table.key("offsite").key("credentials_file");
                credentials_file(&mut reporter, &key, path);
            }
        }
    }
    if let Some(path) = &config.server_backup.credentials_file {
        let key = KeyPath::of(&["server_backup", "credentials_file"]);
        credentials_file(&mut reporter, &key, path);
    }
    for (name, plan) in &config.plans {
        let table = KeyPath::of(&["plans", name]);
        for (index, dump) in plan.postgresql.iter().enumerate() {
            let entry = table.key("postgresql").index(index);
            password_file(&mut reporter, &entry, dump.password.as_ref());
        }
        for (index, dump) in plan.mariadb.iter().enumerate() {
            let entry = table.key("mariadb").index(index);
            password_file(&mut reporter, &entry, dump.password.as_ref());
        }
    }
    for (index, channel) in config.notify.iter().enumerate() {
        let entry = KeyPath::root().key("notify").index(index);
        match &channel.kind {
            crate::NotifyKind::Webhook {
                secret_file: Some(path),
                ..
            } => credentials_file(&mut reporter, &entry.key("secret_file"), path),
            crate::NotifyKind::Email { password, .. } => {
                password_file(&mut reporter, &entry, password.as_ref())
            }
            _ => {}
        }
    }
    reporter.into_errors()
}

fn password_file(reporter: &mut Reporter<'_>, table: &KeyPath, source: Option<&SecretSource>) {
    if let Some(SecretSource::File(path)) = source {
        let key = table.key("password_file");
        if let Err(message) = readable_file(path) {
            reporter.at_value(
                ErrorKind::ReferencedFile,
                &key,
                format!("password_file {message}"),
            );
        }
    }
}

fn credentials_file(reporter: &mut Reporter<'_>, key: &KeyPath, path: &Path) {
    let message = match readable_file(path) {
        Err(message) => format!("credentials_file {message}"),
        Ok(mode) if mode & 0o077 != 0 => format!(
            "credentials_file {} can be read by others (mode {:04o}); run chmod 600 {}",
            path.display(),
            mode & 0o7777,
            path.display()
        ),
        Ok(_) => return,
    };
    reporter.at_value(ErrorKind::ReferencedFile, key, message);
}

/// The file's mode when it exists and is a regular file; else what is wrong and what to do.
fn readable_file(path: &Path) -> Result<u32, String> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(metadata.permissions().mode()),
        Ok(_) => Err(format!(
            "{} is not a file; give the path of a file",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "{} does not exist; create it (mode 0600) or correct the path",
            path.display()
        )),
        Err(e) => Err(format!(
            "{} cannot be examined ({e}); let the user cairn runs as read it",
            path.display()
        )),
    }
}

/// Every file the config names that holds a secret (password files, credentials files, TLS
/// certificate and key, notification secret files), each once, in a stable order: what a
/// server backup must carry so that only the recovery key and S3 credentials live elsewhere.
pub fn secret_files(config: &Config) -> Vec<std::path::PathBuf> {
    let mut files = std::collections::BTreeSet::new();
    let password = |source: Option<&SecretSource>| {
        if let Some(SecretSource::File(path)) = source {
            Some(path.clone())
        } else {
            None
        }
    };
    for repository in config.repositories.values() {
        files.extend(password(Some(&repository.password)));
        files.extend(repository.credentials_file.clone());
        if let Some(offsite) = &repository.offsite {
            files.extend(offsite.credentials_file.clone());
        }
    }
    for plan in config.plans.values() {
        for dump in &plan.postgresql {
            files.extend(password(dump.password.as_ref()));
        }
        for dump in &plan.mariadb {
            files.extend(password(dump.password.as_ref()));
        }
    }
    for channel in &config.notify {
        match &channel.kind {
            crate::NotifyKind::Webhook {
                secret_file: Some(path),
                ..
            } => {
                files.insert(path.clone());
            }
            crate::NotifyKind::Email { password: p, .. } => {
                files.extend(password(p.as_ref()));
            }
            _ => {}
        }
    }
    if let Some(tls) = config
        .server
        .as_ref()
        .and_then(|server| server.tls.as_ref())
    {
        files.insert(tls.cert.clone());
        files.insert(tls.key.clone());
    }
    files.extend(config.server_backup.credentials_file.clone());
    files.into_iter().collect()
}

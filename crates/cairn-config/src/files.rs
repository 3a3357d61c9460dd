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

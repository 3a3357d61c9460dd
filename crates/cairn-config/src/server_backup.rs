//! `[server_backup]`: the server's own state (state database, config, keys, the secret files
//! the config names) archived, sealed with the recovery key and kept at a destination, so a
//! server lost with its disk comes back with one sequence (`cairn server-restore`).

use std::path::PathBuf;

use crate::location::StoreLocation;
use crate::raw::RawServerBackup;
use crate::repository::Repository;
use crate::schedule::Schedule;
use crate::section::Section;

/// Archives kept at the destination unless the file says otherwise.
pub const SERVER_BACKUP_KEEP_DEFAULT: usize = 7;
const SERVER_BACKUP_KEEP_MAX: i64 = 1000;
/// The schedule unless the file says otherwise.
pub const SERVER_BACKUP_SCHEDULE_DEFAULT: &str = "@daily";
/// The folder below the first offsite's bucket when no destination is written.
pub const SERVER_BACKUP_FOLDER: &str = "_server-backups";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBackup {
    /// The file has a `[server_backup]` section.
    pub configured: bool,
    /// Where archives go; `None`: the first repository offsite's bucket, under
    /// `_server-backups/` ([`ServerBackup::resolve`]).
    pub destination: Option<StoreLocation>,
    /// `AWS_*` lines for an `s3:` destination.
    pub credentials_file: Option<PathBuf>,
    pub schedule: Schedule,
    /// The newest this many archives are kept; older ones are deleted after each upload.
    pub keep: usize,
}

/// Where archives go and with which credentials file, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBackupTarget {
    pub location: StoreLocation,
    pub credentials_file: Option<PathBuf>,
}

impl Default for ServerBackup {
    fn default() -> ServerBackup {
        ServerBackup {
            configured: false,
            destination: None,
            credentials_file: None,
            schedule: SERVER_BACKUP_SCHEDULE_DEFAULT
                .parse()
                .expect("the default schedule parses"),
            keep: SERVER_BACKUP_KEEP_DEFAULT,
        }
    }
}

impl ServerBackup {
    /// The destination, or the first repository (by name) with an `s3:` offsite: its bucket
    /// (prefix dropped) with `_server-backups` as prefix, and its credentials file.
    /// The error says what to write.
    pub fn resolve<'a>(
        &self,
        repositories: impl IntoIterator<Item = &'a Repository>,
    ) -> Result<ServerBackupTarget, String> {
        if let Some(location) = &self.destination {
            return Ok(ServerBackupTarget {
                location: location.clone(),
                credentials_file: self.credentials_file.clone(),
            });
        }
        for repository in repositories {
            let Some(offsite) = &repository.offsite else {
                continue;
            };
            if let StoreLocation::S3(s3) = &offsite.destination {
                return Ok(ServerBackupTarget {
                    location: StoreLocation::S3(s3.with_prefix(SERVER_BACKUP_FOLDER)),
                    credentials_file: self
                        .credentials_file
                        .clone()
                        .or_else(|| offsite.credentials_file.clone()),
                });
            }
        }
        Err("no server backup destination: set [server_backup] destination = \"s3:https://HOST/BUCKET/_server-backups\" (or a directory), or give a repository an s3: offsite".into())
    }
}

pub(crate) fn build_server_backup(
    section: &mut Section<'_, '_>,
    raw: &RawServerBackup,
) -> Option<ServerBackup> {
    let destination = raw.destination.as_deref().and_then(|text| {
        let location = section.parse("destination", Some(text), StoreLocation::parse)?;
        match &location {
            StoreLocation::Rest(_) => {
                section.wrong(
                    &section.key("destination"),
                    "is a rest: URL; server backups go to s3: or a local directory (e.g. a NAS mount)",
                );
                None
            }
            StoreLocation::Local(path) => {
                let path = path.to_string_lossy().into_owned();
                section.absolute_path(
                    &section.key("destination"),
                    &path,
                    "/mnt/nas/cairn-server-backups",
                )?;
                Some(location)
            }
            StoreLocation::S3(_) => Some(location),
        }
    });
    let credentials_file = raw.credentials_file.as_deref().and_then(|text| {
        let key = section.key("credentials_file");
        if let Some(StoreLocation::Local(_)) = &destination {
            section.wrong(
                &key,
                "applies to an s3: destination only; remove it for a local directory",
            );
            return None;
        }
        section.absolute_path(&key, text, "/etc/cairn/s3.env")
    });
    let schedule = section
        .parse("schedule", raw.schedule.as_deref(), str::parse::<Schedule>)
        .unwrap_or_else(|| ServerBackup::default().schedule);
    let keep = match raw.keep {
        None => SERVER_BACKUP_KEEP_DEFAULT,
        Some(n @ 1..=SERVER_BACKUP_KEEP_MAX) => n as usize,
        Some(n) => {
            section.invalid(
                &section.key("keep"),
                format!("{n} is out of range; write a number from 1 to {SERVER_BACKUP_KEEP_MAX}, e.g. {SERVER_BACKUP_KEEP_DEFAULT}"),
            );
            SERVER_BACKUP_KEEP_DEFAULT
        }
    };
    if section.failed() {
        return None;
    }
    Some(ServerBackup {
        configured: true,
        destination,
        credentials_file,
        schedule,
        keep,
    })
}

#[cfg(test)]
mod tests {
    use crate::{Config, SourceText, StoreLocation};

    fn parse(text: &str) -> Result<Config, Vec<String>> {
        Config::parse(SourceText::new("/etc/cairn/cairn.toml", text))
            .map_err(|errors| errors.errors().iter().map(|e| e.to_string()).collect())
    }

    const OFFSITE: &str = "[repositories.b]\nlocation = \"/srv/b\"\npassword_file = \"/p\"\n\
        [repositories.b.offsite]\ndestination = \"s3:https://s3.example.com/bucket/b\"\n\
        credentials_file = \"/etc/cairn/b2.env\"\n\
        [repositories.a]\nlocation = \"/srv/a\"\npassword_file = \"/p\"\n";

    #[test]
    fn without_a_section_the_first_offsite_bucket_is_the_destination() {
        let config = parse(OFFSITE).unwrap();
        assert!(!config.server_backup.configured);
        assert_eq!(config.server_backup.keep, 7);
        assert_eq!(config.server_backup.schedule.to_string(), "@daily");
        let target = config
            .server_backup
            .resolve(config.repositories.values())
            .unwrap();
        assert_eq!(
            target.location.to_string(),
            "s3:https://s3.example.com/bucket/_server-backups"
        );
        assert_eq!(
            target.credentials_file.as_deref(),
            Some(std::path::Path::new("/etc/cairn/b2.env"))
        );
        let bare =
            parse("[repositories.a]\nlocation = \"/srv/a\"\npassword_file = \"/p\"\n").unwrap();
        let error = bare
            .server_backup
            .resolve(bare.repositories.values())
            .unwrap_err();
        assert!(error.contains("[server_backup] destination"), "{error}");
    }

    #[test]
    fn a_section_is_read_and_checked_at_its_keys() {
        let config = parse(
            "[server_backup]\ndestination = \"/mnt/nas/cairn\"\nschedule = \"0 4 * * *\"\nkeep = 3\n",
        )
        .unwrap();
        assert!(config.server_backup.configured);
        assert_eq!(
            config.server_backup.destination,
            Some(StoreLocation::Local("/mnt/nas/cairn".into()))
        );
        assert_eq!(config.server_backup.keep, 3);
        let errors = parse(
            "[server_backup]\ndestination = \"rest:http://host/rest/x/\"\nkeep = 0\nschedule = \"often\"\n",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("/etc/cairn/cairn.toml:2:"),
            "{errors:?}"
        );
        assert!(errors[0].contains("server backups go to s3: or a local directory"));
        assert!(errors
            .iter()
            .any(|e| e.contains("keep") && e.contains("out of range")));
        let errors = parse(
            "[server_backup]\ndestination = \"/mnt/nas\"\ncredentials_file = \"/etc/x.env\"\ncolour = 1\n",
        )
        .unwrap_err();
        assert!(errors[0].contains("colour"), "{errors:?}");
    }
}

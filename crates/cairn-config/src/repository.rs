//! `[repositories.NAME]` and its `[repositories.NAME.offsite]`.

use std::path::PathBuf;

use cairn_repo::mirror::LockPolicy;
use cairn_storage::s3::ServerSideEncryption;
use cairn_storage::RetentionMode;

use crate::location::StoreLocation;
use crate::raw::{RawObjectLock, RawOffsite, RawRepository, RawRest};
use crate::secret::{SecretKeys, SecretSource};
use crate::section::Section;
use crate::units::{parse_rate, ByteSize, Duration};

/// A repository plans back up into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    pub location: StoreLocation,
    pub password: SecretSource,
    /// `AWS_*` lines for an `s3:` location (mode 0600 or stricter); without it, the AWS
    /// variables of cairn's environment.
    pub credentials_file: Option<PathBuf>,
    pub offsite: Option<Offsite>,
    /// Served to restic clients at `/rest/NAME/` by the daemon's web server; `None`: not
    /// served (no `rest` table, or `enabled = false`).
    pub rest: Option<RestEndpoint>,
    /// Server: the instance ids of the peers this repository is shared with (from
    /// `share_with = ["peer:ID"]`).
    pub share_with: Vec<String>,
}

/// `rest = { enabled = true, append_only = true, quota = "500G" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestEndpoint {
    /// Clients may add objects and remove their own locks, nothing else (as restic's
    /// rest-server `--append-only`); only the server's maintenance plan forgets and prunes.
    pub append_only: bool,
    /// Uploads that would take the repository above this many bytes are refused (507).
    pub quota: Option<ByteSize>,
}

impl Repository {
    /// Whether the web server serves this repository to restic clients.
    pub fn rest_enabled(&self) -> bool {
        self.rest.is_some()
    }
}

/// The offsite mirror of a repository, synced after a plan's prune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offsite {
    pub destination: StoreLocation,
    /// `AWS_*` lines for an `s3:` destination, as for the repository.
    pub credentials_file: Option<PathBuf>,
    /// A key pair entered in the web UI, sealed with the server's instance key; exclusive
    /// with `credentials_file`.
    pub sealed_credentials: Option<SealedCredentials>,
    /// Bytes per second on the wire; `None` is no limit.
    pub bwlimit: Option<ByteSize>,
    /// For data packs only; metadata stays in the standard class.
    pub storage_class: Option<String>,
    pub sse: Option<ServerSideEncryption>,
    /// How long an object deleted locally stays at the destination; `None`: never deleted.
    pub delete_after: Option<Duration>,
    pub transfers: usize,
    /// No successful sync for this long raises `offsite_stale`; `None`: two days.
    pub stale_after: Option<Duration>,
    /// S3 Object Lock on every object mirrored (a bucket created with Object Lock enabled).
    pub object_lock: Option<LockPolicy>,
}

/// An S3 key pair as the file holds it: both halves sealed (`sealed:v1:…`) with the instance
/// key, each for its own purpose ([`SealedCredentials::purposes`]). Only ciphertext here, so
/// printing it reveals nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl SealedCredentials {
    /// What each half is sealed for: the purposes bind a sealed value to its repository and
    /// its role, so a value copied to another repository or key does not open.
    pub fn purposes(repository: &str) -> (String, String) {
        (
            format!("offsite access_key_id of repository {repository}"),
            format!("offsite secret_access_key of repository {repository}"),
        )
    }
}

/// The form of a sealed value (`cairn_access::InstanceKey::seal`).
pub const SEALED_PREFIX: &str = "sealed:v1:";

/// `cairn mirror sync`'s defaults, so a plan's offsite behaves as the command does.
pub const OFFSITE_DELETE_AFTER_DEFAULT: Duration = Duration::from_secs(7 * 86_400);
pub const OFFSITE_TRANSFERS_DEFAULT: usize = 8;
const TRANSFERS_MAX: i64 = 256;
/// A hundred years: beyond that a retention is a mistake, not a policy.
const LOCK_DAYS_MAX: i64 = 36_500;

const LOCATION_EXAMPLE: &str = "\"/srv/backup/main\" or \"s3:https://HOST/BUCKET/PREFIX\"";

pub(crate) fn build_repository(
    section: &mut Section<'_, '_>,
    name: &str,
    raw: &RawRepository,
) -> Option<Repository> {
    let example = if raw.offsite.is_some() {
        format!("{LOCATION_EXAMPLE} (its offsite mirrors it from there)")
    } else {
        LOCATION_EXAMPLE.to_string()
    };
    let location = section
        .required("location", raw.location.as_deref(), &example)
        .and_then(|text| location(section, "location", text));
    let sealed_password = raw.password_sealed.as_ref().and_then(|value| {
        let others = raw.password_file.is_some()
            || raw.password_command.is_some()
            || raw.password_env.is_some();
        if others {
            section.invalid(
                &section.key("password_sealed"),
                "password_sealed and another password source are both set; keep one",
            );
            None
        } else if !value.starts_with(SEALED_PREFIX) {
            section.wrong(
                &section.key("password_sealed"),
                "is not a sealed value (sealed:v1:…); only cairn writes this key",
            );
            None
        } else {
            Some(SecretSource::Sealed {
                value: value.clone(),
                purpose: crate::secret::shared_password_purpose(name),
                // Set to the state directory once it is known (`Config::seal_keys_in`).
                key_dir: PathBuf::new(),
            })
        }
    });
    let password = match raw.password_sealed {
        Some(_) => sealed_password,
        None => SecretKeys::of(&raw.password_file, &raw.password_command, &raw.password_env)
            .build(section),
    };
    let no_password_key = raw.password_file.is_none()
        && raw.password_command.is_none()
        && raw.password_env.is_none()
        && raw.password_sealed.is_none();
    if no_password_key {
        let label = section.label();
        section.report(
            crate::ErrorKind::MissingKey,
            &section.key("password_file"),
            format!(
                "{label} has no password source; add password_file = \"/etc/cairn/{name}.pass\", \
                 password_command = \"COMMAND\" or password_env = \"VARIABLE\""
            ),
        );
    }
    let credentials_file =
        credentials_file(section, raw.credentials_file.as_deref(), location.as_ref());
    let offsite = raw.offsite.as_ref().and_then(|raw| {
        let path = section.key("offsite");
        let mut offsite_section = Section::new(section.reporter(), path);
        build_offsite(&mut offsite_section, raw)
    });
    let rest = raw.rest.as_ref().and_then(|raw| {
        let path = section.key("rest");
        build_rest(&mut Section::new(section.reporter(), path), raw)
    });
    let share_with = share_with(section, raw.share_with.as_deref().unwrap_or_default());
    if section.failed() {
        return None;
    }
    Some(Repository {
        name: name.to_string(),
        location: location?,
        password: password?,
        credentials_file,
        offsite,
        rest,
        share_with,
    })
}

/// `share_with = ["peer:ID", ...]`: the instance ids, each once.
fn share_with(section: &mut Section<'_, '_>, entries: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for entry in entries {
        match entry.strip_prefix("peer:").filter(|id| id.starts_with("cairn-")) {
            Some(id) if !ids.iter().any(|known| known == id) => ids.push(id.to_string()),
            Some(_) => {}
            None => section.wrong(
                &section.key("share_with"),
                format!(
                    "names {entry:?}, not a peer; write \"peer:ID\" with an id from `cairn peer list`"
                ),
            ),
        }
    }
    ids
}

/// A `rest` table means the endpoint is wanted, so `enabled` defaults to true; `enabled =
/// false` turns it off and keeps the settings. Append-only unless said otherwise: the point of
/// the endpoint is clients that cannot destroy their own history.
fn build_rest(section: &mut Section<'_, '_>, raw: &RawRest) -> Option<RestEndpoint> {
    let quota = section.parse("quota", raw.quota.as_deref(), |text| {
        match text.parse::<ByteSize>() {
            Ok(size) if size.bytes() == 0 => Err(
                "0 would refuse every upload; write a size such as \"500G\", or remove quota"
                    .to_string(),
            ),
            other => other.map_err(|e| e.to_string()),
        }
    });
    if section.failed() || raw.enabled == Some(false) {
        return None;
    }
    Some(RestEndpoint {
        append_only: raw.append_only.unwrap_or(true),
        quota,
    })
}

fn build_offsite(section: &mut Section<'_, '_>, raw: &RawOffsite) -> Option<Offsite> {
    let destination = section
        .required(
            "destination",
            raw.destination.as_deref(),
            "\"s3:https://HOST/BUCKET/PREFIX\"",
        )
        .and_then(|text| location(section, "destination", text));
    let credentials_file = credentials_file(
        section,
        raw.credentials_file.as_deref(),
        destination.as_ref(),
    );
    if let Some(StoreLocation::Rest(_)) = destination {
        // A REST server keeps objects it holds and has no place for the mirror's state.
        section.wrong(
            &section.key("destination"),
            "is a rest: URL; an offsite mirror goes to s3: or a local directory",
        );
    }
    let sealed_credentials = sealed_credentials(section, raw, destination.as_ref());
    let bwlimit = section
        .parse("bwlimit", raw.bwlimit.as_deref(), parse_rate)
        .filter(|rate| rate.bytes() > 0);
    let storage_class = raw.storage_class.clone();
    if let Some(class) = &storage_class {
        section.non_empty(&section.key("storage_class"), class, "STANDARD_IA");
    }
    let sse = section.parse("sse", raw.sse.as_deref(), |text| {
        ServerSideEncryption::parse(text).ok_or_else(|| {
            format!("{text:?} is not an encryption; write \"aes256\" or \"kms:KEY_ID\"")
        })
    });
    let delete_after = match raw.delete_after.as_deref() {
        None => Some(OFFSITE_DELETE_AFTER_DEFAULT),
        Some("never") => None,
        Some(text) => section.parse("delete_after", Some(text), |text| {
            text.parse::<Duration>()
                .map_err(|e| format!("{e}, or \"never\" to keep deleted objects"))
        }),
    };
    let transfers = match raw.transfers {
        None => OFFSITE_TRANSFERS_DEFAULT,
        Some(n @ 1..=TRANSFERS_MAX) => n as usize,
        Some(n) => {
            section.invalid(
                &section.key("transfers"),
                format!("{n} is out of range; write a number from 1 to {TRANSFERS_MAX}, e.g. {OFFSITE_TRANSFERS_DEFAULT}"),
            );
            OFFSITE_TRANSFERS_DEFAULT
        }
    };
    let stale_after = section.parse(
        "stale_after",
        raw.stale_after.as_deref(),
        str::parse::<Duration>,
    );
    let object_lock = raw.object_lock.as_ref().and_then(|raw| {
        let path = section.key("object_lock");
        let mut lock_section = Section::new(section.reporter(), path);
        build_object_lock(&mut lock_section, raw)
    });
    if let Some(StoreLocation::Local(_)) = destination {
        // The same rules as `cairn mirror sync`: these settings mean nothing for a directory.
        for (key, set) in [
            ("bwlimit", bwlimit.is_some()),
            ("storage_class", raw.storage_class.is_some()),
            ("sse", raw.sse.is_some()),
            ("object_lock", raw.object_lock.is_some()),
        ] {
            if set {
                section.wrong(
                    &section.key(key),
                    "applies to s3: destinations only; remove it for a local directory",
                );
            }
        }
    }
    if section.failed() {
        return None;
    }
    Some(Offsite {
        destination: destination?,
        credentials_file,
        sealed_credentials,
        bwlimit,
        storage_class,
        sse,
        delete_after,
        transfers,
        stale_after,
        object_lock,
    })
}

/// `object_lock = { mode = "governance" | "compliance", days = N }`, N from 1.
fn build_object_lock(section: &mut Section<'_, '_>, raw: &RawObjectLock) -> Option<LockPolicy> {
    let mode = section
        .required(
            "mode",
            raw.mode.as_deref(),
            "\"governance\" or \"compliance\"",
        )
        .and_then(|text| {
            section.parse("mode", Some(text), |text| {
                RetentionMode::parse(text).ok_or_else(|| {
                    format!("{text:?} is not a lock mode; write \"governance\" or \"compliance\"")
                })
            })
        });
    let days = section
        .required("days", raw.days, "30")
        .and_then(|days| match days {
            1..=LOCK_DAYS_MAX => Some(days as u32),
            _ => {
                section.invalid(
                    &section.key("days"),
                    format!("{days} is out of range; write a number of days from 1 to {LOCK_DAYS_MAX}, e.g. 30"),
                );
                None
            }
        });
    Some(LockPolicy {
        mode: mode?,
        days: days?,
    })
}

/// `access_key_id_sealed` and `secret_access_key_sealed`: both or neither, sealed values
/// only, and not beside a `credentials_file` (one source of credentials).
fn sealed_credentials(
    section: &mut Section<'_, '_>,
    raw: &RawOffsite,
    destination: Option<&StoreLocation>,
) -> Option<SealedCredentials> {
    let id = raw.access_key_id_sealed.as_deref();
    let secret = raw.secret_access_key_sealed.as_deref();
    if id.is_none() && secret.is_none() {
        return None;
    }
    let mut ok = true;
    for (key, value) in [
        ("access_key_id_sealed", id),
        ("secret_access_key_sealed", secret),
    ] {
        match value {
            // The value is never repeated: it may be a plaintext secret typed in by mistake.
            Some(text) if !text.starts_with(SEALED_PREFIX) => {
                section.wrong(
                    &section.key(key),
                    "is not a sealed value; set the key pair in the web UI (which seals it), or use credentials_file",
                );
                ok = false;
            }
            Some(_) => {}
            None => {
                let other = if key == "access_key_id_sealed" {
                    "secret_access_key_sealed"
                } else {
                    "access_key_id_sealed"
                };
                section.report(
                    crate::ErrorKind::MissingKey,
                    &section.key(other),
                    format!("{key} is missing beside {other}; set both halves of the key pair in the web UI"),
                );
                ok = false;
            }
        }
    }
    if raw.credentials_file.is_some() {
        section.report(
            crate::ErrorKind::Conflict,
            &section.key("credentials_file"),
            "credentials_file and sealed credentials are both set; keep one source of S3 credentials".to_string(),
        );
        ok = false;
    }
    if let Some(StoreLocation::Local(_)) = destination {
        section.wrong(
            &section.key("access_key_id_sealed"),
            "applies to s3: destinations only; remove it for a local directory",
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(SealedCredentials {
        access_key_id: id?.to_string(),
        secret_access_key: secret?.to_string(),
    })
}

/// A repository or offsite location; a local one must be absolute.
fn location(section: &mut Section<'_, '_>, key: &str, text: &str) -> Option<StoreLocation> {
    let location = section.parse(key, Some(text), StoreLocation::parse)?;
    if let StoreLocation::Local(path) = &location {
        let path = path.to_string_lossy().into_owned();
        section.absolute_path(&section.key(key), &path, "/srv/backup/main")?;
    }
    if let StoreLocation::Rest(rest) = &location {
        // The value is not repeated: it holds a password.
        if rest.has_password() {
            section.wrong(
                &section.key(key),
                "holds a password; write the URL without USER:PASSWORD@ and put \
                 RESTIC_REST_USERNAME=… and RESTIC_REST_PASSWORD=… lines in a credentials_file (mode 0600)",
            );
            return None;
        }
    }
    Some(location)
}

/// A credentials file, allowed only beside an `s3:` or `rest:` location.
fn credentials_file(
    section: &mut Section<'_, '_>,
    text: Option<&str>,
    location: Option<&StoreLocation>,
) -> Option<PathBuf> {
    let text = text?;
    let key = section.key("credentials_file");
    if let Some(StoreLocation::Local(_)) = location {
        section.wrong(
            &key,
            "applies to s3: and rest: locations only; remove it for a local directory",
        );
        return None;
    }
    section.absolute_path(&key, text, "/etc/cairn/s3.env")
}

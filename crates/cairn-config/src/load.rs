//! Finding, reading and layering the config: defaults < file < environment < flags.
//!
//! Defaults are in the model's builders; the file is read and validated as a whole; then
//! [`Overrides`] from the environment, and over them from flags, replace single values. The
//! daemon reloads by calling [`load`] again and keeps its old config when that fails.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{ConfigError, ConfigErrors, ErrorKind};
use crate::files::check_referenced_files;
use crate::source::SourceText;

/// Where the config is read from unless `--config` or `CAIRN_CONFIG` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/cairn/cairn.toml";

/// The environment variable naming the config file.
pub const CONFIG_PATH_ENV: &str = "CAIRN_CONFIG";

/// The environment variable that overrides `state_dir`.
pub const STATE_DIR_ENV: &str = "CAIRN_STATE_DIR";

/// One value set outside the file, and where it was set (named in errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override<T> {
    pub value: T,
    /// `CAIRN_STATE_DIR`, `--state-dir`, …
    pub origin: String,
}

/// Values that replace the file's. Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub state_dir: Option<Override<PathBuf>>,
}

impl Overrides {
    /// The overrides the environment sets (`CAIRN_STATE_DIR`); empty variables set nothing.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Overrides {
        let read = |name: &str| lookup(name).filter(|v| !v.is_empty());
        Overrides {
            state_dir: read(STATE_DIR_ENV).map(|value| Override {
                value: PathBuf::from(value),
                origin: STATE_DIR_ENV.to_string(),
            }),
        }
    }

    /// These overrides, with `lower`'s where these set nothing (flags over environment).
    pub fn over(self, lower: Overrides) -> Overrides {
        Overrides {
            state_dir: self.state_dir.or(lower.state_dir),
        }
    }

    /// Applies the overrides to a validated config, checking each value as the file's is.
    pub fn apply_to(&self, config: &mut Config) -> Result<(), ConfigErrors> {
        if let Some(state_dir) = &self.state_dir {
            if !state_dir.value.is_absolute() {
                return Err(ConfigErrors::new(vec![ConfigError::whole_file(
                    ErrorKind::InvalidValue,
                    config.source().path(),
                    format!(
                        "{} {:?} is not an absolute path; write one from /, e.g. \"/var/lib/cairn\"",
                        state_dir.origin,
                        state_dir.value.display().to_string()
                    ),
                )]));
            }
            config.state_dir = state_dir.value.clone();
        }
        Ok(())
    }
}

/// The config file to read: the one given (flag or `CAIRN_CONFIG`), else the default.
pub fn config_path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH), Path::to_path_buf)
}

/// Reads a config file's text.
pub fn read(path: &Path) -> Result<SourceText, ConfigErrors> {
    let failed = |message: String| {
        ConfigErrors::new(vec![ConfigError::whole_file(ErrorKind::Io, path, message)])
    };
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceText::new(path, text)),
            Err(_) => Err(failed("is not UTF-8 text; save it as UTF-8".into())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(failed(
            "does not exist; write one (`cairn config example` prints a start) or pass --config FILE"
                .to_string(),
        )),
        Err(e) => Err(failed(format!("cannot be read ({e}); check its permissions"))),
    }
}

/// Reads, validates and layers the config: the file, the files it references, then the
/// overrides. Every error found is returned, one line each.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigErrors> {
    let mut config = Config::parse(read(path)?)?;
    let file_errors = check_referenced_files(&config);
    if !file_errors.is_empty() {
        return Err(ConfigErrors::new(file_errors));
    }
    overrides.apply_to(&mut config)?;
    merge_managed_file(&mut config)?;
    Ok(config)
}

/// Merges the managed file of the config's state directory (`STATE_DIR/managed.toml`, a
/// multihost server's plans and repositories), when there is one. Whoever builds a config
/// for the daemon from text (a reload, an edit in the web UI) calls this after fixing
/// `state_dir`, so the managed tables are never dropped.
pub fn merge_managed_file(config: &mut Config) -> Result<(), ConfigErrors> {
    config.seal_keys_in_state_dir();
    let managed = crate::managed::managed_path(&config.state_dir);
    if managed.exists() {
        merge_checked(config, read(&managed)?)?;
    }
    Ok(())
}

/// Loads the config with `managed` (text for the managed file) in place of the managed file:
/// how a client validates a multihost server's config before writing it.
pub fn load_with_managed(
    path: &Path,
    overrides: &Overrides,
    managed: &str,
) -> Result<Config, ConfigErrors> {
    let mut config = Config::parse(read(path)?)?;
    let file_errors = check_referenced_files(&config);
    if !file_errors.is_empty() {
        return Err(ConfigErrors::new(file_errors));
    }
    overrides.apply_to(&mut config)?;
    config.seal_keys_in_state_dir();
    let source = SourceText::new(crate::managed::managed_path(&config.state_dir), managed);
    merge_checked(&mut config, source)?;
    Ok(config)
}

/// Merges the managed file and checks the files its tables reference.
fn merge_checked(config: &mut Config, source: SourceText) -> Result<(), ConfigErrors> {
    let mut merged = config.clone();
    crate::managed::merge_managed(&mut merged, source)?;
    let file_errors = check_referenced_files(&merged);
    if !file_errors.is_empty() {
        return Err(ConfigErrors::new(file_errors));
    }
    *config = merged;
    Ok(())
}

//! Where a password comes from: a file, a command's output, or an environment variable. The
//! config only ever references a secret; it never holds one.

use std::path::PathBuf;

use crate::error::ErrorKind;
use crate::section::Section;

/// A reference to a password (`password_file`, `password_command` or `password_env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The file's content, surrounding whitespace trimmed (as restic reads password files).
    File(PathBuf),
    /// The output of this command run with `sh -c`, trimmed likewise.
    Command(String),
    /// The value of this environment variable.
    Env(String),
    /// A value sealed with the instance key of `key_dir` (the state directory) for
    /// `purpose`: the password of a repository a multihost server shared with this client.
    Sealed {
        value: String,
        purpose: String,
        key_dir: PathBuf,
    },
}

/// What a shared repository's password is sealed for (binds it to the repository's name).
pub fn shared_password_purpose(repository: &str) -> String {
    format!("password of shared repository {repository}")
}

/// The three keys of a password source as written in one table.
pub struct SecretKeys<'t> {
    pub file: Option<&'t str>,
    pub command: Option<&'t str>,
    pub env: Option<&'t str>,
}

impl<'t> SecretKeys<'t> {
    pub fn of(
        file: &'t Option<String>,
        command: &'t Option<String>,
        env: &'t Option<String>,
    ) -> SecretKeys<'t> {
        SecretKeys {
            file: file.as_deref(),
            command: command.as_deref(),
            env: env.as_deref(),
        }
    }

    /// The one source these keys name. None when none is given (the caller decides whether
    /// that is allowed) or when they are wrong (reported). Values are never repeated in
    /// messages: a password typed into the wrong key must not end up in a log.
    pub fn build(&self, section: &mut Section<'_, '_>) -> Option<SecretSource> {
        let given: Vec<(&str, &str)> = [
            ("password_file", self.file),
            ("password_command", self.command),
            ("password_env", self.env),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key, v)))
        .collect();
        if given.len() > 1 {
            report_conflict(section, &given);
            return None;
        }
        let (key, value) = *given.first()?;
        let path = section.key(key);
        match key {
            "password_file" if !value.starts_with('/') => {
                section.wrong(
                    &path,
                    "is not an absolute path; write the password file's full path, e.g. \"/etc/cairn/main.pass\"",
                );
                None
            }
            "password_file" => Some(SecretSource::File(PathBuf::from(value))),
            "password_command" if value.trim().is_empty() => {
                section.wrong(&path, "is empty; write a command that prints the password");
                None
            }
            "password_command" => Some(SecretSource::Command(value.to_string())),
            _ if !is_variable_name(value) => {
                section.wrong(
                    &path,
                    "is not an environment variable name; write the variable's name \
                     (letters, digits and _), e.g. \"CAIRN_PASSWORD\", never the password",
                );
                None
            }
            _ => Some(SecretSource::Env(value.to_string())),
        }
    }
}

/// Two or more sources: reported at each one after the first written in the file.
fn report_conflict(section: &mut Section<'_, '_>, given: &[(&str, &str)]) {
    let mut keys: Vec<(usize, &str)> = given
        .iter()
        .map(|(key, _)| {
            let at = section
                .reporter()
                .positions()
                .key_span(&section.key(key))
                .map_or(0, |span| span.start);
            (at, *key)
        })
        .collect();
    keys.sort();
    let label = section.label();
    let first = keys[0].1;
    for (_, key) in &keys[1..] {
        let path = section.key(key);
        section.report(
            ErrorKind::Conflict,
            &path,
            format!("{label} has both {first} and {key}; keep one password source"),
        );
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

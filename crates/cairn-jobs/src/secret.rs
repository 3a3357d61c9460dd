//! Reading a password from where the config says it is.
//!
//! Files and command output are trimmed of surrounding whitespace, as restic reads password
//! files, so one file serves cairn and restic alike. An empty result is an error: an empty
//! password is always a mistake (a file not yet filled, a command that printed nothing).

use std::process::{Command, Stdio};

use cairn_config::SecretSource;
use cairn_crypto::Secret;

use crate::{JobError, Result};

/// Reads `source`; `what` names the secret in messages (`password of repository main`).
pub fn read(source: &SecretSource, what: &str) -> Result<Secret<Vec<u8>>> {
    let fail = |reason: String| JobError::Secret {
        what: what.to_string(),
        reason,
    };
    let value = match source {
        SecretSource::File(path) => std::fs::read(path)
            .map(trimmed)
            .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?,
        SecretSource::Command(command) => run(command).map_err(fail)?,
        SecretSource::Env(name) => match std::env::var_os(name) {
            Some(value) => Secret::new(value.into_encoded_bytes()),
            None => return Err(fail(format!("the environment variable {name} is not set"))),
        },
        SecretSource::Sealed {
            value,
            purpose,
            key_dir,
        } => {
            let key = cairn_access::InstanceKey::load_or_create(key_dir)
                .map_err(|e| fail(format!("cannot load the instance key: {e}")))?;
            Secret::new(key.open(purpose, value).map_err(|e| {
                fail(format!(
                    "the sealed password does not open ({e}); the server shares it again on its next connection"
                ))
            })?)
        }
    };
    if value.expose().is_empty() {
        return Err(fail(format!(
            "{} gives an empty password",
            describe(source)
        )));
    }
    Ok(value)
}

fn describe(source: &SecretSource) -> String {
    match source {
        SecretSource::File(path) => format!("file {}", path.display()),
        SecretSource::Command(_) => "the password command".into(),
        SecretSource::Env(name) => format!("variable {name}"),
        SecretSource::Sealed { .. } => "the sealed password".into(),
    }
}

/// Runs `sh -c COMMAND`; its output is the secret. Its error output goes to ours (it may say
/// why it failed; it is not the secret).
pub fn run(command: &str) -> std::result::Result<Secret<Vec<u8>>, String> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the password command: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the password command failed ({}); fix it or use a password file",
            output.status
        ));
    }
    Ok(trimmed(output.stdout))
}

/// `bytes` without surrounding ASCII whitespace.
pub fn trimmed(bytes: Vec<u8>) -> Secret<Vec<u8>> {
    let secret = Secret::new(bytes);
    let value = secret.expose();
    let start = value
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    Secret::new(value[start..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_commands_are_trimmed_and_empty_secrets_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, "  hunter2 \n").unwrap();
        let secret = read(&SecretSource::File(file.clone()), "password").unwrap();
        assert_eq!(secret.expose(), b"hunter2");
        let secret = read(&SecretSource::Command("printf ' s3cret\\n'".into()), "pw").unwrap();
        assert_eq!(secret.expose(), b"s3cret");
        std::fs::write(&file, "\n").unwrap();
        let error = read(&SecretSource::File(file), "password of repository main").unwrap_err();
        assert!(error.to_string().contains("empty password"), "{error}");
        let error = read(&SecretSource::Command("exit 3".into()), "pw").unwrap_err();
        assert!(error.to_string().contains("failed"), "{error}");
        let error = read(&SecretSource::Env("CAIRN_TEST_UNSET_VARIABLE".into()), "pw").unwrap_err();
        assert!(error
            .to_string()
            .contains("CAIRN_TEST_UNSET_VARIABLE is not set"));
    }
}

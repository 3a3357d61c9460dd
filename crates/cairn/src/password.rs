//! Where the repository password comes from: `--password-file`, `--password-command`,
//! `CAIRN_PASSWORD`, or a prompt on a terminal. The password is kept in a `Secret` and never
//! printed.

use std::io::IsTerminal;
use std::process::Command;

use anyhow::{bail, Context, Result};
use cairn_crypto::Secret;
// restic trims surrounding whitespace from file and command passwords; so do we (the rule of
// the config's password sources too), so one password file opens a repository with either tool.
use cairn_jobs::secret::trimmed;

use crate::cli::GlobalArgs;

pub fn from_file(path: &std::path::Path) -> Result<Secret<Vec<u8>>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read password file {}", path.display()))?;
    Ok(trimmed(bytes))
}

fn from_command(command: &str) -> Result<Secret<Vec<u8>>> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run --password-command")?;
    if !output.status.success() {
        bail!(
            "--password-command failed ({}); fix the command or use --password-file",
            output.status
        );
    }
    Ok(trimmed(output.stdout))
}

/// The password to open an existing repository.
pub fn get(global: &GlobalArgs) -> Result<Secret<Vec<u8>>> {
    let password = if let Some(path) = &global.password_file {
        from_file(path)?
    } else if let Some(command) = &global.password_command {
        from_command(command)?
    } else if let Some(value) = std::env::var_os("CAIRN_PASSWORD") {
        Secret::new(value.into_encoded_bytes())
    } else if std::io::stdin().is_terminal() {
        Secret::new(rpassword::prompt_password("enter password for repository: ")?.into_bytes())
    } else {
        bail!("no password given: use --password-file, --password-command or CAIRN_PASSWORD");
    };
    if password.expose().is_empty() {
        bail!("the password is empty; give a non-empty password");
    }
    Ok(password)
}

/// A new password (init, key add): from the given file, or asked twice on a terminal.
pub fn new_password(
    global: &GlobalArgs,
    file: Option<&std::path::Path>,
) -> Result<Secret<Vec<u8>>> {
    if let Some(path) = file {
        let password = from_file(path)?;
        if password.expose().is_empty() {
            bail!("the new password in {} is empty", path.display());
        }
        return Ok(password);
    }
    if global.password_file.is_some()
        || global.password_command.is_some()
        || std::env::var_os("CAIRN_PASSWORD").is_some()
    {
        return get(global);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no new password given: use --new-password-file (or --password-file for init)");
    }
    let first = Secret::new(rpassword::prompt_password("enter new password: ")?.into_bytes());
    let second =
        Secret::new(rpassword::prompt_password("enter the password again: ")?.into_bytes());
    if first.expose() != second.expose() {
        bail!("the passwords do not match");
    }
    if first.expose().is_empty() {
        bail!("the password is empty; give a non-empty password");
    }
    Ok(first)
}

/// The password of a second repository (the source of `copy`): from `file`, from `command`,
/// from `CAIRN_FROM_PASSWORD`, or asked on a terminal. Errors name the source's options, so
/// the user knows which of two passwords is missing.
pub fn get_source(
    file: Option<&std::path::Path>,
    command: Option<&str>,
) -> Result<Secret<Vec<u8>>> {
    let password = if let Some(path) = file {
        from_file(path)?
    } else if let Some(command) = command {
        let output = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("cannot run --from-password-command")?;
        if !output.status.success() {
            bail!(
                "--from-password-command failed ({}); fix the command or use --from-password-file",
                output.status
            );
        }
        trimmed(output.stdout)
    } else if let Some(value) = std::env::var_os("CAIRN_FROM_PASSWORD") {
        Secret::new(value.into_encoded_bytes())
    } else if std::io::stdin().is_terminal() {
        Secret::new(
            rpassword::prompt_password("enter password for the source repository: ")?.into_bytes(),
        )
    } else {
        bail!("no password given for the source repository: use --from-password-file, --from-password-command or CAIRN_FROM_PASSWORD");
    };
    if password.expose().is_empty() {
        bail!("the source repository's password is empty; give a non-empty password");
    }
    Ok(password)
}

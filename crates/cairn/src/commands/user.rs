//! `cairn user add|list|remove|passwd|reset-2fa`: the web server's users, straight in the
//! state database (SQLite in WAL mode, so this works while the daemon runs). Every change is
//! written to the audit log as `local:<unix user>` from `cli`.
//!
//! A new password comes from `--password-file`, else from standard input when it is not a
//! terminal, else from a prompt asked twice without echo.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cairn_access::accounts::system_clock;
use cairn_access::{Accounts, AuditEntry, InstanceKey, Role, SessionPolicy};
use cairn_crypto::Secret;
use cairn_state::StateStore;
use serde_json::json;

use crate::cli::{GlobalArgs, UserCommand};

/// Exit code of a usage error (what clap returns for its own).
pub const EXIT_USAGE: u8 = 2;

pub fn run(global: &GlobalArgs, command: UserCommand) -> Result<u8> {
    let accounts = open_accounts(global)?;
    match command {
        UserCommand::Add { name, role } => {
            let role = match parse_role(&role) {
                Ok(role) => role,
                Err(code) => return Ok(code),
            };
            let password = new_password(global)?;
            let added = accounts.add_user(&name, role, password_text(&password)?);
            audited(&accounts, "user.add", &name, added.map(|_| ()))?;
            println!("added user {name} ({role})");
        }
        UserCommand::List => list(global, &accounts)?,
        UserCommand::Remove { name } => {
            audited(&accounts, "user.remove", &name, accounts.remove_user(&name))?;
            println!("removed user {name}; its sessions ended");
        }
        UserCommand::Passwd { name } => {
            // Known before a password is asked for, so a typo does not cost a prompt.
            accounts.user(&name)?;
            let password = new_password(global)?;
            let set = accounts.set_password(&name, password_text(&password)?);
            audited(&accounts, "user.passwd", &name, set)?;
            println!("set the password of user {name}; its sessions ended");
        }
        UserCommand::Reset2fa { name } => {
            let reset = accounts.reset_second_factor(&name);
            audited(&accounts, "user.reset-2fa", &name, reset)?;
            println!("turned off the second factor of user {name}");
        }
    }
    Ok(0)
}

fn list(global: &GlobalArgs, accounts: &Accounts) -> Result<()> {
    let users = accounts.users()?;
    if global.json {
        return super::print_json(&users);
    }
    println!("{:<24} {:<9} {:<4} created", "name", "role", "2fa");
    for user in &users {
        println!(
            "{:<24} {:<9} {:<4} {}",
            user.name,
            user.role.as_str(),
            if user.totp_enabled { "on" } else { "off" },
            crate::format::json_time(&json!(user.created_at))
        );
    }
    Ok(())
}

/// The accounts in the config's state directory, with its instance key.
pub(super) fn open_accounts(global: &GlobalArgs) -> Result<Accounts> {
    let config = super::load_config(global)?;
    let state_dir = &config.state_dir;
    let state = StateStore::open(state_dir)
        .with_context(|| format!("cannot open the state in {}", state_dir.display()))?;
    let key = InstanceKey::load_or_create(state_dir)?;
    let policy = config.server.as_ref().map_or(
        SessionPolicy {
            idle: cairn_config::SESSION_IDLE_DEFAULT.as_std(),
            max_age: cairn_config::SESSION_MAX_AGE_DEFAULT.as_std(),
        },
        |server| SessionPolicy {
            idle: server.session_idle_timeout.as_std(),
            max_age: server.session_max_age.as_std(),
        },
    );
    Ok(Accounts::new(
        Arc::new(state),
        Arc::new(key),
        system_clock(),
        policy,
    ))
}

/// A role as typed; a bad one is a usage error (one line, exit 2).
pub(super) fn parse_role(text: &str) -> std::result::Result<Role, u8> {
    text.parse::<Role>()
        .map_err(|error| usage(&error.to_string()))
}

/// Prints a usage error; its exit code.
pub(super) fn usage(message: &str) -> u8 {
    eprintln!("cairn: {message}");
    EXIT_USAGE
}

/// Writes the audit record of a CLI change, then passes its result on.
pub(super) fn audited<T>(
    accounts: &Accounts,
    action: &str,
    target: &str,
    result: cairn_access::accounts::Result<T>,
) -> Result<T> {
    let actor = unix_actor();
    let error = result.as_ref().err().map(|e| e.to_string());
    accounts.audit(&AuditEntry {
        actor: &actor,
        address: "cli",
        action,
        target,
        result: error.as_deref().map_or(Ok(()), Err),
    })?;
    Ok(result?)
}

/// How the audit log names whoever runs the CLI: `local:<unix user>`.
pub(super) fn unix_actor() -> String {
    format!("local:{}", unix_user())
}

/// The name of the user running cairn (its uid when it has none).
fn unix_user() -> String {
    // SAFETY: geteuid cannot fail and touches no memory.
    let uid = unsafe { libc::geteuid() };
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid value of the plain C struct getpwuid_r fills in.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to live memory of the stated size; the strings getpwuid_r
    // writes stay in `buffer`, which outlives their use below.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || entry.pw_name.is_null() {
        return uid.to_string();
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string inside `buffer`.
    unsafe { std::ffi::CStr::from_ptr(entry.pw_name) }
        .to_string_lossy()
        .into_owned()
}

/// The `--password-file` given on this command line. The global option also reads
/// `CAIRN_PASSWORD_FILE`, which holds a *repository* password; that must never silently
/// become a web user's password, so only the explicit flag counts here.
pub(super) fn explicit_password_file(global: &GlobalArgs) -> Option<&Path> {
    let given = std::env::args_os().any(|arg| {
        let arg = arg.to_string_lossy();
        arg == "--password-file" || arg.starts_with("--password-file=")
    });
    global.password_file.as_deref().filter(|_| given)
}

/// A new user password: the file, else standard input (not a terminal), else asked twice.
fn new_password(global: &GlobalArgs) -> Result<Secret<Vec<u8>>> {
    let password = if let Some(path) = explicit_password_file(global) {
        crate::password::from_file(path)?
    } else if !std::io::stdin().is_terminal() {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the password from standard input")?;
        cairn_jobs::secret::trimmed(bytes)
    } else {
        let first = Secret::new(rpassword::prompt_password("new password: ")?.into_bytes());
        let second = Secret::new(rpassword::prompt_password("the password again: ")?.into_bytes());
        if first.expose() != second.expose() {
            bail!("the passwords do not match; run the command again");
        }
        first
    };
    if password.expose().is_empty() {
        bail!("the password is empty; give one of at least 12 characters");
    }
    Ok(password)
}

fn password_text(password: &Secret<Vec<u8>>) -> Result<&str> {
    std::str::from_utf8(password.expose())
        .ok()
        .context("the password is not UTF-8 text; use a password of printable characters")
}

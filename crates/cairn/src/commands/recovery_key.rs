//! `cairn recovery-key show --once | rotate [--passphrase-file F]`: the key that opens the
//! server's self-backups. The server keeps only its public half; a generated secret is
//! printed once (alone on standard output) and deleted.

use anyhow::{Context, Result};
use cairn_access::RecoveryKey;
use cairn_state::StateStore;

use crate::cli::{GlobalArgs, RecoveryKeyCommand};

pub fn run(global: &GlobalArgs, command: RecoveryKeyCommand) -> Result<u8> {
    let config = super::load_config(global)?;
    // Makes the state directory (0700) when this is the first command to use it.
    drop(StateStore::open(&config.state_dir)?);
    match command {
        RecoveryKeyCommand::Show { once: _ } => {
            let secret = RecoveryKey::show_once(&config.state_dir)?;
            println!("{secret}");
            if !global.quiet {
                eprintln!(
                    "cairn: keep this recovery key outside this server (a password manager, a safe): \
                     `cairn server-restore` needs it, and it is not shown again"
                );
            }
        }
        RecoveryKeyCommand::Rotate { passphrase_file } => {
            let passphrase = passphrase_file
                .as_ref()
                .map(|path| {
                    let text = std::fs::read_to_string(path).with_context(|| {
                        format!("cannot read the passphrase file {}", path.display())
                    })?;
                    Ok::<_, anyhow::Error>(text.lines().next().unwrap_or("").to_string())
                })
                .transpose()?;
            RecoveryKey::rotate(&config.state_dir, passphrase.as_deref())?;
            if !global.quiet {
                match &passphrase_file {
                    Some(path) => println!(
                        "the recovery key is now derived from the passphrase in {}; server backups made before still need the old key",
                        path.display()
                    ),
                    None => println!(
                        "a new recovery key is made; run `cairn recovery-key show --once` to see it (server backups made before still need the old key)"
                    ),
                }
            }
        }
    }
    Ok(0)
}

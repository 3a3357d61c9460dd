//! `cairn tag`.

use anyhow::{bail, Result};

use crate::cli::{GlobalArgs, TagArgs};

pub fn run(_global: &GlobalArgs, _args: TagArgs) -> Result<u8> {
    bail!("`cairn tag` is being built")
}

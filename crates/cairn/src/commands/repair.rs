//! `cairn repair`.

use anyhow::{bail, Result};

use crate::cli::{GlobalArgs, RepairCommand};

pub fn run(_global: &GlobalArgs, _args: RepairCommand) -> Result<u8> {
    bail!("`cairn repair` is being built")
}

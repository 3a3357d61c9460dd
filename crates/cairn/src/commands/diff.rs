//! `cairn diff`.

use anyhow::{bail, Result};

use crate::cli::{DiffArgs, GlobalArgs};

pub fn run(_global: &GlobalArgs, _args: DiffArgs) -> Result<u8> {
    bail!("`cairn diff` is being built")
}

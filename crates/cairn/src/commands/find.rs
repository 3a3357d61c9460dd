//! `cairn find`.

use anyhow::{bail, Result};

use crate::cli::{FindArgs, GlobalArgs};

pub fn run(_global: &GlobalArgs, _args: FindArgs) -> Result<u8> {
    bail!("`cairn find` is being built")
}

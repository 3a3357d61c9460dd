//! `cairn copy`.

use anyhow::{bail, Result};

use crate::cli::{CopyArgs, GlobalArgs};

pub fn run(_global: &GlobalArgs, _args: CopyArgs) -> Result<u8> {
    bail!("`cairn copy` is being built")
}

//! `cairn stats`.

use anyhow::{bail, Result};

use crate::cli::{GlobalArgs, StatsArgs};

pub fn run(_global: &GlobalArgs, _args: StatsArgs) -> Result<u8> {
    bail!("`cairn stats` is being built")
}

//! `cairn catalog`: the snapshot list and file catalog of the manifest beside a repository.

use anyhow::Result;
use cairn_repo::mirror::manifest::read_manifest;

use crate::cli::{CatalogArgs, GlobalArgs};
use crate::{format, repository};

pub fn run(global: &GlobalArgs, args: CatalogArgs) -> Result<u8> {
    let repo = repository::open(global)?;
    let manifest = read_manifest(&repo)?;
    match &args.snapshot {
        None => {
            if global.json {
                return crate::commands::print_json(&manifest.snapshots).map(|()| 0);
            }
            println!(
                "{:<10} {:<25} {:<16} {:>9} {:>12}  paths",
                "id", "time", "host", "files", "size"
            );
            for s in &manifest.snapshots {
                println!(
                    "{:<10} {:<25} {:<16} {:>9} {:>12}  {}",
                    &s.id[..8.min(s.id.len())],
                    s.time,
                    s.hostname,
                    s.files,
                    format::bytes(s.bytes),
                    s.paths.join(", ")
                );
            }
            println!(
                "{} snapshots (manifest written {})",
                manifest.snapshots.len(),
                manifest.written
            );
        }
        Some(wanted) => {
            let (_, files) = manifest.files_of(wanted)?;
            if global.json {
                return crate::commands::print_json(&files).map(|()| 0);
            }
            for file in files {
                println!("{:>12}  {}  {}", file.size, file.mtime, file.path);
            }
        }
    }
    Ok(0)
}

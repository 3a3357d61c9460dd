//! `cairn mirror orphans`: repositories in a bucket that no known local repository owns
//! (a host that was retired, a mirror left behind after a rename). The search is
//! `cairn_jobs::orphans::find`, which the API's `/api/v1/offsite/orphans` calls too.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cairn_repo::Repository;
use cairn_storage::{LocalStore, S3Location, Storage};

use crate::cli::{GlobalArgs, MirrorOrphansArgs};
use crate::password;

pub fn run(global: &GlobalArgs, args: MirrorOrphansArgs) -> Result<u8> {
    if !S3Location::is_s3_url(&args.location) {
        bail!("mirror orphans searches S3: use s3:https://HOST/BUCKET[/PREFIX]");
    }
    let location = S3Location::parse(&args.location)?;
    let options = crate::s3::options(global, &location)?;
    let password = password::get(global)?;
    let mut known_ids = BTreeSet::new();
    for path in &args.known {
        let storage: Arc<dyn Storage> = Arc::new(LocalStore::new(path));
        let repo = Repository::open(storage, password.expose())
            .with_context(|| format!("--known {}", path.display()))?;
        known_ids.insert(repo.config().id.to_string());
    }

    let found = cairn_jobs::orphans::find(
        &location,
        options,
        password.expose(),
        &known_ids,
        args.max_depth,
    )?;

    if global.json {
        crate::commands::print_json(&found)?;
    } else {
        for f in &found {
            let mark = match f.status {
                "orphan" => "ORPHAN  ",
                "unopened" => "UNOPENED",
                _ => "known   ",
            };
            println!(
                "{mark} {}  {} snapshots, newest {}{}",
                f.location,
                f.snapshots,
                f.newest_snapshot.as_deref().unwrap_or("unknown"),
                if f.status == "unopened" {
                    " (the password does not open it)"
                } else {
                    ""
                }
            );
        }
        let orphans = found.iter().filter(|f| f.status == "orphan").count();
        println!(
            "{} repositories under {location}, {orphans} orphaned",
            found.len()
        );
    }
    Ok(0)
}

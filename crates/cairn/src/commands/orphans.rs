//! `cairn mirror orphans`: repositories in a bucket that no known local repository owns
//! (a host that was retired, a mirror left behind after a rename).

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cairn_repo::snapshots::load_readable_snapshots;
use cairn_repo::{RepoError, Repository};
use cairn_storage::{FileKind, LocalStore, S3Location, S3Store, Storage};
use serde::Serialize;

use crate::cli::{GlobalArgs, MirrorOrphansArgs};
use crate::password;

#[derive(Debug, Serialize)]
struct FoundRepository {
    location: String,
    prefix: String,
    /// The repository id, when the password opens it.
    id: Option<String>,
    snapshots: usize,
    newest_snapshot: Option<String>,
    /// `known`, `orphan`, or `unopened` (the password does not open it).
    status: &'static str,
}

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

    let root = S3Store::open(location.clone(), options)?;
    let mut found = Vec::new();
    for prefix in root.find_repositories(args.max_depth)? {
        let full = if location.prefix.is_empty() {
            prefix.clone()
        } else if prefix.is_empty() {
            location.prefix.clone()
        } else {
            format!("{}/{prefix}", location.prefix)
        };
        let store = Arc::new(root.at_prefix(&full)?);
        let url = store.s3_location().to_string();
        let snapshots = store.list(FileKind::Snapshot)?.len();
        let (id, newest_snapshot, status) = match Repository::open(store, password.expose()) {
            Ok(repo) => {
                let id = repo.config().id.to_string();
                let newest = load_readable_snapshots(&repo)?
                    .into_iter()
                    .map(|(_, s)| s.time)
                    .max()
                    .map(|t| t.to_rfc3339());
                let status = if known_ids.contains(&id) {
                    "known"
                } else {
                    "orphan"
                };
                (Some(id), newest, status)
            }
            Err(RepoError::WrongPassword { .. }) => (None, None, "unopened"),
            Err(e) => return Err(e.into()),
        };
        let entry = FoundRepository {
            location: url,
            prefix: full,
            id,
            snapshots,
            newest_snapshot,
            status,
        };
        found.push(entry);
    }

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

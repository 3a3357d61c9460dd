//! `cairn tag`: add, remove or replace the tags of snapshots.

use anyhow::{bail, Result};
use cairn_repo::selection::SnapshotSelection;
use cairn_repo::tag::{change_tags, TagChange};

use crate::cli::{GlobalArgs, TagArgs};
use crate::repository;

/// Tags from repeated `--x a,b` options, as restic splits them (empty entries dropped).
fn tag_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn change(args: &TagArgs) -> Result<TagChange> {
    let (add, remove) = (tag_list(&args.add), tag_list(&args.remove));
    if !args.set.is_empty() {
        if !args.add.is_empty() || !args.remove.is_empty() {
            bail!("--set replaces all tags and cannot be combined with --add or --remove; use --set alone, or --add/--remove");
        }
        // `--set ""` removes every tag, as in restic.
        return Ok(TagChange::Set(tag_list(&args.set)));
    }
    if add.is_empty() && remove.is_empty() {
        bail!("nothing to do: give tags with --add, --remove or --set");
    }
    Ok(TagChange::AddRemove { add, remove })
}

pub fn run(global: &GlobalArgs, args: TagArgs) -> Result<u8> {
    let change = change(&args)?;
    let repo = repository::open(global)?;
    let selection = SnapshotSelection {
        ids: args.ids.clone(),
        filter: args.filter.to_filter(),
    };
    let summary = change_tags(&repo, &selection, &change)?;
    if global.json {
        super::print_json(&summary)?;
    } else if !global.quiet {
        for changed in &summary.changed {
            println!(
                "snapshot {} is now {} with tags [{}]",
                changed.old.short(),
                changed.new.short(),
                changed.tags.join(", ")
            );
        }
        println!(
            "modified tags on {} snapshots ({} unchanged)",
            summary.changed.len(),
            summary.unchanged.len()
        );
    }
    Ok(0)
}

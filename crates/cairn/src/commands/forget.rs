//! `cairn forget`: remove snapshots by id or by a retention policy (then `--prune`).

use anyhow::{bail, Result};
use cairn_format::{Id, Snapshot};
use cairn_repo::forget::{
    plan_forget, remove_snapshots, CalendarDuration, ForgetGroup, GroupBy, KeepPolicy,
};
use cairn_repo::snapshots::{find_snapshot, load_all_snapshots, resolve_snapshot_id};

use crate::cli::{ForgetArgs, GlobalArgs};
use crate::repository;

fn count(name: &str, value: Option<i64>) -> Result<u32> {
    match value {
        None => Ok(0),
        Some(n) if n < 0 => bail!("--{name} {n} is invalid: give 0 or more snapshots to keep"),
        Some(n) => u32::try_from(n).map_err(|_| anyhow::anyhow!("--{name} {n} is too large")),
    }
}

fn duration(value: &Option<String>) -> Result<CalendarDuration> {
    Ok(match value {
        None => CalendarDuration::default(),
        Some(text) => text.parse()?,
    })
}

pub fn policy(args: &ForgetArgs) -> Result<KeepPolicy> {
    Ok(KeepPolicy {
        last: count("keep-last", args.keep_last)?,
        hourly: count("keep-hourly", args.keep_hourly)?,
        daily: count("keep-daily", args.keep_daily)?,
        weekly: count("keep-weekly", args.keep_weekly)?,
        monthly: count("keep-monthly", args.keep_monthly)?,
        yearly: count("keep-yearly", args.keep_yearly)?,
        within: duration(&args.keep_within)?,
        within_hourly: duration(&args.keep_within_hourly)?,
        within_daily: duration(&args.keep_within_daily)?,
        within_weekly: duration(&args.keep_within_weekly)?,
        within_monthly: duration(&args.keep_within_monthly)?,
        within_yearly: duration(&args.keep_within_yearly)?,
        tags: args
            .keep_tag
            .iter()
            .map(|list| {
                list.split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect(),
    })
}

fn snapshot_json(id: &Id, snapshot: &Snapshot) -> Result<serde_json::Value> {
    super::snapshots::snapshot_json(id, snapshot)
}

/// restic's `forget --json` form of a group.
fn group_json(group: &ForgetGroup) -> Result<serde_json::Value> {
    let keep: Vec<serde_json::Value> = group
        .keep
        .iter()
        .map(|(id, s, _)| snapshot_json(id, s))
        .collect::<Result<_>>()?;
    let remove: Vec<serde_json::Value> = group
        .remove
        .iter()
        .map(|(id, s)| snapshot_json(id, s))
        .collect::<Result<_>>()?;
    let reasons: Vec<serde_json::Value> = group
        .keep
        .iter()
        .map(|(id, s, decision)| {
            // restic's counters: what is left of each count, zero ones left out.
            let mut counters = serde_json::Map::new();
            let names = ["last", "hourly", "daily", "weekly", "monthly", "yearly"];
            for (name, value) in names.iter().zip(decision.counters) {
                if value > 0 {
                    counters.insert((*name).to_string(), value.into());
                }
            }
            Ok(serde_json::json!({
                "snapshot": snapshot_json(id, s)?,
                "matches": decision.reasons,
                "counters": counters,
            }))
        })
        .collect::<Result<_>>()?;
    let or_null = |list: &Vec<String>| {
        if list.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::json!(list)
        }
    };
    Ok(serde_json::json!({
        "tags": or_null(&group.key.tags),
        "host": group.key.host,
        "paths": or_null(&group.key.paths),
        "keep": keep,
        "remove": remove,
        "reasons": reasons,
    }))
}

fn print_group(group: &ForgetGroup) {
    let mut title = Vec::new();
    if !group.key.host.is_empty() {
        title.push(format!("host [{}]", group.key.host));
    }
    if !group.key.paths.is_empty() {
        title.push(format!("paths [{}]", group.key.paths.join(", ")));
    }
    if !group.key.tags.is_empty() {
        title.push(format!("tags [{}]", group.key.tags.join(", ")));
    }
    println!(
        "snapshots for {}:",
        if title.is_empty() {
            "all".to_string()
        } else {
            title.join(", ")
        }
    );
    println!("keep {} snapshots:", group.keep.len());
    for (id, snapshot, decision) in &group.keep {
        println!(
            "  {}  {}  {:<16}  {}",
            id.short(),
            snapshot
                .time
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            snapshot.hostname,
            decision.reasons.join(", ")
        );
    }
    if !group.remove.is_empty() {
        println!("remove {} snapshots:", group.remove.len());
        for (id, snapshot) in &group.remove {
            println!(
                "  {}  {}  {:<16}  {}",
                id.short(),
                snapshot
                    .time
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S"),
                snapshot.hostname,
                snapshot.paths.join(" ")
            );
        }
    }
    println!();
}

pub fn run(global: &GlobalArgs, args: ForgetArgs) -> Result<u8> {
    super::shared_guard::refuse_if_shared(global, "forget")?;
    let policy = policy(&args)?;
    let group_by: GroupBy = args.group_by.parse()?;
    if !args.ids.is_empty() && !policy.is_empty() {
        bail!("give snapshot ids or a --keep-* policy, not both");
    }
    if args.ids.is_empty() && policy.is_empty() {
        bail!("no policy given and no snapshot named: nothing would be removed; use --keep-* options or snapshot ids");
    }
    let repo = repository::open(global)?;
    let removed = {
        let _lock = repo.lock(true)?;
        let remove: Vec<Id> = if args.ids.is_empty() {
            // Strict: a policy applied to a partial set could remove what it would keep.
            let all = load_all_snapshots(&repo).map_err(|e| {
                let advice = if e.is_damage() {
                    "; forget the damaged snapshot by its id first"
                } else {
                    ""
                };
                anyhow::anyhow!("forget stopped, nothing was removed: {e}{advice}")
            })?;
            let groups = plan_forget(all, &args.filter.to_filter(), group_by, &policy);
            if global.json {
                let list: Vec<serde_json::Value> =
                    groups.iter().map(group_json).collect::<Result<_>>()?;
                super::print_json(&list)?;
            } else if !global.quiet {
                groups.iter().for_each(print_group);
            }
            groups
                .iter()
                .flat_map(|g| g.remove.iter().map(|(id, _)| *id))
                .collect()
        } else {
            // Resolve every id before removing any, so a typo removes nothing. Ids are not
            // read: a damaged snapshot can be forgotten by naming it.
            let ids: Vec<Id> = args
                .ids
                .iter()
                .map(|text| match text.as_str() {
                    "latest" => {
                        find_snapshot(&repo, text, &args.filter.to_filter()).map(|(id, _)| id)
                    }
                    _ => resolve_snapshot_id(&repo, text),
                })
                .collect::<Result<_, _>>()?;
            if global.json {
                let list: Vec<String> = ids.iter().map(|id| id.to_hex()).collect();
                super::print_json(&serde_json::json!({ "remove": list }))?;
            }
            ids
        };
        if !args.dry_run {
            remove_snapshots(&repo, &remove)?;
        }
        remove.len()
    };
    if !global.quiet && !global.json {
        if args.dry_run {
            println!("dry run: would remove {removed} snapshots");
        } else {
            println!("removed {removed} snapshots");
        }
    }
    if args.prune {
        return super::prune::run_prune(global, &repo, &args.prune_options, args.dry_run);
    }
    Ok(0)
}

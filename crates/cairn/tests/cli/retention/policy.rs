//! `forget` policies against restic 0.14: for the same snapshots and policy, both tools keep
//! and remove the same snapshots, for the same reasons.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::rng::Rng;
use crate::support::{run_fail, run_ok, stderr, Scratch};

/// Per group (host, paths, tags): kept ids with their reasons and counters, removed ids.
type Verdict = BTreeMap<
    String,
    (
        BTreeMap<String, (Vec<String>, serde_json::Value)>,
        Vec<String>,
    ),
>;

fn verdict(command: &mut Command) -> Verdict {
    let output = run_ok(command);
    let groups: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{command:?} printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
    let mut out = Verdict::new();
    for group in groups {
        let key = format!(
            "host={} paths={} tags={}",
            group["host"], group["paths"], group["tags"]
        );
        let mut keep = BTreeMap::new();
        // restic's reasons name no id: they come in the order of `keep`.
        let kept = group["keep"].as_array().cloned().unwrap_or_default();
        let reasons = group["reasons"].as_array().cloned().unwrap_or_default();
        assert_eq!(kept.len(), reasons.len(), "one reason per kept snapshot");
        for (snapshot, reason) in kept.iter().zip(&reasons) {
            let id = snapshot["id"].as_str().unwrap().to_string();
            let matches: Vec<String> = reason["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_string())
                .collect();
            keep.insert(id, (matches, reason["counters"].clone()));
        }
        let mut remove: Vec<String> = group["remove"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        remove.sort();
        out.insert(key, (keep, remove));
    }
    out
}

/// 78 snapshots over three years on two hosts, some tagged, with clusters within one hour and
/// one day so that every bucket size matters. Returns the repository.
fn three_years_of_snapshots(scratch: &Scratch) -> std::path::PathBuf {
    let repo = scratch.init_repo("repo");
    let data = scratch.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("file"), "content").unwrap();
    let mut rng = Rng::new(0x7e7e_2023);
    let start = chrono::NaiveDate::from_ymd_opt(2023, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..60 {
        times.push(start + chrono::Duration::seconds(rng.below(3 * 365 * 86_400) as i64));
    }
    // Clusters: several in one hour, several in one day, a burst in the last week.
    let anchor = start + chrono::Duration::days(700);
    for minutes in [3, 17, 41, 59] {
        times.push(anchor + chrono::Duration::minutes(minutes));
    }
    for hours in [1, 5, 9, 13, 20] {
        times.push(anchor + chrono::Duration::days(1) + chrono::Duration::hours(hours));
    }
    let end = start + chrono::Duration::days(3 * 365);
    for day in 1..=9 {
        times.push(end - chrono::Duration::hours(day * 17));
    }
    times.sort();
    times.dedup();
    for (i, time) in times.iter().enumerate() {
        let host = if i % 3 == 0 { "beta" } else { "alpha" };
        let mut command = if i % 2 == 0 {
            scratch.cairn(&repo)
        } else {
            scratch.restic(&repo)
        };
        command
            .arg("backup")
            .arg("--host")
            .arg(host)
            .arg("--time")
            .arg(time.format("%Y-%m-%d %H:%M:%S").to_string());
        if i % 4 == 0 {
            command.arg("--tag").arg("monthly-report");
        }
        if i % 7 == 0 {
            command.arg("--tag").arg("keep,audit");
        }
        run_ok(command.arg(&data));
    }
    assert!(times.len() >= 70, "{} snapshots", times.len());
    repo
}

fn policies() -> Vec<Vec<&'static str>> {
    vec![
        vec!["--keep-last", "5"],
        vec!["--keep-hourly", "10"],
        vec!["--keep-daily", "7"],
        vec!["--keep-weekly", "6"],
        vec!["--keep-monthly", "12"],
        vec!["--keep-yearly", "3"],
        vec!["--keep-within", "1y"],
        vec!["--keep-within", "2m15d"],
        vec!["--keep-within-daily", "3m"],
        vec!["--keep-within-weekly", "1y"],
        vec!["--keep-within-monthly", "2y"],
        vec!["--keep-within-hourly", "10d", "--keep-within-yearly", "5y"],
        vec!["--keep-tag", "monthly-report"],
        vec!["--keep-tag", "keep,audit", "--keep-last", "2"],
        // The 3-2-1 plan the README shows.
        vec![
            "--keep-daily",
            "14",
            "--keep-weekly",
            "8",
            "--keep-monthly",
            "12",
        ],
        vec![
            "--keep-daily",
            "7",
            "--keep-weekly",
            "4",
            "--keep-monthly",
            "12",
            "--keep-yearly",
            "2",
        ],
        vec!["--keep-last", "3", "--group-by", "host"],
        vec!["--keep-monthly", "6", "--group-by", "tags"],
        vec!["--keep-weekly", "3", "--group-by", "host,paths,tags"],
        vec!["--keep-daily", "4", "--host", "beta"],
        vec!["--keep-last", "2", "--tag", "monthly-report"],
    ]
}

#[test]
fn forget_keeps_what_restic_keeps_for_every_policy() {
    let scratch = Scratch::new();
    let repo = three_years_of_snapshots(&scratch);
    for policy in policies() {
        let ours = verdict(
            scratch
                .cairn(&repo)
                .args(["forget", "--dry-run", "--json"])
                .args(&policy),
        );
        let theirs = verdict(
            scratch
                .restic(&repo)
                .args(["forget", "--dry-run", "--json"])
                .args(&policy),
        );
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "groups differ for {policy:?}"
        );
        for (group, (keep, remove)) in &theirs {
            let (our_keep, our_remove) = &ours[group];
            assert_eq!(
                our_keep.keys().collect::<Vec<_>>(),
                keep.keys().collect::<Vec<_>>(),
                "kept snapshots differ for {policy:?} in {group}"
            );
            assert_eq!(
                our_remove, remove,
                "removed snapshots differ for {policy:?} in {group}"
            );
            assert_eq!(our_keep, keep, "reasons differ for {policy:?} in {group}");
        }
    }
}

#[test]
fn forget_removes_what_it_says_and_both_tools_agree_afterwards() {
    let scratch = Scratch::new();
    let repo = three_years_of_snapshots(&scratch);
    let before = super::snapshot_ids(&scratch, &repo);
    let planned = verdict(scratch.cairn(&repo).args([
        "forget",
        "--dry-run",
        "--json",
        "--keep-monthly",
        "6",
    ]));
    assert_eq!(
        super::snapshot_ids(&scratch, &repo),
        before,
        "a dry run removes nothing"
    );
    run_ok(scratch.cairn(&repo).args(["forget", "--keep-monthly", "6"]));
    let mut kept: Vec<String> = planned
        .values()
        .flat_map(|(keep, _)| keep.keys().cloned())
        .collect();
    kept.sort();
    assert_eq!(super::snapshot_ids(&scratch, &repo), kept);
    run_ok(scratch.restic(&repo).arg("check"));
    // Forgetting by id.
    let victim = kept[0].clone();
    run_ok(scratch.cairn(&repo).args(["forget", &victim[..8]]));
    assert!(!super::snapshot_ids(&scratch, &repo).contains(&victim));
}

fn one_line_error(output: &std::process::Output, fragment: &str) {
    let text = stderr(output);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{text}");
    assert!(
        lines[0].contains(fragment),
        "{:?} lacks {fragment:?}",
        lines[0]
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn invalid_policies_and_unknown_ids_remove_nothing() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let data = scratch.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    run_ok(scratch.cairn(&repo).arg("backup").arg(&data));
    run_ok(scratch.cairn(&repo).arg("backup").arg(&data));
    let before = super::snapshot_ids(&scratch, &repo);
    let cases: [(&[&str], &str); 6] = [
        (
            &["forget", "--keep-daily", "-1"],
            "--keep-daily -1 is invalid",
        ),
        (
            &["forget", "--keep-within", "3x"],
            "invalid duration \"3x\"",
        ),
        (&["forget", "deadbeef"], "no snapshot with id deadbeef"),
        (&["forget"], "no policy given"),
        (
            &["forget", "--keep-last", "1", "--group-by", "color"],
            "invalid --group-by",
        ),
        (&["prune", "--max-unused", "lots"], "invalid --max-unused"),
    ];
    for (args, fragment) in cases {
        let output = run_fail(scratch.cairn(&repo).args(args));
        one_line_error(&output, fragment);
        assert_eq!(
            super::snapshot_ids(&scratch, &repo),
            before,
            "{args:?} removed something"
        );
    }
    // A typo among valid ids removes nothing either.
    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["forget", &before[0], "feedface"]),
    );
    one_line_error(&output, "feedface");
    assert_eq!(super::snapshot_ids(&scratch, &repo), before);
}

//! `retention = { keep_daily = 14, … }`: the engine's forget policy, restic's `--keep-*`.

use cairn_repo::forget::{CalendarDuration, KeepPolicy};

use crate::raw::RawRetention;
use crate::section::Section;

/// The policy the table describes, in the type `cairn forget` applies, so a plan's forget
/// keeps exactly what the command would with the same `--keep-*` options. Durations are
/// restic's calendar durations (`1y6m`: `m` is a month).
pub(crate) fn build_retention(
    section: &mut Section<'_, '_>,
    raw: &RawRetention,
) -> Option<KeepPolicy> {
    let mut within = |key: &str, text: &Option<String>| {
        section
            .parse(key, text.as_deref(), |t| t.parse::<CalendarDuration>())
            .unwrap_or_default()
    };
    let within_all = [
        within("keep_within", &raw.keep_within),
        within("keep_within_hourly", &raw.keep_within_hourly),
        within("keep_within_daily", &raw.keep_within_daily),
        within("keep_within_weekly", &raw.keep_within_weekly),
        within("keep_within_monthly", &raw.keep_within_monthly),
        within("keep_within_yearly", &raw.keep_within_yearly),
    ];
    let mut tags = Vec::new();
    for (index, list) in raw.keep_tag.iter().flatten().enumerate() {
        let all_of: Vec<String> = list
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        if all_of.is_empty() {
            section.wrong(
                &section.key("keep_tag").index(index),
                "names no tag; write a tag, or \"a,b\" to keep snapshots having both",
            );
        }
        tags.push(all_of);
    }
    let policy = KeepPolicy {
        last: section.count("keep_last", raw.keep_last),
        hourly: section.count("keep_hourly", raw.keep_hourly),
        daily: section.count("keep_daily", raw.keep_daily),
        weekly: section.count("keep_weekly", raw.keep_weekly),
        monthly: section.count("keep_monthly", raw.keep_monthly),
        yearly: section.count("keep_yearly", raw.keep_yearly),
        within: within_all[0],
        within_hourly: within_all[1],
        within_daily: within_all[2],
        within_weekly: within_all[3],
        within_monthly: within_all[4],
        within_yearly: within_all[5],
        tags,
    };
    if section.failed() {
        return None;
    }
    if policy.is_empty() {
        // restic refuses to forget with an empty policy; a plan that means "keep all" says so
        // by having no retention.
        let label = section.label();
        let path = section.path().clone();
        section.report(
            crate::ErrorKind::InvalidValue,
            &path,
            format!(
                "{label} keeps nothing; set a count or duration such as keep_daily = 7, or \
                 remove retention to keep every snapshot"
            ),
        );
        return None;
    }
    Some(policy)
}

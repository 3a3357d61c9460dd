//! When plans are due: the next scheduled time of each, runs missed while the daemon was down
//! (caught up once, never once per missed occurrence), and when a plan counts as stale.
//!
//! Pure functions of the config, the clock and what the state remembers, so every rule is
//! tested with a fake clock.

use std::collections::BTreeMap;

use cairn_config::{Config, Plan};
use chrono::{DateTime, Utc};

/// The next time each scheduled plan is due, strictly after `after`.
pub fn next_runs(config: &Config, after: DateTime<Utc>) -> BTreeMap<String, DateTime<Utc>> {
    config
        .plans
        .values()
        .filter_map(|plan| {
            let next = plan.schedule.as_ref()?.next_after(after, plan.timezone)?;
            Some((plan.name.clone(), next))
        })
        .collect()
}

/// Whether the server backup's schedule comes in `(after, now]`. It is scheduled when the
/// file has a `[server_backup]` section, or serves `[server]` and a repository has an `s3:`
/// offsite (the default destination); a bare CLI config never backs itself up unasked.
pub fn server_backup_due(config: &Config, after: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let wanted = config.server_backup.configured
        || (config.server.is_some()
            && config
                .server_backup
                .resolve(config.repositories.values())
                .is_ok());
    wanted
        && config
            .server_backup
            .schedule
            .next_after(after, config.timezone)
            .is_some_and(|due| due <= now)
}

/// Whether `plan` missed a scheduled run while nobody was watching: an occurrence after the
/// daemon's last tick (`last_seen`) and after the plan's last job, but before `now`. One
/// missed occurrence or ten give the same answer: the plan runs once.
pub fn missed_run(
    plan: &Plan,
    last_seen: Option<DateTime<Utc>>,
    last_job: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !plan.catch_up {
        return None;
    }
    // A daemon never seen before has missed nothing: a new install starts on schedule.
    let last_seen = last_seen?;
    let reference = last_job.map_or(last_seen, |job| job.max(last_seen));
    let due = plan
        .schedule
        .as_ref()?
        .next_after(reference, plan.timezone)?;
    (due <= now).then_some(due)
}

/// How long without a successful backup makes `plan` stale: its `stale_after`, else twice the
/// interval between its next two scheduled runs; `None` for a plan with neither (it runs only
/// when started by hand, and nobody expects it on a clock).
pub fn stale_after(plan: &Plan, now: DateTime<Utc>) -> Option<chrono::Duration> {
    if let Some(duration) = plan.stale_after {
        return chrono::Duration::from_std(duration.as_std()).ok();
    }
    let schedule = plan.schedule.as_ref()?;
    let first = schedule.next_after(now, plan.timezone)?;
    let second = schedule.next_after(first, plan.timezone)?;
    Some((second - first) * 2)
}

/// Whether `plan` is stale at `now`, given its last success and since when the daemon has
/// watched it (a plan that never succeeded is judged from then).
pub fn is_stale(
    plan: &Plan,
    last_success: Option<DateTime<Utc>>,
    watched_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let Some(limit) = stale_after(plan, now) else {
        return false;
    };
    now - last_success.unwrap_or(watched_since) > limit
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn config(plan_extra: &str) -> Config {
        let text = format!(
            "timezone = \"Europe/Berlin\"\n\
             [repositories.main]\nlocation = \"/srv/backup/main\"\npassword_env = \"P\"\n\
             [plans.web]\nrepository = \"main\"\nsources = [\"/etc\"]\n{plan_extra}"
        );
        Config::parse(cairn_config::SourceText::new(
            "/etc/cairn/cairn.toml",
            &text,
        ))
        .unwrap()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn server_backups_are_due_on_their_schedule_only_when_wanted() {
        // No section, no [server]: a CLI config never backs itself up.
        let plain = config("");
        let before = utc(2026, 5, 1, 21, 59);
        let after = utc(2026, 5, 1, 22, 1);
        assert!(!server_backup_due(&plain, before, after));
        // @daily in Berlin (CEST): 22:00 UTC.
        let wanted = config("[server_backup]\ndestination = \"/mnt/nas/cairn\"\n");
        assert!(server_backup_due(&wanted, before, after));
        assert!(!server_backup_due(&wanted, after, utc(2026, 5, 2, 21, 0)));
        let hourly =
            config("[server_backup]\ndestination = \"/mnt/nas/cairn\"\nschedule = \"0 * * * *\"\n");
        assert!(server_backup_due(
            &hourly,
            utc(2026, 5, 1, 10, 59),
            utc(2026, 5, 1, 11, 0)
        ));
    }

    #[test]
    fn next_runs_follow_the_plan_zone_across_a_dst_change() {
        let config = config("schedule = \"0 3 * * *\"\n");
        // Berlin moves to summer time on 29 March 2026: 03:00 CEST is 01:00 UTC, while the
        // day before 03:00 CET is 02:00 UTC.
        let before = next_runs(&config, utc(2026, 3, 28, 12, 0));
        assert_eq!(before["web"], utc(2026, 3, 29, 1, 0));
        let winter = next_runs(&config, utc(2026, 3, 27, 12, 0));
        assert_eq!(winter["web"], utc(2026, 3, 28, 2, 0));
    }

    #[test]
    fn runs_missed_while_down_are_caught_up_once_and_only_when_asked() {
        let config = config("schedule = \"0 * * * *\"\n");
        let plan = config.plan("web").unwrap();
        let down_at = utc(2026, 5, 1, 10, 30);
        let back_at = utc(2026, 5, 1, 16, 5);
        // Six hourly runs were missed: one catch-up, dated at the first missed one.
        assert_eq!(
            missed_run(plan, Some(down_at), None, back_at),
            Some(utc(2026, 5, 1, 11, 0))
        );
        // The last run already happened after the last missed occurrence.
        assert_eq!(
            missed_run(plan, Some(down_at), Some(utc(2026, 5, 1, 16, 0)), back_at),
            None
        );
        // Down for less than an interval: nothing missed.
        assert_eq!(
            missed_run(plan, Some(utc(2026, 5, 1, 16, 1)), None, back_at),
            None
        );
        // A daemon starting for the first time.
        assert_eq!(missed_run(plan, None, None, back_at), None);
        let off = config.clone();
        let mut plan = off.plan("web").unwrap().clone();
        plan.catch_up = false;
        assert_eq!(missed_run(&plan, Some(down_at), None, back_at), None);
    }

    #[test]
    fn a_plan_is_stale_after_twice_its_interval_or_its_own_bound() {
        let daily = config("schedule = \"@daily\"\n");
        let plan = daily.plan("web").unwrap();
        let now = utc(2026, 5, 10, 12, 0);
        assert_eq!(stale_after(plan, now), Some(chrono::Duration::hours(48)));
        assert!(!is_stale(
            plan,
            Some(now - chrono::Duration::hours(47)),
            now,
            now
        ));
        assert!(is_stale(
            plan,
            Some(now - chrono::Duration::hours(49)),
            now,
            now
        ));
        // Never succeeded: judged from when the daemon started watching.
        assert!(!is_stale(plan, None, now - chrono::Duration::hours(1), now));
        assert!(is_stale(plan, None, now - chrono::Duration::hours(50), now));
        let bounded = config("schedule = \"@daily\"\nstale_after = \"6h\"\n");
        let plan = bounded.plan("web").unwrap();
        assert!(is_stale(
            plan,
            Some(now - chrono::Duration::hours(7)),
            now,
            now
        ));
        let manual = config("");
        assert!(!is_stale(
            manual.plan("web").unwrap(),
            None,
            utc(2000, 1, 1, 0, 0),
            now
        ));
    }
}

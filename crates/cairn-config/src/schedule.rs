//! When a plan runs: a cron expression in a time zone.
//!
//! Forms: 5 fields (`0 3 * * *`, minute first), 6 fields (`30 0 3 * * *`, seconds first), or
//! `@hourly`, `@daily`, `@weekly`, `@monthly` (and `@yearly`). Parsing and next-run times are
//! croner's, which follows Vixie cron and the Open Cron Pattern Specification across daylight
//! saving changes: a fixed-time job whose wall-clock time is skipped (spring forward) runs at
//! the first instant after the gap; one whose time happens twice (fall back) runs once, at the
//! first; interval jobs (`0 * * * *`) keep running every real hour through both changes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A validated cron schedule; prints as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

/// The time zone a schedule's wall-clock times are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The system's time zone (`/etc/localtime`, `TZ`) when the daemon computes the time.
    #[default]
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    /// An IANA name such as `Europe/Berlin` or `UTC`; the error suggests the nearest name.
    pub fn parse(name: &str) -> Result<Zone, String> {
        name.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
            match crate::suggest::nearest(name, names) {
                Some(near) => format!("unknown time zone {name:?}; did you mean {near:?}?"),
                None => format!(
                    "unknown time zone {name:?}; write an IANA name such as \"Europe/Berlin\" or \"UTC\""
                ),
            }
        })
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Local => f.write_str("local"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

const SCHEDULE_FORM: &str = "write 5 fields (minute hour day month weekday, e.g. \"0 3 * * *\"), \
     6 with seconds first, or @hourly, @daily, @weekly, @monthly";

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        if !text.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(format!(
                "cron expression {text:?} has {fields} fields; {SCHEDULE_FORM}"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map_err(|e| {
                let reason = e.to_string().to_lowercase();
                let reason = reason.trim_end_matches('.');
                format!("invalid cron expression {text:?} ({reason}); {SCHEDULE_FORM}")
            })?;
        let schedule = Schedule {
            text: text.to_string(),
            cron,
        };
        // A pattern can be well formed and still name no real time (30 February); the daemon
        // would never run it and say nothing.
        let reference = DateTime::<Utc>::UNIX_EPOCH;
        if schedule
            .next_after(reference, Zone::Named(chrono_tz::UTC))
            .is_none()
        {
            return Err(format!(
                "cron expression {text:?} names no date that exists; {SCHEDULE_FORM}"
            ));
        }
        Ok(schedule)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Schedule {
    /// The first time strictly after `after` that the schedule names, read in `zone`; `None`
    /// only past the year 5000 (patterns that name no date at all are refused when parsed).
    pub fn next_after(&self, after: DateTime<Utc>, zone: Zone) -> Option<DateTime<Utc>> {
        match zone {
            Zone::Local => self.next_in(after.with_timezone(&chrono::Local)),
            Zone::Named(tz) => self.next_in(after.with_timezone(&tz)),
        }
    }

    fn next_in<Tz: chrono::TimeZone>(&self, after: DateTime<Tz>) -> Option<DateTime<Utc>>
    where
        DateTime<Tz>: croner::CronDateTime,
    {
        let next = self.cron.find_next_occurrence(&after, false).ok()?;
        Some(next.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn berlin() -> Zone {
        Zone::parse("Europe/Berlin").unwrap()
    }

    /// The next `count` run times after `now`, as RFC 3339 UTC strings.
    fn runs(schedule: &str, now: &str, zone: Zone, count: usize) -> Vec<String> {
        let schedule: Schedule = schedule.parse().unwrap();
        let mut now = utc(now);
        let mut times = Vec::new();
        for _ in 0..count {
            now = schedule.next_after(now, zone).unwrap();
            times.push(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        times
    }

    #[test]
    fn forms_five_six_fields_and_nicknames() {
        for good in [
            "0 3 * * *",
            "30 0 3 * * *",
            "*/15 * * * *",
            "0 3 * * mon-fri",
            "@hourly",
            "@daily",
            "@weekly",
            "@monthly",
        ] {
            assert!(good.parse::<Schedule>().is_ok(), "{good}");
        }
        assert_eq!(
            runs(
                "30 0 3 * * *",
                "2026-06-01T00:00:00Z",
                Zone::Named(chrono_tz::UTC),
                1
            ),
            ["2026-06-01T03:00:30Z"]
        );
        assert_eq!(
            runs(
                "@weekly",
                "2026-06-01T00:00:00Z",
                Zone::Named(chrono_tz::UTC),
                1
            ),
            ["2026-06-07T00:00:00Z"]
        );
    }

    #[test]
    fn malformed_schedules_say_how_to_write_one() {
        let error = "0 3 * *".parse::<Schedule>().unwrap_err();
        assert!(
            error.starts_with("cron expression \"0 3 * *\" has 4 fields; write 5 fields"),
            "{error}"
        );
        let error = "0 0 3 * * * 2026".parse::<Schedule>().unwrap_err();
        assert!(error.contains("has 7 fields"), "{error}");
        let error = "61 3 * * *".parse::<Schedule>().unwrap_err();
        assert!(
            error.starts_with("invalid cron expression \"61 3 * * *\" ("),
            "{error}"
        );
        assert!(
            error.ends_with("or @hourly, @daily, @weekly, @monthly"),
            "{error}"
        );
        assert!("@fortnightly".parse::<Schedule>().is_err());
        let error = "0 0 30 2 *".parse::<Schedule>().unwrap_err();
        assert!(
            error.starts_with(
                "cron expression \"0 0 30 2 *\" names no date that exists; write 5 fields"
            ),
            "{error}"
        );
    }

    #[test]
    fn daily_runs_keep_their_wall_clock_time_across_both_dst_changes_in_berlin() {
        // 03:00 local: 02:00Z in winter (CET), 01:00Z in summer (CEST).
        assert_eq!(
            runs("0 3 * * *", "2026-03-27T12:00:00Z", berlin(), 3),
            [
                "2026-03-28T02:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T01:00:00Z"
            ]
        );
        assert_eq!(
            runs("0 3 * * *", "2026-10-23T12:00:00Z", berlin(), 3),
            [
                "2026-10-24T01:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-26T02:00:00Z"
            ]
        );
    }

    #[test]
    fn a_time_skipped_by_spring_forward_runs_right_after_the_gap() {
        // 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00Z); 02:30 does not exist that day.
        assert_eq!(
            runs("30 2 * * *", "2026-03-28T12:00:00Z", berlin(), 3),
            [
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
                "2026-03-31T00:30:00Z"
            ]
        );
    }

    #[test]
    fn a_time_repeated_by_fall_back_runs_once() {
        // 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 happens at 00:30Z and
        // again at 01:30Z. A daily job runs at the first only.
        assert_eq!(
            runs("30 2 * * *", "2026-10-24T12:00:00Z", berlin(), 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
        // Asked from between the two instants, it does not run the second time.
        assert_eq!(
            runs("30 2 * * *", "2026-10-25T01:00:00Z", berlin(), 1),
            ["2026-10-26T01:30:00Z"]
        );
    }

    #[test]
    fn hourly_runs_every_real_hour_through_both_changes() {
        // Spring: 01:00 CET (00:00Z), then 03:00 CEST (01:00Z): one hour apart, none lost.
        assert_eq!(
            runs("0 * * * *", "2026-03-28T23:30:00Z", berlin(), 3),
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z"
            ]
        );
        // Autumn: 02:00 CEST (00:00Z), 02:00 CET (01:00Z), 03:00 CET (02:00Z).
        assert_eq!(
            runs("0 * * * *", "2026-10-24T23:30:00Z", berlin(), 3),
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T01:00:00Z",
                "2026-10-25T02:00:00Z"
            ]
        );
    }

    #[test]
    fn next_is_strictly_after_now_even_within_the_second() {
        let schedule: Schedule = "0 3 * * *".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 3, 0, 0).unwrap()
            + chrono::Duration::milliseconds(500);
        assert_eq!(
            schedule.next_after(now, Zone::Named(chrono_tz::UTC)),
            Some(Utc.with_ymd_and_hms(2026, 6, 2, 3, 0, 0).unwrap())
        );
        let exactly = Utc.with_ymd_and_hms(2026, 6, 1, 3, 0, 0).unwrap();
        assert_eq!(
            schedule.next_after(exactly, Zone::Named(chrono_tz::UTC)),
            Some(Utc.with_ymd_and_hms(2026, 6, 2, 3, 0, 0).unwrap())
        );
    }

    #[test]
    fn time_zone_names_are_checked_with_a_suggestion() {
        assert_eq!(berlin(), Zone::Named(chrono_tz::Europe::Berlin));
        assert_eq!(
            Zone::parse("Europe/Berln").unwrap_err(),
            "unknown time zone \"Europe/Berln\"; did you mean \"Europe/Berlin\"?"
        );
    }
}

//! Retention policies: which snapshots `forget` keeps, exactly as restic 0.14 decides.
//!
//! Snapshots are taken newest first. A snapshot is kept when any rule claims it:
//! - `last N`: the N newest;
//! - `hourly/daily/weekly/monthly/yearly N`: the newest snapshot of each of the N most recent
//!   hours/days/ISO weeks/months/years that have snapshots (in the snapshot's own recorded
//!   time zone, as restic reads it);
//! - `within D`: every snapshot newer than the newest snapshot minus D;
//! - `within-hourly/... D`: the newest snapshot of each hour/... newer than the newest minus D;
//! - `tag T`: every snapshot having all tags of one of the tag lists.
//!
//! Each kept snapshot carries the reasons (rule names) it was kept for, as restic reports them.

use chrono::{DateTime, Datelike, FixedOffset, Months, Timelike};

use crate::{RepoError, Result};

/// A calendar duration as restic writes it: `1y2m3d4h` (years, months, days, hours).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarDuration {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl CalendarDuration {
    pub fn is_zero(&self) -> bool {
        *self == CalendarDuration::default()
    }

    /// `time` minus this duration, calendar-wise (Go's `AddDate` then `Add`).
    fn before(&self, time: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        let months = self.years * 12 + self.months;
        let date = go_add_months(time, -(months as i64));
        date - chrono::Duration::days(i64::from(self.days))
            - chrono::Duration::hours(i64::from(self.hours))
    }
}

/// Go's `AddDate(0, -months, 0)`: the day of month is kept and overflow normalises forward
/// (31 March minus one month is 3 March, not 28 February).
fn go_add_months(time: DateTime<FixedOffset>, months: i64) -> DateTime<FixedOffset> {
    let day = time.day();
    let first = time.with_day(1).expect("day 1 exists");
    let moved = if months < 0 {
        first.checked_sub_months(Months::new((-months) as u32))
    } else {
        first.checked_add_months(Months::new(months as u32))
    }
    .unwrap_or(first);
    moved + chrono::Duration::days(i64::from(day) - 1)
}

impl std::fmt::Display for CalendarDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // restic prints every unit that is set, e.g. "1y2m3d4h"; an empty duration prints as "".
        if self.years > 0 {
            write!(f, "{}y", self.years)?;
        }
        if self.months > 0 {
            write!(f, "{}m", self.months)?;
        }
        if self.days > 0 {
            write!(f, "{}d", self.days)?;
        }
        if self.hours > 0 {
            write!(f, "{}h", self.hours)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for CalendarDuration {
    type Err = RepoError;

    fn from_str(text: &str) -> Result<CalendarDuration> {
        let invalid = |why: &str| {
            RepoError::InvalidInput(format!(
                "invalid duration {text:?}: {why}; write it as numbers with units y, m, d, h, e.g. 1y6m or 7d"
            ))
        };
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let mut duration = CalendarDuration::default();
        let mut number = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            if number.is_empty() {
                return Err(invalid(&format!("{c:?} has no number before it")));
            }
            let value: u32 = number
                .parse()
                .map_err(|_| invalid("a number is too large"))?;
            number.clear();
            match c {
                'y' => duration.years += value,
                'm' => duration.months += value,
                'd' => duration.days += value,
                'h' => duration.hours += value,
                other => return Err(invalid(&format!("unknown unit {other:?}"))),
            }
        }
        if !number.is_empty() {
            return Err(invalid("the last number has no unit"));
        }
        Ok(duration)
    }
}

/// What to keep. Counts of zero and empty durations mean "this rule keeps nothing".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    pub within: CalendarDuration,
    pub within_hourly: CalendarDuration,
    pub within_daily: CalendarDuration,
    pub within_weekly: CalendarDuration,
    pub within_monthly: CalendarDuration,
    pub within_yearly: CalendarDuration,
    /// Keep snapshots having every tag of any of these lists.
    pub tags: Vec<Vec<String>>,
}

impl KeepPolicy {
    pub fn is_empty(&self) -> bool {
        *self == KeepPolicy::default()
    }
}

/// The time buckets of the counting rules.
#[derive(Clone, Copy)]
enum Bucket {
    Every,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Bucket {
    /// A number that is equal for two times in the same bucket (restic's bucketers).
    fn of(self, time: &DateTime<FixedOffset>, position: usize) -> i64 {
        let (y, m, d, h) = (
            i64::from(time.year()),
            i64::from(time.month()),
            i64::from(time.day()),
            i64::from(time.hour()),
        );
        match self {
            Bucket::Every => position as i64,
            Bucket::Hour => y * 1_000_000 + m * 10_000 + d * 100 + h,
            Bucket::Day => y * 10_000 + m * 100 + d,
            Bucket::Week => {
                let week = time.iso_week();
                i64::from(week.year()) * 100 + i64::from(week.week())
            }
            Bucket::Month => y * 100 + m,
            Bucket::Year => y,
        }
    }
}

/// One snapshot's verdict: kept with reasons, or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub keep: bool,
    /// Why it is kept, in restic's words ("last snapshot", "daily snapshot", "within 1y", …).
    pub reasons: Vec<String>,
    /// What is left of the last/hourly/daily/weekly/monthly/yearly counts after this snapshot
    /// (restic reports them with each kept snapshot).
    pub counters: [u32; 6],
}

/// Applies the policy to snapshot times given newest first; returns one decision per time, in
/// the same order. An empty policy keeps everything (restic refuses to run forget with one;
/// callers check first).
pub fn apply(
    policy: &KeepPolicy,
    newest_first: &[(DateTime<FixedOffset>, &[String])],
) -> Vec<Decision> {
    if policy.is_empty() {
        return newest_first
            .iter()
            .map(|_| Decision {
                keep: true,
                reasons: vec!["policy is empty".into()],
                counters: [0; 6],
            })
            .collect();
    }
    let Some(&(latest, _)) = newest_first.first() else {
        return Vec::new();
    };
    let mut counted = [
        (policy.last, Bucket::Every, None::<i64>, "last snapshot"),
        (policy.hourly, Bucket::Hour, None, "hourly snapshot"),
        (policy.daily, Bucket::Day, None, "daily snapshot"),
        (policy.weekly, Bucket::Week, None, "weekly snapshot"),
        (policy.monthly, Bucket::Month, None, "monthly snapshot"),
        (policy.yearly, Bucket::Year, None, "yearly snapshot"),
    ];
    let mut within = [
        (
            policy.within_hourly,
            Bucket::Hour,
            None::<i64>,
            "hourly within",
        ),
        (policy.within_daily, Bucket::Day, None, "daily within"),
        (policy.within_weekly, Bucket::Week, None, "weekly within"),
        (policy.within_monthly, Bucket::Month, None, "monthly within"),
        (policy.within_yearly, Bucket::Year, None, "yearly within"),
    ];
    let mut decisions = Vec::with_capacity(newest_first.len());
    for (position, (time, tags)) in newest_first.iter().enumerate() {
        let mut reasons = Vec::new();
        for list in &policy.tags {
            if list.iter().all(|t| tags.contains(t)) {
                reasons.push(format!("has tags [{}]", list.join(", ")));
            }
        }
        if !policy.within.is_zero() && *time > policy.within.before(latest) {
            reasons.push(format!("within {}", policy.within));
        }
        for (count, bucket, last, reason) in counted.iter_mut() {
            if *count > 0 {
                let value = bucket.of(time, position);
                if Some(value) != *last {
                    *last = Some(value);
                    *count -= 1;
                    reasons.push((*reason).to_string());
                }
            }
        }
        for (duration, bucket, last, reason) in within.iter_mut() {
            if !duration.is_zero() && *time > duration.before(latest) {
                let value = bucket.of(time, position);
                if Some(value) != *last {
                    *last = Some(value);
                    reasons.push(format!("{reason} {duration}"));
                }
            }
        }
        let counters = [
            counted[0].0,
            counted[1].0,
            counted[2].0,
            counted[3].0,
            counted[4].0,
            counted[5].0,
        ];
        decisions.push(Decision {
            keep: !reasons.is_empty(),
            reasons,
            counters,
        });
    }
    decisions
}

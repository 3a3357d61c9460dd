//! Go's `time.Time` in JSON, as restic writes node times (Go 1.19).
//!
//! `Time.MarshalJSON` formats with `RFC3339Nano` (`2006-01-02T15:04:05.999999999Z07:00`): the
//! wall clock of the time's zone; a fraction of up to nine digits with trailing zeros trimmed and
//! no `.` at all when it is zero; `Z` when the offset is zero, otherwise `±hh:mm`. Go truncates
//! an offset with seconds (local mean time before 1900 in many zones) to `hh:mm`, while the wall
//! clock keeps them: `-00:09:21` prints as `-00:09` on a wall clock 21 seconds off. We do the same.
//!
//! restic creates times with `time.Unix`, which uses the zone `time.Local`: `TZ` if set, else
//! `/etc/localtime`. [`GoTime::from_unix_local`] asks chrono's `Local`, which follows the same
//! two sources, for the offset in force at that instant. Checked to agree with Go 1.19 for `TZ`
//! unset, empty (UTC), a zone name, `:name`, an absolute file path and an unknown name (UTC),
//! and with restic itself for summer and winter time, 2100, and local mean time (see the oracle
//! test). One known difference: a POSIX rule string such as `TZ=CET-1CEST,M3.5.0,M10.5.0/3`,
//! which chrono applies and Go 1.19 ignores (Go then uses UTC).
//!
//! Parsing follows `time.Parse(RFC3339)` of Go 1.19, quirks included: the hour may have one
//! digit, `,` may stand for `.`, fraction digits beyond nine are dropped, the offset fields go
//! through Go's `atoi` (so `+-1:00` is accepted), and the day must exist in its month. The parsed
//! offset is kept, so a time re-encodes as restic would print it again.

use chrono::{Local, Offset, TimeZone};

use super::node::GoTime;
use super::TreeError;

const NANOS_PER_SECOND: u32 = 1_000_000_000;
const SECONDS_PER_DAY: i128 = 86_400;

impl GoTime {
    /// The instant `secs` + `nanos` after the Unix epoch, with the offset of the local zone at
    /// that instant, as Go's `time.Unix(secs, nanos)` gives it. `nanos` of a second or more is
    /// carried into `secs`.
    ///
    /// When chrono cannot place the instant (beyond about ±262,000 years), the offset is 0.
    pub fn from_unix_local(secs: i64, nanos: u32) -> GoTime {
        let unix_secs = secs.saturating_add(i64::from(nanos / NANOS_PER_SECOND));
        let nanos = nanos % NANOS_PER_SECOND;
        let utc_offset_secs = Local
            .timestamp_opt(unix_secs, 0)
            .single()
            .map_or(0, |local| local.offset().fix().local_minus_utc());
        GoTime {
            unix_secs,
            nanos,
            utc_offset_secs,
        }
    }

    /// The RFC 3339 text Go's `time.Time.MarshalJSON` writes, without the JSON quotes.
    ///
    /// Years outside 0..=9999 are printed as Go's `Format` would (sign, at least four digits);
    /// Go's `MarshalJSON` refuses them, which is why restic applies [`GoTime::restic_fixed`]
    /// first, and so does the tree encoder.
    pub fn to_rfc3339_nano(&self) -> String {
        let mut out = Vec::with_capacity(35);
        self.append_rfc3339_nano(&mut out);
        String::from_utf8(out).expect("RFC 3339 text is ASCII")
    }

    /// Appends [`GoTime::to_rfc3339_nano`]'s text to `out`.
    pub fn append_rfc3339_nano(&self, out: &mut Vec<u8>) {
        let wall = self.wall_clock();
        append_padded(out, i128::from(wall.year), 4);
        out.push(b'-');
        append_padded(out, i128::from(wall.month), 2);
        out.push(b'-');
        append_padded(out, i128::from(wall.day), 2);
        out.push(b'T');
        append_padded(out, i128::from(wall.seconds_of_day / 3600), 2);
        out.push(b':');
        append_padded(out, i128::from(wall.seconds_of_day / 60 % 60), 2);
        out.push(b':');
        append_padded(out, i128::from(wall.seconds_of_day % 60), 2);
        append_fraction(out, self.nanos % NANOS_PER_SECOND);
        append_offset(out, self.utc_offset_secs);
    }

    /// restic's `FixTime`, applied by `Node.MarshalJSON` to all three times: a year before 0 or
    /// after 9999 (in the time's own zone) is replaced by 0 or 9999, keeping month, day and clock,
    /// normalised as Go's `AddDate` does (29 February of a year that becomes 9999 turns into
    /// 1 March). Other times are returned unchanged.
    ///
    /// Go recomputes the offset of a `Local` time for the new date; we keep the offset the time
    /// carries, which differs only for local zones whose offset in year 0 or 9999 is not the
    /// offset of the original instant.
    pub fn restic_fixed(&self) -> GoTime {
        let wall = self.wall_clock();
        let year = wall.year.clamp(0, 9999);
        if year == wall.year {
            return *self;
        }
        let days = days_from_civil(year, wall.month, wall.day);
        let local_secs = i128::from(days) * SECONDS_PER_DAY + i128::from(wall.seconds_of_day);
        let unix_secs = local_secs - i128::from(self.utc_offset_secs);
        GoTime {
            unix_secs: unix_secs as i64,
            nanos: self.nanos,
            utc_offset_secs: self.utc_offset_secs,
        }
    }

    /// Parses the RFC 3339 text Go's `time.Time.UnmarshalJSON` accepts (without JSON quotes),
    /// keeping the offset it was written with.
    pub fn parse_rfc3339(text: &str) -> Result<GoTime, TreeError> {
        parse(text.as_bytes()).map_err(|reason| TreeError::Time {
            text: text.chars().take(64).collect(),
            reason,
        })
    }

    /// The calendar date and clock in the time's own zone.
    fn wall_clock(&self) -> WallClock {
        let local_secs = i128::from(self.unix_secs) + i128::from(self.utc_offset_secs);
        let days = local_secs.div_euclid(SECONDS_PER_DAY);
        let seconds_of_day = local_secs.rem_euclid(SECONDS_PER_DAY) as u32;
        // |days| < 2^63 / 86400 + 1, so it fits in i64 and the civil arithmetic cannot overflow.
        let (year, month, day) = civil_from_days(days as i64);
        WallClock {
            year,
            month,
            day,
            seconds_of_day,
        }
    }
}

struct WallClock {
    year: i64,
    month: u32,
    day: u32,
    seconds_of_day: u32,
}

/// Go's `appendInt(b, x, width)`: a minus sign, then the digits zero-padded to `width`.
fn append_padded(out: &mut Vec<u8>, value: i128, width: usize) {
    if value < 0 {
        out.push(b'-');
    }
    // u128::MAX has 39 digits.
    let mut digits = [0u8; 40];
    let mut start = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let length = digits.len() - start;
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(length)));
    out.extend_from_slice(&digits[start..]);
}

/// `.999999999`: up to nine digits, trailing zeros dropped, nothing when zero.
fn append_fraction(out: &mut Vec<u8>, nanos: u32) {
    if nanos == 0 {
        return;
    }
    let mut digits = [b'0'; 9];
    let mut rest = nanos;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let length = 9 - digits
        .iter()
        .rev()
        .take_while(|&&digit| digit == b'0')
        .count();
    out.push(b'.');
    out.extend_from_slice(&digits[..length]);
}

/// `Z07:00`: `Z` for a zero offset, else the sign of the offset in whole minutes (truncated
/// toward zero, so -30 seconds prints as `+00:00`) and `hh:mm`.
fn append_offset(out: &mut Vec<u8>, offset_secs: i32) {
    if offset_secs == 0 {
        out.push(b'Z');
        return;
    }
    let minutes = offset_secs / 60;
    out.push(if minutes < 0 { b'-' } else { b'+' });
    let minutes = i128::from(minutes.unsigned_abs());
    append_padded(out, minutes / 60, 2);
    out.push(b':');
    append_padded(out, minutes % 60, 2);
}

/// Days since 1970-01-01 of a proleptic Gregorian date; `day` past the month's end rolls over
/// into the next month, as Go's `time.Date` normalises it. (H. Hinnant's `days_from_civil`.)
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(month: u32, year: i64) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A cursor over the text, with Go's field readers.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn literal(&mut self, byte: u8, what: &'static str) -> Result<(), &'static str> {
        match self.rest.split_first() {
            Some((&first, rest)) if first == byte => {
                self.rest = rest;
                Ok(())
            }
            _ => Err(what),
        }
    }

    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.rest.split_at_checked(count)?;
        self.rest = rest;
        Some(taken)
    }

    /// Go's `getnum`: two digits, or one digit when the next byte is not a digit and `fixed`
    /// is false.
    fn number(&mut self, fixed: bool, what: &'static str) -> Result<u32, &'static str> {
        let digit = |index: usize| {
            self.rest
                .get(index)
                .filter(|byte| byte.is_ascii_digit())
                .map(|byte| u32::from(byte - b'0'))
        };
        match (digit(0), digit(1)) {
            (Some(tens), Some(units)) => {
                self.rest = &self.rest[2..];
                Ok(tens * 10 + units)
            }
            (Some(units), None) if !fixed => {
                self.rest = &self.rest[1..];
                Ok(units)
            }
            _ => Err(what),
        }
    }
}

/// Go's `atoi`: an optional sign, then digits only (at least zero of them, as `leadingInt`
/// accepts an empty string).
fn go_atoi(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let mut value: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(i64::from(digit - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

fn parse(text: &[u8]) -> Result<GoTime, &'static str> {
    let mut cursor = Cursor { rest: text };
    let year_text = cursor.take(4).ok_or("year must have four digits")?;
    if !year_text.iter().all(u8::is_ascii_digit) {
        return Err("year must have four digits");
    }
    let year = go_atoi(year_text).ok_or("year must have four digits")?;
    cursor.literal(b'-', "expected '-' after the year")?;
    let month = cursor.number(true, "month must have two digits")?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    cursor.literal(b'-', "expected '-' after the month")?;
    let day = cursor.number(true, "day must have two digits")?;
    cursor.literal(b'T', "expected 'T' after the date")?;
    let hour = cursor.number(false, "bad hour")?;
    if hour >= 24 {
        return Err("hour out of range");
    }
    cursor.literal(b':', "expected ':' after the hour")?;
    let minute = cursor.number(true, "minute must have two digits")?;
    if minute >= 60 {
        return Err("minute out of range");
    }
    cursor.literal(b':', "expected ':' after the minutes")?;
    // Go 1.19 quirk: when the seconds are missing but a fraction follows (`03:04:.5`), Go's
    // fraction parsing overwrites getnum's error, and the seconds are 0.
    let second = match cursor.number(true, "second must have two digits") {
        Ok(second) => second,
        Err(_) if starts_fraction(cursor.rest) => 0,
        Err(error) => return Err(error),
    };
    if second >= 60 {
        return Err("second out of range");
    }
    let nanos = parse_fraction(&mut cursor);
    let offset_secs = parse_offset(&mut cursor)?;
    if !cursor.rest.is_empty() {
        return Err("extra text after the time");
    }
    if day < 1 || day > days_in_month(month, year) {
        return Err("day out of range");
    }
    let days = days_from_civil(year, month, day);
    let local_secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Ok(GoTime {
        unix_secs: local_secs - offset_secs,
        nanos,
        utc_offset_secs: offset_secs as i32,
    })
}

/// An optional `.` or `,` followed by digits; all digits are consumed, the first nine count.
fn parse_fraction(cursor: &mut Cursor) -> u32 {
    if !starts_fraction(cursor.rest) {
        return 0;
    }
    let digit_count = cursor.rest[1..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    let digits = &cursor.rest[1..1 + digit_count];
    cursor.rest = &cursor.rest[1 + digit_count..];
    let mut nanos = 0u32;
    for position in 0..9 {
        let digit = digits
            .get(position)
            .map_or(0, |byte| u32::from(byte - b'0'));
        nanos = nanos * 10 + digit;
    }
    nanos
}

fn starts_fraction(rest: &[u8]) -> bool {
    matches!(rest, [b'.' | b',', digit, ..] if digit.is_ascii_digit())
}

/// `Z`, or `±hh:mm` where `hh` and `mm` go through Go's `atoi` (no range check in Go 1.19).
fn parse_offset(cursor: &mut Cursor) -> Result<i64, &'static str> {
    if cursor.rest.first() == Some(&b'Z') {
        cursor.rest = &cursor.rest[1..];
        return Ok(0);
    }
    let zone = cursor.take(6).ok_or("expected 'Z' or a ±hh:mm offset")?;
    if zone[3] != b':' {
        return Err("expected 'Z' or a ±hh:mm offset");
    }
    let hours = go_atoi(&zone[1..3]).ok_or("bad offset hours")?;
    let minutes = go_atoi(&zone[4..6]).ok_or("bad offset minutes")?;
    let offset = (hours * 60 + minutes) * 60;
    match zone[0] {
        b'+' => Ok(offset),
        b'-' => Ok(-offset),
        _ => Err("offset must start with '+' or '-'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(unix_secs: i64, nanos: u32, utc_offset_secs: i32) -> GoTime {
        GoTime {
            unix_secs,
            nanos,
            utc_offset_secs,
        }
    }

    // Expectations derived by hand from Go 1.19's time/format.go (RFC3339Nano, Z07:00).
    #[test]
    fn formats_utc_with_trimmed_fraction() {
        assert_eq!(time(0, 0, 0).to_rfc3339_nano(), "1970-01-01T00:00:00Z");
        assert_eq!(
            time(1_700_000_000, 123_456_789, 0).to_rfc3339_nano(),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(
            time(1_700_000_000, 500_000_000, 0).to_rfc3339_nano(),
            "2023-11-14T22:13:20.5Z"
        );
        assert_eq!(
            time(1_700_000_000, 1_000, 0).to_rfc3339_nano(),
            "2023-11-14T22:13:20.000001Z"
        );
        assert_eq!(
            time(1_700_000_000, 93_686_192, 0).to_rfc3339_nano(),
            "2023-11-14T22:13:20.093686192Z"
        );
    }

    #[test]
    fn formats_offsets_as_wall_clock_and_hh_mm() {
        assert_eq!(
            time(1_700_000_000, 0, 3600).to_rfc3339_nano(),
            "2023-11-14T23:13:20+01:00"
        );
        assert_eq!(
            time(1_700_000_000, 0, -(9 * 3600 + 30 * 60)).to_rfc3339_nano(),
            "2023-11-14T12:43:20-09:30"
        );
        // Local mean time of Amsterdam, +00:19:32: seconds shift the clock but are not printed.
        assert_eq!(
            time(-2_000_000_000, 0, 1172).to_rfc3339_nano(),
            "1906-08-16T20:46:12+00:19"
        );
        // Go takes the sign from the offset in whole minutes: -30 s is "+00:00".
        assert_eq!(
            time(0, 0, -30).to_rfc3339_nano(),
            "1969-12-31T23:59:30+00:00"
        );
    }

    #[test]
    fn formats_go_zero_time_and_years_before_the_epoch() {
        assert_eq!(GoTime::GO_ZERO.to_rfc3339_nano(), "0001-01-01T00:00:00Z");
        assert_eq!(
            time(-1, 999_999_999, 0).to_rfc3339_nano(),
            "1969-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            time(-62_167_219_200, 0, 0).to_rfc3339_nano(),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            time(-62_167_219_201, 0, 0).to_rfc3339_nano(),
            "-0001-12-31T23:59:59Z"
        );
        assert_eq!(
            time(253_402_300_800, 0, 0).to_rfc3339_nano(),
            "10000-01-01T00:00:00Z"
        );
    }

    #[test]
    fn restic_fix_time_clamps_the_year() {
        let in_range = time(1_700_000_000, 5, 3600);
        assert_eq!(in_range.restic_fixed(), in_range);
        // 10000-02-29 (a leap day) becomes 9999-02-29, which Go normalises to 9999-03-01.
        let leap_day = GoTime::parse_rfc3339("2000-02-29T12:00:00.25+02:00").unwrap();
        let far = time(
            leap_day.unix_secs + days_between_years(2000, 10000),
            leap_day.nanos,
            7200,
        );
        assert_eq!(far.to_rfc3339_nano(), "10000-02-29T12:00:00.25+02:00");
        assert_eq!(
            far.restic_fixed().to_rfc3339_nano(),
            "9999-03-01T12:00:00.25+02:00"
        );
        assert_eq!(
            time(-62_167_219_201, 0, 0).restic_fixed().to_rfc3339_nano(),
            "0000-12-31T23:59:59Z"
        );
        assert_eq!(
            time(i64::MIN, 0, 0).restic_fixed().wall_clock().year,
            0,
            "no overflow at the extremes"
        );
        assert_eq!(
            time(i64::MAX, 0, 50_000).restic_fixed().wall_clock().year,
            9999
        );
    }

    fn days_between_years(from: i64, to: i64) -> i64 {
        (days_from_civil(to, 1, 1) - days_from_civil(from, 1, 1)) * 86_400
    }

    #[test]
    fn parses_what_restic_writes_and_keeps_the_offset() {
        let parsed = GoTime::parse_rfc3339("2026-11-22T03:19:21.93686192+01:00").unwrap();
        assert_eq!(parsed.utc_offset_secs, 3600);
        assert_eq!(parsed.nanos, 936_861_920);
        assert_eq!(
            parsed.to_rfc3339_nano(),
            "2026-11-22T03:19:21.93686192+01:00"
        );
        let utc = GoTime::parse_rfc3339("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(utc, GoTime::GO_ZERO);
    }

    #[test]
    fn parses_go_quirks() {
        let one_digit_hour = GoTime::parse_rfc3339("2020-01-02T3:04:05Z").unwrap();
        assert_eq!(one_digit_hour.to_rfc3339_nano(), "2020-01-02T03:04:05Z");
        let comma = GoTime::parse_rfc3339("2020-01-02T03:04:05,5Z").unwrap();
        assert_eq!(comma.nanos, 500_000_000);
        let long = GoTime::parse_rfc3339("2020-01-02T03:04:05.1234567899999Z").unwrap();
        assert_eq!(long.nanos, 123_456_789);
        let plus_zero = GoTime::parse_rfc3339("2020-01-02T03:04:05+00:00").unwrap();
        assert_eq!(plus_zero.to_rfc3339_nano(), "2020-01-02T03:04:05Z");
        let signed_hours = GoTime::parse_rfc3339("2020-01-02T03:04:05+-1:00").unwrap();
        assert_eq!(signed_hours.utc_offset_secs, -3600);
        let no_seconds = GoTime::parse_rfc3339("2020-01-02T03:04:.05Z").unwrap();
        assert_eq!(no_seconds.to_rfc3339_nano(), "2020-01-02T03:04:00.05Z");
        let leap = GoTime::parse_rfc3339("2024-02-29T00:00:00Z").unwrap();
        assert_eq!(leap.to_rfc3339_nano(), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "2020-01-02",
            "2020-01-02T03:04:05",
            "2020-01-02t03:04:05Z",
            "2020-01-02T03:04:05z",
            "2020-1-02T03:04:05Z",
            "2020-13-02T03:04:05Z",
            "2020-00-02T03:04:05Z",
            "2023-02-29T00:00:00Z",
            "2020-04-31T00:00:00Z",
            "2020-01-00T00:00:00Z",
            "2020-01-02T24:00:00Z",
            "2020-01-02T03:60:00Z",
            "2020-01-02T03:04:60Z",
            "2020-01-02T03:04:05.Z",
            "2020-01-02T03:04:05+0100",
            "2020-01-02T03:04:05 01:00",
            "2020-01-02T03:04:05Zjunk",
            "+020-01-02T03:04:05Z",
            "20é0-01-02T03:04:05Z",
            "2020-01-02T03:04:05+é:00",
        ] {
            assert!(
                GoTime::parse_rfc3339(bad).is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn from_unix_local_carries_nanoseconds() {
        let carried = GoTime::from_unix_local(10, 2_500_000_000);
        assert_eq!((carried.unix_secs, carried.nanos), (12, 500_000_000));
    }

    #[test]
    fn civil_conversions_agree_over_a_wide_range() {
        for days in (-1_000_000..1_000_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
            assert!((1..=days_in_month(month, year)).contains(&day));
        }
    }
}

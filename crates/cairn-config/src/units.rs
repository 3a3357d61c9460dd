//! Durations (`30s`, `10m`, `1h30m`, `7d`) and sizes (`512K`, `20M`, `1G`) as typed values.
//!
//! One grammar for the config file and the command line, so a value copied from one to the
//! other means the same. Retention's `keep_within*` durations are not these: they are restic's
//! calendar durations (`1y6m`, where `m` is a month), `cairn_repo::forget::CalendarDuration`.

use std::fmt;
use std::str::FromStr;

/// Why a duration or size could not be read; the message says how to write one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

/// Units from the largest down, in milliseconds (a unit is the whole run of letters after a
/// number, so `ms` and `m` never mix up).
const DURATION_UNITS: [(&str, u64); 6] = [
    ("w", WEEK),
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", SECOND),
    ("ms", 1),
];

const DURATION_FORM: &str =
    "write a number with a unit (ms, s, m, h, d, w), e.g. 30s, 10m, 1h30m or 7d";

/// A span of time: a sum of `NUMBER UNIT` terms, or `0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub const fn from_secs(seconds: u64) -> Duration {
        Duration(std::time::Duration::from_secs(seconds))
    }

    pub fn as_std(self) -> std::time::Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for std::time::Duration {
    fn from(duration: Duration) -> std::time::Duration {
        duration.0
    }
}

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Duration, UnitError> {
        let invalid = |why: &str| {
            UnitError(format!(
                "invalid duration {text:?} ({why}); {DURATION_FORM}"
            ))
        };
        if text == "0" {
            return Ok(Duration::ZERO);
        }
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let mut millis: u64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(invalid("a unit has no number before it"));
            }
            let value: u64 = rest[..digits]
                .parse()
                .map_err(|_| invalid("a number is too large"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            if unit_len == 0 {
                return Err(invalid("the last number has no unit"));
            }
            let unit = &rest[..unit_len];
            let Some((_, factor)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit) else {
                return Err(invalid(&format!("unknown unit {unit:?}")));
            };
            millis = value
                .checked_mul(*factor)
                .and_then(|term| millis.checked_add(term))
                .ok_or_else(|| invalid("it is too long"))?;
            rest = &rest[unit_len..];
        }
        Ok(Duration(std::time::Duration::from_millis(millis)))
    }
}

impl fmt::Display for Duration {
    /// A form the parser reads back to the same value, in days and smaller units as people
    /// write them (`1h30m`, `7d`, `0`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut millis = self.0.as_millis();
        if millis == 0 {
            return f.write_str("0");
        }
        for (name, factor) in DURATION_UNITS.into_iter().filter(|(name, _)| *name != "w") {
            let factor = u128::from(factor);
            if millis >= factor {
                write!(f, "{}{name}", millis / factor)?;
                millis %= factor;
            }
        }
        Ok(())
    }
}

/// A number of bytes: `500`, `512K`, `20M`, `1G`, `2T` (powers of 1024, as restic reads sizes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<ByteSize, UnitError> {
        // One size grammar in the workspace: the engine's, which prune's options already use.
        cairn_repo::prune::parse_size(text)
            .map(ByteSize)
            .ok_or_else(|| {
                UnitError(format!(
                    "invalid size {text:?}; write a number with K, M, G or T, e.g. 512K, 20M or 1G"
                ))
            })
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the value exactly (`20M`, `1536K`, `7`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
            if self.0 != 0 && self.0.is_multiple_of(1u64 << shift) {
                return write!(f, "{}{name}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// A bandwidth limit in bytes per second: a size, optionally ending in `/s`; `0` means none.
pub fn parse_rate(text: &str) -> Result<ByteSize, UnitError> {
    text.strip_suffix("/s").unwrap_or(text).parse().map_err(|_| {
        UnitError(format!(
            "invalid rate {text:?}; write bytes per second such as 512K, 10M or 1G, or 0 for no limit"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> u64 {
        text.parse::<Duration>().unwrap().as_std().as_secs()
    }

    #[test]
    fn durations_sum_their_terms() {
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("10m"), 600);
        assert_eq!(secs("1h30m"), 5_400);
        assert_eq!(secs("7d"), 7 * 86_400);
        assert_eq!(secs("1w2d"), 9 * 86_400);
        assert_eq!(secs("0"), 0);
        assert_eq!(
            "1m500ms".parse::<Duration>().unwrap().as_std(),
            std::time::Duration::from_millis(60_500)
        );
    }

    #[test]
    fn malformed_durations_say_why_and_how_to_write_one() {
        for (text, why) in [
            ("", "it is empty"),
            ("7", "the last number has no unit"),
            ("7x", "unknown unit \"x\""),
            ("d", "a unit has no number before it"),
            ("-1d", "a unit has no number before it"),
            ("1.5h", "unknown unit \".\""),
            ("99999999999999999999d", "a number is too large"),
            ("9999999999999999w", "it is too long"),
        ] {
            let error = text.parse::<Duration>().unwrap_err().to_string();
            assert!(error.contains(why), "{text:?}: {error}");
            assert!(error.ends_with("e.g. 30s, 10m, 1h30m or 7d"), "{error}");
        }
    }

    #[test]
    fn durations_print_in_the_form_they_are_read() {
        for text in ["0", "30s", "10m", "1h30m", "7d", "17d4h5m6s7ms"] {
            assert_eq!(text.parse::<Duration>().unwrap().to_string(), text);
        }
        assert_eq!("90m".parse::<Duration>().unwrap().to_string(), "1h30m");
        assert_eq!("1w".parse::<Duration>().unwrap().to_string(), "7d");
    }

    #[test]
    fn sizes_are_powers_of_1024() {
        assert_eq!("512K".parse::<ByteSize>().unwrap(), ByteSize(512 << 10));
        assert_eq!("20M".parse::<ByteSize>().unwrap(), ByteSize(20 << 20));
        assert_eq!("1G".parse::<ByteSize>().unwrap(), ByteSize(1 << 30));
        assert_eq!("0".parse::<ByteSize>().unwrap(), ByteSize(0));
        assert_eq!(ByteSize(20 << 20).to_string(), "20M");
        assert_eq!(ByteSize(1536 << 10).to_string(), "1536K");
        assert_eq!(ByteSize(7).to_string(), "7");
        let error = "fast".parse::<ByteSize>().unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid size \"fast\"; write a number with K, M, G or T, e.g. 512K, 20M or 1G"
        );
    }

    #[test]
    fn rates_may_end_in_per_second() {
        assert_eq!(parse_rate("10M/s").unwrap(), ByteSize(10 << 20));
        assert_eq!(parse_rate("512K").unwrap(), ByteSize(512 << 10));
        assert_eq!(parse_rate("0").unwrap(), ByteSize(0));
        assert!(parse_rate("fast").is_err());
    }
}

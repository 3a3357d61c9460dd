//! Serde for `DateTime<FixedOffset>` in Go's `time.Time` JSON form: RFC 3339 with the
//! fraction's trailing zeros trimmed (none when zero), `Z` for UTC. Used by snapshots, key files
//! and locks so cairn writes the same text restic does.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Deserializer, Serializer};

use crate::tree::GoTime;

/// The Go text of a time.
pub fn go_text(time: &DateTime<FixedOffset>) -> String {
    GoTime {
        unix_secs: time.timestamp(),
        // chrono represents a leap second as nanos >= 1e9; Go has no leap seconds.
        nanos: time.timestamp_subsec_nanos().min(999_999_999),
        utc_offset_secs: time.offset().local_minus_utc(),
    }
    .to_rfc3339_nano()
}

pub fn serialize<S: Serializer>(time: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&go_text(time))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    let time = DateTime::parse_from_rfc3339(&text)
        .map_err(|e| serde::de::Error::custom(format!("invalid time {text:?}: {e}")))?;
    // chrono accepts a leap second (:60); Go's time.Parse, and so restic, does not.
    if time.timestamp_subsec_nanos() >= 1_000_000_000 {
        return Err(serde::de::Error::custom(format!(
            "invalid time {text:?}: second out of range"
        )));
    }
    Ok(time)
}

/// A time read as a value of its own (for decoders that read fields one by one).
pub(crate) struct GoTimeValue(pub DateTime<FixedOffset>);

impl<'de> Deserialize<'de> for GoTimeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GoTimeValue, D::Error> {
        deserialize(d).map(GoTimeValue)
    }
}

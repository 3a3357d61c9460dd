//! Points in time as flags and API requests name them (`mirror restore --at`): RFC 3339
//! (`2026-11-29T10:00:00Z`, `2026-11-29T11:00:00+01:00`), or `2026-11-29 10:00[:00]` and
//! `2026-11-29` in the machine's local time zone, as restic's `--time` reads its form.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

const FORMS: &str =
    "write RFC 3339 (2026-11-29T10:00:00Z) or local time as 2026-11-29 10:00[:00] or 2026-11-29";

/// Parses an instant; the message says which forms are accepted.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(exact) = DateTime::parse_from_rfc3339(text) {
        return Ok(exact.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|form| NaiveDateTime::parse_from_str(text, form).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
    })
    .ok_or_else(|| format!("{text:?} is not a time; {FORMS}"))?;
    // A local time skipped by a DST change names no instant; one repeated names the first.
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|local| local.with_timezone(&Utc))
        .ok_or_else(|| format!("{text:?} does not exist in the local time zone (a DST gap)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rfc3339_exactly_and_local_forms_in_the_local_zone() {
        assert_eq!(
            parse_instant("2026-11-29T11:00:00+01:00").unwrap(),
            parse_instant("2026-11-29T10:00:00Z").unwrap()
        );
        let local = Local
            .with_ymd_and_hms(2026, 11, 29, 10, 0, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_instant("2026-11-29 10:00").unwrap(), local);
        assert_eq!(parse_instant("2026-11-29 10:00:00").unwrap(), local);
        assert!(parse_instant("2026-11-29").is_ok());
        let err = parse_instant("yesterday").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
    }
}

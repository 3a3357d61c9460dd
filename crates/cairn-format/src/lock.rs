//! Lock files (`locks/<id>`): who holds the repository, shared or exclusive, since when.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::go_json::{deserialize_go_object, read_object, set, UnknownFields};
use crate::go_time_serde::GoTimeValue;
use crate::tree::GoTime;
use crate::FormatError;

/// A lock file's JSON, fields in restic's order. Nothing is required: a lock without a time
/// reads as Go's zero time, which is stale, as restic sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockFile {
    #[serde(with = "crate::go_time_serde")]
    pub time: DateTime<FixedOffset>,
    pub exclusive: bool,
    pub hostname: String,
    pub username: String,
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(flatten)]
    pub unknown_fields: UnknownFields,
}

const FIELDS: [&str; 7] = [
    "time",
    "exclusive",
    "hostname",
    "username",
    "pid",
    "uid",
    "gid",
];

/// Go's zero `time.Time`, `0001-01-01T00:00:00Z`.
fn go_zero_time() -> DateTime<FixedOffset> {
    DateTime::from_timestamp(GoTime::GO_ZERO.unix_secs, 0)
        .expect("year 1 is within chrono's range")
        .fixed_offset()
}

deserialize_go_object!(LockFile, "a lock object", |map| {
    let mut lock = LockFile {
        time: go_zero_time(),
        exclusive: false,
        hostname: String::new(),
        username: String::new(),
        pid: 0,
        uid: 0,
        gid: 0,
        unknown_fields: UnknownFields::default(),
    };
    lock.unknown_fields = read_object(&mut map, &FIELDS, |field, map| {
        match field {
            0 => set(
                &mut lock.time,
                map.next_value::<Option<GoTimeValue>>()?.map(|t| t.0),
            ),
            1 => set(&mut lock.exclusive, map.next_value()?),
            2 => set(&mut lock.hostname, map.next_value()?),
            3 => set(&mut lock.username, map.next_value()?),
            4 => set(&mut lock.pid, map.next_value()?),
            5 => set(&mut lock.uid, map.next_value()?),
            _ => set(&mut lock.gid, map.next_value()?),
        }
        Ok(())
    })?;
    Ok(lock)
});

impl LockFile {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("lock serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<LockFile, FormatError> {
        serde_json::from_slice(bytes).map_err(FormatError::json("lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_lock_reads_as_go_zero_values_and_unknown_fields_are_kept() {
        let lock = LockFile::from_json(b"{}").unwrap();
        assert_eq!(lock.time.to_rfc3339(), "0001-01-01T00:00:00+00:00");
        assert!(!lock.exclusive);
        assert_eq!((lock.pid, lock.uid, lock.gid), (0, 0, 0));
        let json = br#"{"time":"2024-01-02T03:04:05Z","exclusive":true,"hostname":"h","username":"u","pid":7,"uid":1,"gid":2,"x":null}"#;
        let lock = LockFile::from_json(json).unwrap();
        assert!(lock.exclusive);
        assert_eq!(lock.to_json(), json.to_vec());
    }
}

//! Snapshot files (`snapshots/<id>`): the root of one backup.
//!
//! Fields follow restic's `Snapshot`; fields this version does not know (e.g. `summary` written
//! by newer restic) are kept and written back, so rewriting a snapshot (tags) loses nothing.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::{FormatError, Id};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(with = "crate::go_time_serde")]
    pub time: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    pub tree: Id,
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uid: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The snapshot this one was copied or rewritten from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Id>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub program_version: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl Snapshot {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("snapshot serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Snapshot, FormatError> {
        serde_json::from_slice(bytes).map_err(FormatError::json("snapshot"))
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_restic_snapshot_and_keeps_unknown_fields() {
        let tree = Id::hash(b"tree");
        let json = format!(
            r#"{{"time":"2022-08-05T10:00:00.123456789+02:00","tree":"{tree}","paths":["/home"],"hostname":"h","username":"u","uid":1000,"gid":1000,"tags":["a"],"summary":{{"files_new":3}}}}"#
        );
        let snapshot = Snapshot::from_json(json.as_bytes()).unwrap();
        assert_eq!(snapshot.tree, tree);
        assert!(snapshot.has_tag("a"));
        assert_eq!(snapshot.time.timestamp_subsec_nanos(), 123_456_789);
        let json = String::from_utf8(snapshot.to_json()).unwrap();
        assert!(
            json.contains(r#""time":"2022-08-05T10:00:00.123456789+02:00""#),
            "{json}"
        );
        let again = Snapshot::from_json(&snapshot.to_json()).unwrap();
        assert_eq!(again, snapshot);
        assert!(String::from_utf8(snapshot.to_json())
            .unwrap()
            .contains(r#""summary":{"files_new":3}"#));
    }

    #[test]
    fn times_are_written_as_go_writes_them() {
        let tree = Id::hash(b"tree");
        for (input, output) in [
            ("2020-01-02T03:04:09.120Z", "2020-01-02T03:04:09.12Z"),
            ("2020-01-02T03:04:09Z", "2020-01-02T03:04:09Z"),
            (
                "2020-01-02T03:04:09.000000001+09:00",
                "2020-01-02T03:04:09.000000001+09:00",
            ),
        ] {
            let json = format!(r#"{{"time":"{input}","tree":"{tree}","paths":[]}}"#);
            let text =
                String::from_utf8(Snapshot::from_json(json.as_bytes()).unwrap().to_json()).unwrap();
            assert!(text.contains(&format!(r#""time":"{output}""#)), "{text}");
        }
    }

    #[test]
    fn rejects_a_snapshot_without_a_tree() {
        let json = br#"{"time":"2022-08-05T10:00:00Z","paths":[]}"#;
        assert!(Snapshot::from_json(json).is_err());
    }
}

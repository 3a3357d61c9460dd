//! Snapshot files (`snapshots/<id>`): the root of one backup.
//!
//! Fields follow restic's `Snapshot`; fields this version does not know (e.g. `summary` written
//! by newer restic) are kept and written back, so rewriting a snapshot (tags) loses nothing.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::{Deserialize, Serialize};

use crate::{FormatError, Id};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(with = "rfc3339_nanos")]
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

/// Times as Go's `time.Time` marshals them: RFC 3339 with up to nine fraction digits.
mod rfc3339_nanos {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid time {text:?}: {e}")))
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
        let again = Snapshot::from_json(&snapshot.to_json()).unwrap();
        assert_eq!(again, snapshot);
        assert!(String::from_utf8(snapshot.to_json())
            .unwrap()
            .contains(r#""summary":{"files_new":3}"#));
    }

    #[test]
    fn rejects_a_snapshot_without_a_tree() {
        let json = br#"{"time":"2022-08-05T10:00:00Z","paths":[]}"#;
        assert!(Snapshot::from_json(json).is_err());
    }
}

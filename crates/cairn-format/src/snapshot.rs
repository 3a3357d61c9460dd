//! Snapshot files (`snapshots/<id>`): the root of one backup.
//!
//! Fields follow restic's `Snapshot`; fields this version does not know (e.g. `summary` written
//! by newer restic) are kept and written back, so rewriting a snapshot (tags) loses nothing.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::go_json::{deserialize_go_object, read_object, required, set, UnknownFields};
use crate::go_time_serde::GoTimeValue;
use crate::{FormatError, Id};

/// A snapshot file's JSON. Known fields in restic's order, with its `omitempty`; `time` and
/// `tree` are required, every other field may be absent (see [`crate::go_json`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    #[serde(with = "crate::go_time_serde")]
    pub time: DateTime<FixedOffset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    pub tree: Id,
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub uid: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub gid: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The snapshot this one was copied or rewritten from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<Id>,
    /// The program that wrote the snapshot (`restic 0.17.0`, `cairn 0.1.0`, `rustic v0.9.5`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub program_version: String,
    /// Fields this version does not know, written back after the known ones: restic ≥ 0.17's
    /// `summary` (which follows `program_version` there too), other tools' fields.
    #[serde(flatten)]
    pub unknown_fields: UnknownFields,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

const FIELDS: [&str; 12] = [
    "time",
    "parent",
    "tree",
    "paths",
    "hostname",
    "username",
    "uid",
    "gid",
    "excludes",
    "tags",
    "original",
    "program_version",
];

/// A `[]string` as Go decodes it: `null` is an empty list, a `null` element an empty string.
pub(crate) fn go_strings(list: Option<Vec<Option<String>>>) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}

deserialize_go_object!(Snapshot, "a snapshot object", |map| {
    let mut time = None;
    let mut tree = None;
    let mut snapshot = Snapshot {
        time: DateTime::default(),
        parent: None,
        tree: Id::from_bytes([0; 32]),
        paths: Vec::new(),
        hostname: String::new(),
        username: String::new(),
        uid: 0,
        gid: 0,
        excludes: Vec::new(),
        tags: Vec::new(),
        original: None,
        program_version: String::new(),
        unknown_fields: UnknownFields::default(),
    };
    snapshot.unknown_fields = read_object(&mut map, &FIELDS, |field, map| {
        match field {
            0 => set(
                &mut time,
                map.next_value::<Option<GoTimeValue>>()?.map(Some),
            ),
            1 => snapshot.parent = map.next_value()?,
            2 => tree = map.next_value::<Option<Id>>()?,
            3 => snapshot.paths = go_strings(map.next_value()?),
            4 => set(&mut snapshot.hostname, map.next_value()?),
            5 => set(&mut snapshot.username, map.next_value()?),
            6 => set(&mut snapshot.uid, map.next_value()?),
            7 => set(&mut snapshot.gid, map.next_value()?),
            8 => snapshot.excludes = go_strings(map.next_value()?),
            9 => snapshot.tags = go_strings(map.next_value()?),
            10 => snapshot.original = map.next_value()?,
            _ => set(&mut snapshot.program_version, map.next_value()?),
        }
        Ok(())
    })?;
    snapshot.time = required(time, "time")?.0;
    snapshot.tree = required(tree, "tree")?;
    Ok(snapshot)
});

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

    /// A snapshot as restic 0.17 writes it, fields in its struct order.
    const RESTIC_0_17_SNAPSHOT: &str = concat!(
        r#"{"time":"2024-05-01T10:00:00.123456789+02:00","#,
        r#""tree":"5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9","#,
        r#""paths":["/srv"],"hostname":"h","username":"root","tags":["daily"],"#,
        r#""program_version":"restic 0.17.3","summary":{"backup_start":"2024-05-01T10:00:00.1+02:00","#,
        r#""backup_end":"2024-05-01T10:00:01.2+02:00","files_new":3,"files_changed":0,"#,
        r#""files_unmodified":0,"dirs_new":2,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":3,"#,
        r#""tree_blobs":3,"data_added":1234,"data_added_packed":1100,"total_files_processed":3,"#,
        r#""total_bytes_processed":1234}}"#
    );

    #[test]
    fn a_newer_restic_snapshot_re_encodes_to_the_same_bytes() {
        let snapshot = Snapshot::from_json(RESTIC_0_17_SNAPSHOT.as_bytes()).unwrap();
        assert_eq!(snapshot.program_version, "restic 0.17.3");
        assert!(snapshot
            .unknown_fields
            .get("summary")
            .unwrap()
            .contains(r#""total_bytes_processed":1234"#));
        assert_eq!(
            String::from_utf8(snapshot.to_json()).unwrap(),
            RESTIC_0_17_SNAPSHOT
        );
    }

    #[test]
    fn a_minimal_snapshot_reads_with_zero_values() {
        let tree = Id::hash(b"tree");
        let json = format!(r#"{{"time":"2022-08-05T10:00:00Z","tree":"{tree}"}}"#);
        let snapshot = Snapshot::from_json(json.as_bytes()).unwrap();
        assert!(snapshot.paths.is_empty() && snapshot.tags.is_empty());
        assert_eq!((snapshot.hostname.as_str(), snapshot.uid), ("", 0));
        assert_eq!(snapshot.parent, None);
        let json = format!(
            r#"{{"Time":"2022-08-05T10:00:00Z","TREE":"{tree}","paths":null,"tags":[null,"a"],"parent":null,"hostname":null}}"#
        );
        let snapshot = Snapshot::from_json(json.as_bytes()).unwrap();
        assert_eq!(snapshot.tags, vec!["".to_string(), "a".to_string()]);
        assert!(snapshot.unknown_fields.is_empty(), "keys match as in Go");
        let error = Snapshot::from_json(format!(r#"{{"tree":"{tree}"}}"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing field `time`"), "{error}");
    }
}

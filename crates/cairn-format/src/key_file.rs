//! Key files (`keys/<id>`): plain JSON holding scrypt parameters and the sealed master key.
//!
//! The file is not encrypted: `data` is the master key JSON sealed with the key derived from the
//! password by scrypt with this file's own `N`, `r`, `p` and `salt`. Several key files may open
//! the same repository, one per password.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::base64_bytes::GoBytes;
use crate::go_json::{deserialize_go_object, read_object, required, set, UnknownFields};
use crate::go_time_serde::GoTimeValue;
use crate::FormatError;

/// A key file's JSON, fields in restic's order. Required: the scrypt parameters (`N`, `r`,
/// `p`), `salt` and `data`; `created`, `username` and `hostname` are information only (other
/// implementations of the format leave them out).
#[derive(Clone, Serialize)]
pub struct KeyFile {
    /// When the key was made; `None` when the file does not say.
    #[serde(with = "optional_time", skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<FixedOffset>>,
    pub username: String,
    pub hostname: String,
    pub kdf: String,
    #[serde(rename = "N")]
    pub n: u64,
    pub r: u32,
    pub p: u32,
    #[serde(serialize_with = "crate::base64_bytes::serialize")]
    pub salt: Vec<u8>,
    /// The sealed master key; without the password it reveals nothing, but it is still kept out
    /// of `Debug` output.
    #[serde(serialize_with = "crate::base64_bytes::serialize")]
    pub data: Vec<u8>,
    #[serde(flatten)]
    pub unknown_fields: UnknownFields,
}

mod optional_time {
    use chrono::{DateTime, FixedOffset};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(
        time: &Option<DateTime<FixedOffset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => crate::go_time_serde::serialize(time, s),
            None => s.serialize_none(),
        }
    }
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("created", &self.created)
            .field("username", &self.username)
            .field("hostname", &self.hostname)
            .field("kdf", &self.kdf)
            .field("n", &self.n)
            .field("r", &self.r)
            .field("p", &self.p)
            .field("unknown_fields", &self.unknown_fields)
            .finish_non_exhaustive()
    }
}

const FIELDS: [&str; 9] = [
    "created", "username", "hostname", "kdf", "N", "r", "p", "salt", "data",
];

deserialize_go_object!(KeyFile, "a key file object", |map| {
    let (mut created, mut username, mut hostname, mut kdf) =
        (None, String::new(), String::new(), String::new());
    let (mut n, mut r, mut p, mut salt, mut data) = (None, None, None, None, None);
    let unknown_fields = read_object(&mut map, &FIELDS, |field, map| {
        match field {
            0 => created = map.next_value::<Option<GoTimeValue>>()?.map(|t| t.0),
            1 => set(&mut username, map.next_value()?),
            2 => set(&mut hostname, map.next_value()?),
            3 => set(&mut kdf, map.next_value()?),
            4 => set(&mut n, map.next_value::<Option<u64>>()?.map(Some)),
            5 => set(&mut r, map.next_value::<Option<u32>>()?.map(Some)),
            6 => set(&mut p, map.next_value::<Option<u32>>()?.map(Some)),
            7 => salt = map.next_value::<Option<GoBytes>>()?,
            _ => data = map.next_value::<Option<GoBytes>>()?,
        }
        Ok(())
    })?;
    Ok(KeyFile {
        created,
        username,
        hostname,
        kdf,
        n: required(n, "N")?,
        r: required(r, "r")?,
        p: required(p, "p")?,
        salt: required(salt, "salt")?.0,
        data: required(data, "data")?.0,
        unknown_fields,
    })
});

impl KeyFile {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("key file serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<KeyFile, FormatError> {
        let key: KeyFile = serde_json::from_slice(bytes).map_err(FormatError::json("key file"))?;
        if key.kdf != "scrypt" {
            return Err(FormatError::invalid(
                "key file",
                format!(
                    "key derivation {:?} is not supported (only scrypt)",
                    key.kdf
                ),
            ));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_restic_shaped_json() {
        let json = br#"{"created":"2022-08-05T10:00:00.123456789+02:00","username":"root","hostname":"h","kdf":"scrypt","N":32768,"r":8,"p":5,"salt":"AAEC","data":"AwQF"}"#;
        let key = KeyFile::from_json(json).unwrap();
        assert_eq!((key.n, key.r, key.p), (32768, 8, 5));
        assert_eq!(key.salt, vec![0, 1, 2]);
        let again = KeyFile::from_json(&key.to_json()).unwrap();
        assert_eq!(again.data, vec![3, 4, 5]);
        assert!(!format!("{key:?}").contains("AwQF"));
    }

    #[test]
    fn rejects_other_kdfs_and_bad_base64() {
        let json = br#"{"created":"2022-08-05T10:00:00Z","kdf":"argon2","N":1,"r":1,"p":1,"salt":"","data":""}"#;
        assert!(KeyFile::from_json(json).is_err());
        let json = br#"{"created":"2022-08-05T10:00:00Z","kdf":"scrypt","N":1,"r":1,"p":1,"salt":"!!","data":""}"#;
        assert!(KeyFile::from_json(json).is_err());
    }

    #[test]
    fn reads_a_key_file_with_only_the_required_fields() {
        // As another implementation of the format writes it: no created, username, hostname.
        let json = br#"{"kdf":"scrypt","N":32768,"r":8,"p":1,"data":"AwQF","salt":"AAEC"}"#;
        let key = KeyFile::from_json(json).unwrap();
        assert_eq!(key.created, None);
        assert_eq!((key.username.as_str(), key.hostname.as_str()), ("", ""));
        assert_eq!((key.n, key.r, key.p), (32768, 8, 1));
        assert!(key.unknown_fields.is_empty());
        let text = String::from_utf8(key.to_json()).unwrap();
        assert!(!text.contains("created"), "nothing invented: {text}");
    }

    #[test]
    fn keeps_unknown_fields_and_matches_keys_as_go() {
        let json = br#"{"created":null,"KDF":"scrypt","n":2,"R":1,"P":1,"salt":"","data":"","x_tool":{"v":[1]}}"#;
        let key = KeyFile::from_json(json).unwrap();
        assert_eq!((key.kdf.as_str(), key.n, key.r, key.p), ("scrypt", 2, 1, 1));
        assert_eq!(key.unknown_fields.get("x_tool"), Some(r#"{"v":[1]}"#));
        let again = KeyFile::from_json(&key.to_json()).unwrap();
        assert_eq!(again.unknown_fields, key.unknown_fields);
    }

    #[test]
    fn names_the_missing_field_the_key_cannot_do_without() {
        for field in ["N", "r", "p", "salt", "data"] {
            let mut value: serde_json::Value = serde_json::from_str(
                r#"{"kdf":"scrypt","N":2,"r":1,"p":1,"salt":"AA==","data":"AA=="}"#,
            )
            .unwrap();
            value.as_object_mut().unwrap().remove(field);
            let error = KeyFile::from_json(value.to_string().as_bytes()).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("missing field `{field}`")),
                "{error}"
            );
        }
        let error = KeyFile::from_json(br#"{"N":2,"r":1,"p":1,"salt":"","data":""}"#).unwrap_err();
        assert!(error.to_string().contains("only scrypt"), "{error}");
    }
}

//! The repository `config` object: format version, repository id and chunker polynomial.
//!
//! Stored encrypted but never compressed (restic reads it before it knows the version).

use serde::Serialize;

use crate::go_json::{deserialize_go_object, read_object, required, set, UnknownFields};
use crate::FormatError;

/// The only repository format version cairn writes; version 1 repositories are read too.
pub const REPOSITORY_VERSION: u32 = 2;

/// The config's JSON, fields in restic's order. `id` is required (it names the repository);
/// a missing version or polynomial reads as 0, which [`RepoConfig::from_json`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoConfig {
    pub version: u32,
    /// 64 hex digits, random at init; names the repository in caches and locks.
    pub id: String,
    /// The Rabin polynomial, as lowercase hex without `0x` (Go `%x`).
    #[serde(serialize_with = "polynomial_hex::serialize")]
    pub chunker_polynomial: u64,
    #[serde(flatten)]
    pub unknown_fields: UnknownFields,
}

const FIELDS: [&str; 3] = ["version", "id", "chunker_polynomial"];

deserialize_go_object!(RepoConfig, "a config object", |map| {
    let (mut version, mut id, mut chunker_polynomial) = (0, None, 0);
    let unknown_fields = read_object(&mut map, &FIELDS, |field, map| {
        match field {
            0 => set(&mut version, map.next_value()?),
            1 => set(&mut id, map.next_value::<Option<String>>()?.map(Some)),
            _ => {
                let polynomial = map.next_value::<Option<polynomial_hex::Polynomial>>()?;
                set(&mut chunker_polynomial, polynomial.map(|p| p.0));
            }
        }
        Ok(())
    })?;
    Ok(RepoConfig {
        version,
        id: required(id, "id")?,
        chunker_polynomial,
        unknown_fields,
    })
});

impl RepoConfig {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("config serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<RepoConfig, FormatError> {
        let config: RepoConfig =
            serde_json::from_slice(bytes).map_err(FormatError::json("config"))?;
        if config.version != 1 && config.version != 2 {
            return Err(FormatError::invalid(
                "config",
                format!(
                    "repository version {} is not supported (1 and 2 are)",
                    config.version
                ),
            ));
        }
        if config.chunker_polynomial == 0 {
            return Err(FormatError::invalid("config", "chunker polynomial is zero"));
        }
        Ok(config)
    }
}

mod polynomial_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{value:x}"))
    }

    /// A polynomial as restic's chunker reads it: hex digits in a string.
    pub struct Polynomial(pub u64);

    impl<'de> Deserialize<'de> for Polynomial {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Polynomial, D::Error> {
            let text = crate::go_json::Text::deserialize(d)?.0;
            u64::from_str_radix(&text, 16)
                .map(Polynomial)
                .map_err(|_| serde::de::Error::custom(format!("invalid polynomial {text:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_restic_writes() {
        let json = br#"{"version":2,"id":"5c3f6c1a8ecf1a07d7c4e1e9a7b1b4c2e2f4d1f0b8b6f3a6e1c5d9a2b3c4d5e6","chunker_polynomial":"3da3358b4dc173"}"#;
        let config = RepoConfig::from_json(json).unwrap();
        assert_eq!(config.chunker_polynomial, 0x3da3358b4dc173);
        assert_eq!(config.to_json(), json.to_vec());
    }

    #[test]
    fn rejects_unknown_versions_and_garbage() {
        let json = br#"{"version":3,"id":"x","chunker_polynomial":"1"}"#;
        assert!(RepoConfig::from_json(json).is_err());
        assert!(RepoConfig::from_json(b"\xff").is_err());
    }

    #[test]
    fn keeps_unknown_fields_and_writes_them_back() {
        let json = br#"{"version":2,"id":"ab","chunker_polynomial":"3da3358b4dc173","x_future":[true,{"a":"\u003c"}]}"#;
        let config = RepoConfig::from_json(json).unwrap();
        assert_eq!(config.unknown_fields.len(), 1);
        assert_eq!(config.to_json(), json.to_vec());
    }

    #[test]
    fn requires_the_id_and_refuses_a_missing_version_or_polynomial() {
        let missing_id = br#"{"version":2,"chunker_polynomial":"1"}"#;
        let error = RepoConfig::from_json(missing_id).unwrap_err().to_string();
        assert!(error.contains("missing field `id`"), "{error}");
        let no_version = br#"{"id":"x","chunker_polynomial":"1"}"#;
        let error = RepoConfig::from_json(no_version).unwrap_err().to_string();
        assert!(error.contains("version 0 is not supported"), "{error}");
        let no_polynomial = br#"{"version":2,"id":"x"}"#;
        let error = RepoConfig::from_json(no_polynomial)
            .unwrap_err()
            .to_string();
        assert!(error.contains("polynomial is zero"), "{error}");
    }
}

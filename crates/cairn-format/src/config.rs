//! The repository `config` object: format version, repository id and chunker polynomial.
//!
//! Stored encrypted but never compressed (restic reads it before it knows the version).

use serde::{Deserialize, Serialize};

use crate::FormatError;

/// The only repository format version cairn writes; version 1 repositories are read too.
pub const REPOSITORY_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoConfig {
    pub version: u32,
    /// 64 hex digits, random at init; names the repository in caches and locks.
    pub id: String,
    /// The Rabin polynomial, as lowercase hex without `0x` (Go `%x`).
    #[serde(with = "polynomial_hex")]
    pub chunker_polynomial: u64,
}

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

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        u64::from_str_radix(&text, 16)
            .map_err(|_| serde::de::Error::custom(format!("invalid polynomial {text:?}")))
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
}

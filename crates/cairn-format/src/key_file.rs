//! Key files (`keys/<id>`): plain JSON holding scrypt parameters and the sealed master key.
//!
//! The file is not encrypted: `data` is the master key JSON sealed with the key derived from the
//! password by scrypt with this file's own `N`, `r`, `p` and `salt`. Several key files may open
//! the same repository, one per password.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::FormatError;

#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    #[serde(with = "crate::go_time_serde")]
    pub created: DateTime<FixedOffset>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub hostname: String,
    pub kdf: String,
    #[serde(rename = "N")]
    pub n: u64,
    pub r: u32,
    pub p: u32,
    #[serde(with = "crate::base64_bytes")]
    pub salt: Vec<u8>,
    /// The sealed master key; without the password it reveals nothing, but it is still kept out
    /// of `Debug` output.
    #[serde(with = "crate::base64_bytes")]
    pub data: Vec<u8>,
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
            .finish_non_exhaustive()
    }
}

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
}

//! Where a repository or an offsite copy lives: a local directory, an S3 location or a REST
//! server.

use std::fmt;
use std::path::PathBuf;

use cairn_storage::{RestLocation, S3Location};

/// A store location as written on the command line and in the config: a directory,
/// `local:PATH`, `s3:https://HOST/BUCKET[/PREFIX]` or `rest:http(s)://[USER:PASSWORD@]HOST/PATH/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Local(PathBuf),
    S3(S3Location),
    Rest(RestLocation),
}

/// Location schemes restic knows and cairn does not serve (yet).
const UNSUPPORTED_SCHEMES: [&str; 6] = ["sftp", "b2", "azure", "gs", "rclone", "swift"];

impl StoreLocation {
    /// Reads a location; the error says what to write instead.
    pub fn parse(text: &str) -> Result<StoreLocation, String> {
        if text.is_empty() {
            return Err("the location is empty; write a directory or an s3: URL".into());
        }
        if let Some(path) = text.strip_prefix("local:") {
            return Ok(StoreLocation::Local(PathBuf::from(path)));
        }
        if S3Location::is_s3_url(text) {
            return S3Location::parse(text)
                .map(StoreLocation::S3)
                .map_err(|e| e.to_string());
        }
        if RestLocation::is_rest_url(text) {
            return RestLocation::parse(text)
                .map(StoreLocation::Rest)
                .map_err(|e| e.to_string());
        }
        if let Some((scheme, _)) = text.split_once(':') {
            if UNSUPPORTED_SCHEMES.contains(&scheme) {
                return Err(format!(
                    "{scheme} repositories are not supported by this version; use a local directory, s3: or rest:"
                ));
            }
        }
        Ok(StoreLocation::Local(PathBuf::from(text)))
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, StoreLocation::S3(_))
    }

    /// Reached over a network with a login (S3 keys, a REST login), which a
    /// `credentials_file` may hold.
    pub fn is_remote(&self) -> bool {
        !matches!(self, StoreLocation::Local(_))
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Local(path) => write!(f, "{}", path.display()),
            StoreLocation::S3(location) => write!(f, "{location}"),
            StoreLocation::Rest(location) => write!(f, "{location}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_directories_or_s3_urls() {
        assert_eq!(
            StoreLocation::parse("/srv/backup").unwrap(),
            StoreLocation::Local("/srv/backup".into())
        );
        assert_eq!(
            StoreLocation::parse("local:/srv/a:b").unwrap(),
            StoreLocation::Local("/srv/a:b".into())
        );
        let s3 = StoreLocation::parse("s3:https://s3.example.com/bucket/prefix").unwrap();
        assert!(s3.is_s3());
        assert_eq!(s3.to_string(), "s3:https://s3.example.com/bucket/prefix");
        assert!(StoreLocation::parse("s3:https://host")
            .unwrap_err()
            .contains("names no bucket"));
        assert_eq!(
            StoreLocation::parse("sftp:host:/srv").unwrap_err(),
            "sftp repositories are not supported by this version; use a local directory, s3: or rest:"
        );
        let rest = StoreLocation::parse("rest:http://127.0.0.1:8470/rest/main").unwrap();
        assert_eq!(rest.to_string(), "rest:http://127.0.0.1:8470/rest/main/");
    }
}

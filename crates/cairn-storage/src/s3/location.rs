//! Where an S3 repository is: restic's `s3:` URL form, parsed.
//!
//! `s3:http://host:port/bucket/prefix` and `s3:https://…` name the scheme; `s3:host/bucket/…`
//! without one means https, as in restic. The prefix may be empty (the bucket's root).

use std::fmt;

/// An S3 endpoint, bucket and key prefix. It holds no credentials, so it can be printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// `http://host:port` or `https://host`, without a trailing slash.
    pub endpoint: String,
    pub bucket: String,
    /// Key prefix without leading or trailing slashes; empty for the bucket's root.
    pub prefix: String,
}

/// Why a URL is not an S3 location; the message says what the form should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LocationError(String);

const FORM: &str = "use s3:https://HOST[:PORT]/BUCKET[/PREFIX] or s3:HOST/BUCKET[/PREFIX]";

impl S3Location {
    /// Whether `url` is meant as an S3 location (starts with `s3:`).
    pub fn is_s3_url(url: &str) -> bool {
        url.starts_with("s3:")
    }

    pub fn parse(url: &str) -> Result<S3Location, LocationError> {
        let rest = url
            .strip_prefix("s3:")
            .ok_or_else(|| LocationError(format!("{url:?} is not an S3 URL; {FORM}")))?;
        let (scheme, rest) = if let Some(r) = rest.strip_prefix("http://") {
            ("http", r)
        } else if let Some(r) = rest.strip_prefix("https://") {
            ("https", r)
        } else if rest.contains("://") {
            return Err(LocationError(format!(
                "{url:?} has a scheme other than http or https; {FORM}"
            )));
        } else {
            ("https", rest)
        };
        let mut parts = rest.splitn(2, '/');
        let host = parts.next().unwrap_or_default();
        let path = parts.next().unwrap_or_default().trim_matches('/');
        if host.contains('@') {
            // Not echoed: what precedes the @ is likely a secret.
            return Err(LocationError(format!(
                "the S3 URL holds credentials; they belong in AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, never in the URL; {FORM}"
            )));
        }
        if host.is_empty() {
            return Err(LocationError(format!("{url:?} names no host; {FORM}")));
        }
        let (bucket, prefix) = match path.split_once('/') {
            Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
            None => (path, ""),
        };
        if bucket.is_empty() {
            return Err(LocationError(format!("{url:?} names no bucket; {FORM}")));
        }
        if !is_valid_bucket_name(bucket) {
            return Err(LocationError(format!(
                "{bucket:?} is not a valid bucket name (3 to 63 characters: lowercase letters, \
                 digits, dots and hyphens)"
            )));
        }
        if prefix
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(LocationError(format!(
                "{url:?}: the prefix may not contain . or .. segments"
            )));
        }
        Ok(S3Location {
            endpoint: format!("{scheme}://{host}"),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The host (and port) part of the endpoint.
    pub fn host(&self) -> &str {
        self.endpoint
            .split_once("://")
            .map(|(_, host)| host)
            .unwrap_or(&self.endpoint)
    }

    pub fn is_https(&self) -> bool {
        self.endpoint.starts_with("https://")
    }

    /// The object key of `relative` (e.g. `data/ab/ab12…`) under this location's prefix.
    pub fn key(&self, relative: &str) -> String {
        if self.prefix.is_empty() {
            relative.to_string()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }

    /// The same endpoint and bucket with another prefix.
    pub fn with_prefix(&self, prefix: &str) -> S3Location {
        S3Location {
            prefix: prefix.trim_matches('/').to_string(),
            ..self.clone()
        }
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3:{}/{}", self.endpoint, self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

fn is_valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !name.starts_with(['.', '-'])
        && !name.ends_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_restic_forms() {
        let with_scheme = S3Location::parse("s3:http://127.0.0.1:9000/backups/hosts/web1").unwrap();
        assert_eq!(with_scheme.endpoint, "http://127.0.0.1:9000");
        assert_eq!(with_scheme.bucket, "backups");
        assert_eq!(with_scheme.prefix, "hosts/web1");
        assert_eq!(with_scheme.key("config"), "hosts/web1/config");
        assert_eq!(
            with_scheme.to_string(),
            "s3:http://127.0.0.1:9000/backups/hosts/web1"
        );

        let bare = S3Location::parse("s3:s3.us-west-002.backblazeb2.com/my-bucket").unwrap();
        assert_eq!(bare.endpoint, "https://s3.us-west-002.backblazeb2.com");
        assert_eq!(bare.prefix, "");
        assert_eq!(bare.key("keys/ab"), "keys/ab");
        assert!(bare.is_https());
        assert_eq!(bare.host(), "s3.us-west-002.backblazeb2.com");

        let trailing = S3Location::parse("s3:https://h/bucket/p/").unwrap();
        assert_eq!(trailing.prefix, "p");
    }

    #[test]
    fn refuses_what_is_not_a_location() {
        for (url, says) in [
            ("/srv/repo", "not an S3 URL"),
            ("s3:ftp://h/bucket", "scheme other than"),
            ("s3:http://h", "names no bucket"),
            ("s3:http://h/", "names no bucket"),
            ("s3:https://user:pw@h/bucket", "never in the URL"),
            ("s3:h/Bad_Bucket", "not a valid bucket name"),
            ("s3:h/bucket/../x", ". or .."),
        ] {
            let err = S3Location::parse(url).expect_err(url).to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("pw@"), "the message repeats a secret: {err}");
        }
    }
}

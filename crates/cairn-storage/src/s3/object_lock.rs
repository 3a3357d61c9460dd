//! Object Lock on an S3 store: writing a version with a retention date, extending it, reading
//! it back, and the bucket settings a locked mirror needs (versioning, the lock itself).
//!
//! OpenDAL has none of these operations, so they are [`super::signed`] requests. A PutObject
//! with lock headers must carry Content-MD5 (S3 refuses it otherwise); every signed request
//! with a body does. Retention is read from HeadObject's `x-amz-object-lock-*` headers rather
//! than GetObjectRetention: it is the same answer, every S3-compatible store that has locks
//! sends it, and the S3 test server (moto 5.2) has no GetObjectRetention.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderName, HeaderValue, Method};

use super::signed::{header_text, SignedRequest};
use super::{S3Store, ServerSideEncryption};
use crate::error::{ErrorKind, StorageError};
use crate::retention::{Retention, RetentionMode};
use crate::Result;

/// Whether a bucket keeps versions (GetBucketVersioning's `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketVersioning {
    Enabled,
    Suspended,
    /// Never enabled: the bucket keeps one version per key.
    Off,
}

/// The retention a bucket gives objects written without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub days: Option<u32>,
    pub years: Option<u32>,
}

/// GetObjectLockConfiguration's answer: `None` from the call when the bucket has no lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockConfiguration {
    pub enabled: bool,
    pub default_retention: Option<DefaultRetention>,
}

/// S3's timestamp form for lock dates (whole seconds, UTC).
fn s3_date(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let value = HeaderValue::from_str(value).map_err(|_| {
        StorageError::new(
            ErrorKind::Invalid,
            "write",
            name,
            format!("{value:?} cannot be sent as an HTTP header"),
        )
    })?;
    Ok((HeaderName::from_static(name), value))
}

impl S3Store {
    /// Writes an object (relative key) whose version is kept until `retention.retain_until`.
    /// `bulk`: in the storage class for bulk data, as `put_bulk` writes.
    pub fn put_locked(
        &self,
        key: &str,
        data: &[u8],
        bulk: bool,
        retention: &Retention,
    ) -> Result<()> {
        let mut headers = vec![
            header("x-amz-object-lock-mode", retention.mode.as_s3())?,
            header(
                "x-amz-object-lock-retain-until-date",
                &s3_date(retention.retain_until),
            )?,
        ];
        if bulk {
            if let Some(class) = &self.options.bulk_storage_class {
                headers.push(header("x-amz-storage-class", class)?);
            }
        }
        match &self.options.server_side_encryption {
            Some(ServerSideEncryption::Aes256) => {
                headers.push(header("x-amz-server-side-encryption", "AES256")?)
            }
            Some(ServerSideEncryption::Kms(key_id)) => {
                headers.push(header("x-amz-server-side-encryption", "aws:kms")?);
                headers.push(header(
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    key_id,
                )?);
            }
            None => {}
        }
        let request = SignedRequest {
            method: Method::PUT,
            key: Some(key),
            query: "",
            headers,
            body: Bytes::copy_from_slice(data),
        };
        self.block_on(self.signed.send(&request))
            .map(|_| ())
            .map_err(|e| self.error(e, "write", key))
    }

    /// Sets the retention of an object's current version (PutObjectRetention). S3 refuses a
    /// date earlier than the one the version has (compliance) or needs a bypass permission
    /// for it (governance); later dates are always accepted.
    pub fn set_object_retention(&self, key: &str, retention: &Retention) -> Result<()> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
            retention.mode.as_s3(),
            s3_date(retention.retain_until)
        );
        let request = SignedRequest {
            method: Method::PUT,
            key: Some(key),
            query: "retention",
            headers: Vec::new(),
            body: Bytes::from(body),
        };
        self.block_on(self.signed.send(&request))
            .map(|_| ())
            .map_err(|e| self.error(e, "extend retention of", key))
    }

    /// The retention of an object's current version, from HeadObject; `None` without one.
    pub fn object_retention(&self, key: &str) -> Result<Option<Retention>> {
        let request = SignedRequest {
            method: Method::HEAD,
            key: Some(key),
            query: "",
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let response = self
            .block_on(self.signed.send(&request))
            .map_err(|e| self.error(e, "read retention of", key))?;
        let mode = header_text(&response.headers, "x-amz-object-lock-mode");
        let until = header_text(&response.headers, "x-amz-object-lock-retain-until-date");
        let (Some(mode), Some(until)) = (mode, until) else {
            return Ok(None);
        };
        let invalid = |what: String| {
            StorageError::new(
                ErrorKind::Invalid,
                "read retention of",
                self.object_name(key),
                what,
            )
        };
        let mode = RetentionMode::parse(mode)
            .ok_or_else(|| invalid(format!("unknown object lock mode {mode:?}")))?;
        let retain_until = DateTime::parse_from_rfc3339(until)
            .map_err(|_| invalid(format!("unreadable retain-until date {until:?}")))?
            .with_timezone(&Utc);
        Ok(Some(Retention { mode, retain_until }))
    }

    /// GetBucketVersioning.
    pub fn bucket_versioning(&self) -> Result<BucketVersioning> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct VersioningConfiguration {
            status: Option<String>,
        }
        let body = self.bucket_document("versioning")?;
        let parsed: VersioningConfiguration = self.parse_document(&body, "versioning")?;
        Ok(match parsed.status.as_deref() {
            Some("Enabled") => BucketVersioning::Enabled,
            Some("Suspended") => BucketVersioning::Suspended,
            _ => BucketVersioning::Off,
        })
    }

    /// GetObjectLockConfiguration; `None` when the bucket was not created with a lock.
    pub fn object_lock_configuration(&self) -> Result<Option<LockConfiguration>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct ObjectLockConfiguration {
            object_lock_enabled: Option<String>,
            rule: Option<Rule>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Rule {
            default_retention: Option<DefaultRule>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct DefaultRule {
            mode: Option<String>,
            days: Option<u32>,
            years: Option<u32>,
        }
        let body = match self.bucket_document("object-lock") {
            Ok(body) => body,
            // ObjectLockConfigurationNotFoundError (404): the bucket has no lock.
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let parsed: ObjectLockConfiguration = self.parse_document(&body, "object-lock")?;
        let default_retention = parsed
            .rule
            .and_then(|rule| rule.default_retention)
            .and_then(|d| {
                let mode = RetentionMode::parse(d.mode.as_deref()?)?;
                Some(DefaultRetention {
                    mode,
                    days: d.days,
                    years: d.years,
                })
            });
        Ok(Some(LockConfiguration {
            enabled: parsed.object_lock_enabled.as_deref() == Some("Enabled"),
            default_retention,
        }))
    }

    fn bucket_document(&self, query: &'static str) -> Result<Bytes> {
        let request = SignedRequest {
            method: Method::GET,
            key: None,
            query,
            headers: Vec::new(),
            body: Bytes::new(),
        };
        self.block_on(self.signed.send(&request))
            .map(|response| response.body)
            .map_err(|e| self.error(e, "read bucket settings of", &format!("?{query}")))
    }

    fn parse_document<T: serde::de::DeserializeOwned>(
        &self,
        body: &[u8],
        query: &str,
    ) -> Result<T> {
        let text = String::from_utf8_lossy(body);
        quick_xml::de::from_str(&text).map_err(|e| {
            StorageError::new(
                ErrorKind::Invalid,
                "read bucket settings of",
                self.object_name(&format!("?{query}")),
                format!("the answer is not the document S3 sends: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_dates_are_whole_seconds_in_utc() {
        let date = DateTime::parse_from_rfc3339("2026-12-29T10:00:00.750+01:00")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(s3_date(date), "2026-12-29T09:00:00Z");
    }
}

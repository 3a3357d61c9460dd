//! `rest:http(s)://[USER[:PASSWORD]@]HOST[:PORT]/PATH/`, restic's form of a REST location.
//!
//! The login may sit in the URL (as restic allows) or come from [`RestCredentials::from_env`]
//! (`RESTIC_REST_USERNAME`, `RESTIC_REST_PASSWORD`, the names restic ≥ 0.16 reads, as the S3
//! store reads restic's `AWS_*` names). The password never reaches `Display`, `Debug` or any
//! message: the location prints as its URL without the login's password.

use std::fmt;

/// A REST login. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RestCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for RestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The variables a REST login is read from when the URL carries none.
pub const USERNAME_VARIABLE: &str = "RESTIC_REST_USERNAME";
pub const PASSWORD_VARIABLE: &str = "RESTIC_REST_PASSWORD";

impl RestCredentials {
    /// From `RESTIC_REST_USERNAME` and `RESTIC_REST_PASSWORD` in `variables` (both, or none).
    pub fn from_variables(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<RestCredentials>, LocationError> {
        let username = get(USERNAME_VARIABLE).filter(|v| !v.is_empty());
        let password = get(PASSWORD_VARIABLE).filter(|v| !v.is_empty());
        match (username, password) {
            (Some(username), Some(password)) => Ok(Some(RestCredentials { username, password })),
            (None, None) => Ok(None),
            _ => Err(LocationError(format!(
                "{USERNAME_VARIABLE} and {PASSWORD_VARIABLE} must be set together"
            ))),
        }
    }

    pub fn from_env() -> Result<Option<RestCredentials>, LocationError> {
        RestCredentials::from_variables(|name| std::env::var(name).ok())
    }
}

/// Why a `rest:` location cannot be read; never repeats a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LocationError(String);

/// A REST server's repository URL (always ending in `/`) and the login written in it.
#[derive(Clone, PartialEq, Eq)]
pub struct RestLocation {
    /// `scheme://host[:port]/path/`, without the login.
    base: String,
    /// From the URL, percent-decoded.
    pub credentials: Option<RestCredentials>,
}

impl fmt::Debug for RestLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestLocation")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl fmt::Display for RestLocation {
    /// `rest:URL` with the user name (if any) and without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.credentials {
            Some(credentials) => {
                let (scheme, rest) = self.base.split_once("://").unwrap_or(("", &self.base));
                write!(f, "rest:{scheme}://{}@{rest}", credentials.username)
            }
            None => write!(f, "rest:{}", self.base),
        }
    }
}

const FORM: &str = "write rest:http://HOST:PORT/PATH/ or rest:https://USER:PASSWORD@HOST/PATH/";

impl RestLocation {
    pub fn is_rest_url(text: &str) -> bool {
        text.starts_with("rest:")
    }

    pub fn parse(text: &str) -> Result<RestLocation, LocationError> {
        let url = text
            .strip_prefix("rest:")
            .ok_or_else(|| LocationError(format!("not a rest: location; {FORM}")))?;
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
            .ok_or_else(|| {
                LocationError(format!(
                    "a rest: location needs an http:// or https:// URL; {FORM}"
                ))
            })?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let (login, host) = match authority.rsplit_once('@') {
            Some((login, host)) => (Some(login), host),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(LocationError(format!(
                "the rest: URL names no host; {FORM}"
            )));
        }
        if path.contains(['?', '#']) {
            return Err(LocationError(format!(
                "a rest: URL takes no query or fragment; {FORM}"
            )));
        }
        let credentials = match login {
            None => None,
            Some(login) => {
                let (user, password) = login.split_once(':').ok_or_else(|| {
                    LocationError(format!(
                        "the rest: URL has a user name without a password; {FORM}"
                    ))
                })?;
                Some(RestCredentials {
                    username: percent_decode(user)?,
                    password: percent_decode(password)?,
                })
            }
        };
        let path = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        Ok(RestLocation {
            base: format!("{scheme}://{host}{path}"),
            credentials,
        })
    }

    /// The URL without the login, ending in `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether a password is written in the location (the config refuses that: it holds
    /// references to secrets, never secrets).
    pub fn has_password(&self) -> bool {
        self.credentials.is_some()
    }
}

fn percent_decode(text: &str) -> Result<String, LocationError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    LocationError("the rest: URL's login has a bad %-escape".to_string())
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| LocationError("the rest: URL's login is not UTF-8".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_keep_the_login_out_of_what_they_print() {
        let location = RestLocation::parse(
            "rest:https://laptop:s%40cret:pw@backup.example.com:8470/rest/clients",
        )
        .unwrap();
        assert_eq!(
            location.base_url(),
            "https://backup.example.com:8470/rest/clients/"
        );
        let credentials = location.credentials.clone().unwrap();
        assert_eq!(credentials.username, "laptop");
        assert_eq!(credentials.password, "s@cret:pw");
        assert_eq!(
            location.to_string(),
            "rest:https://laptop@backup.example.com:8470/rest/clients/"
        );
        assert!(!format!("{location:?}").contains("cret"));
        let plain = RestLocation::parse("rest:http://127.0.0.1:8000/").unwrap();
        assert_eq!(plain.to_string(), "rest:http://127.0.0.1:8000/");
        assert!(!plain.has_password());
    }

    #[test]
    fn malformed_locations_say_what_to_write() {
        for bad in [
            "rest:ftp://host/",
            "rest:host/path",
            "rest:http:///path",
            "rest:http://user@host/",
            "rest:http://host/path?x=1",
        ] {
            let err = RestLocation::parse(bad).unwrap_err().to_string();
            assert!(err.contains("rest:http://"), "{bad}: {err}");
        }
        let err = RestCredentials::from_variables(|name| {
            (name == USERNAME_VARIABLE).then(|| "laptop".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("together"));
    }
}

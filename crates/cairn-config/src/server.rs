//! `[server]`: the web UI and HTTP API on TCP (the unix socket always serves the API to the
//! daemon's own user; this section opens it to people and tokens, behind logins).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::raw::RawServer;
use crate::section::Section;
use crate::units::Duration;

/// A session unused for this long ends (`session_idle_timeout`).
pub const SESSION_IDLE_DEFAULT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after its login, used or not (`session_max_age`).
pub const SESSION_MAX_AGE_DEFAULT: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The TCP address of the UI and API.
    pub listen: SocketAddr,
    /// The address people type (behind a reverse proxy); links and the Origin check use it.
    pub public_url: Option<String>,
    /// Serve HTTPS with this certificate chain and key (PEM); both or neither.
    pub tls: Option<TlsFiles>,
    /// `/metrics` without a token.
    pub metrics_public: bool,
    /// Every user must enrol a second factor before anything else.
    pub require_totp: bool,
    pub session_idle_timeout: Duration,
    pub session_max_age: Duration,
    /// Restores started from the UI or API write below this directory only.
    restore_root: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Server {
    /// Where UI and API restores land: `restore_root`, or `STATE_DIR/restores`.
    pub fn restore_root(&self, state_dir: &Path) -> PathBuf {
        self.restore_root
            .clone()
            .unwrap_or_else(|| state_dir.join("restores"))
    }

    /// The origin browsers send with requests to this server (`scheme://host[:port]`), when
    /// it is known: from `public_url`, or from `listen` when nothing stands in between.
    pub fn origin(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}", self.listen)
            }
        }
    }
}

pub(crate) fn build_server(section: &mut Section<'_, '_>, raw: &RawServer) -> Option<Server> {
    let listen = section.required("listen", raw.listen.as_deref(), "\"127.0.0.1:8470\"");
    let listen = section.parse("listen", listen, |text| {
        text.parse::<SocketAddr>().map_err(|_| {
            format!("{text:?} is not an address; write IP:PORT, e.g. \"127.0.0.1:8470\"")
        })
    });
    let public_url = section.parse("public_url", raw.public_url.as_deref(), |text| {
        if (text.starts_with("https://") || text.starts_with("http://"))
            && !text.contains('?')
            && !text.contains('#')
            && text.len() > "https://".len()
        {
            Ok(text.trim_end_matches('/').to_string())
        } else {
            Err(format!(
                "{text:?} is not a base URL; write the address people open, e.g. \"https://backup.example.com\""
            ))
        }
    });
    let cert = raw.tls_cert.as_deref().and_then(|text| {
        section.absolute_path(&section.key("tls_cert"), text, "/etc/cairn/tls/cert.pem")
    });
    let key = raw.tls_key.as_deref().and_then(|text| {
        section.absolute_path(&section.key("tls_key"), text, "/etc/cairn/tls/key.pem")
    });
    let tls = match (raw.tls_cert.is_some(), raw.tls_key.is_some()) {
        (false, false) => None,
        (true, true) => cert.zip(key).map(|(cert, key)| TlsFiles { cert, key }),
        (true, false) => {
            section.invalid(
                &section.key("tls_cert"),
                "is set without tls_key; set both (PEM files) or neither",
            );
            None
        }
        (false, true) => {
            section.invalid(
                &section.key("tls_key"),
                "is set without tls_cert; set both (PEM files) or neither",
            );
            None
        }
    };
    let timeout = |section: &mut Section<'_, '_>, key: &str, text: Option<&str>, default| {
        section
            .parse(key, text, |text| {
                let duration: Duration = text
                    .parse()
                    .map_err(|e: crate::units::UnitError| e.to_string())?;
                if duration.is_zero() {
                    Err("must be longer than 0, e.g. \"30m\"".to_string())
                } else {
                    Ok(duration)
                }
            })
            .unwrap_or(default)
    };
    let session_idle_timeout = timeout(
        section,
        "session_idle_timeout",
        raw.session_idle_timeout.as_deref(),
        SESSION_IDLE_DEFAULT,
    );
    let session_max_age = timeout(
        section,
        "session_max_age",
        raw.session_max_age.as_deref(),
        SESSION_MAX_AGE_DEFAULT,
    );
    let restore_root = raw.restore_root.as_deref().and_then(|text| {
        section.absolute_path(
            &section.key("restore_root"),
            text,
            "/var/lib/cairn/restores",
        )
    });
    if section.failed() {
        return None;
    }
    Some(Server {
        listen: listen?,
        public_url,
        tls,
        metrics_public: raw.metrics_public.unwrap_or(false),
        require_totp: raw.require_totp.unwrap_or(false),
        session_idle_timeout,
        session_max_age,
        restore_root,
    })
}

//! `[multihost]`: how this instance takes part in multihost as a client (a server needs only
//! `[server]`, whose listener carries the sync endpoint).

use std::path::PathBuf;

use crate::raw::RawMultihost;
use crate::section::Section;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multihost {
    /// A pairing token (`cairn-pair-v1:…`) to pair with at start when not paired yet; once
    /// paired, the pairing in the state directory is what counts.
    pub server: Option<String>,
    /// The certificate(s) (PEM) the server's HTTPS must chain to, instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// The name peers show for this instance (default: the host name).
    pub label: Option<String>,
}

pub(crate) fn build_multihost(
    section: &mut Section<'_, '_>,
    raw: &RawMultihost,
) -> Option<Multihost> {
    let server = section.parse("server", raw.server.as_deref(), |text| {
        if text.trim().starts_with("cairn-pair-") {
            Ok(text.trim().to_string())
        } else {
            Err("is not a pairing token; paste the whole output of `cairn peer token create` on the server".to_string())
        }
    });
    let ca_file = raw.ca_file.as_deref().and_then(|text| {
        section.absolute_path(&section.key("ca_file"), text, "/etc/cairn/server-ca.pem")
    });
    let label = section.parse("label", raw.label.as_deref(), |text| {
        if text.trim().is_empty() || text.len() > 64 {
            Err("must be 1 to 64 characters".to_string())
        } else {
            Ok(text.trim().to_string())
        }
    });
    if section.failed() {
        return None;
    }
    Some(Multihost {
        server,
        ca_file,
        label,
    })
}

//! `[multihost]`: a client's pairing token, the CA it trusts, its label.

use super::{error_lines, parse, FILE};

#[test]
fn multihost_keys_read_into_the_model_and_default_when_absent() {
    let config = parse(
        "[multihost]\nserver = \"cairn-pair-v1:AAAA\"\nca_file = \"/etc/cairn/ca.pem\"\nlabel = \"laptop\"\n",
    )
    .unwrap();
    assert_eq!(
        config.multihost.server.as_deref(),
        Some("cairn-pair-v1:AAAA")
    );
    assert_eq!(
        config.multihost.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/cairn/ca.pem"))
    );
    assert_eq!(config.multihost.label.as_deref(), Some("laptop"));
    assert_eq!(
        parse("").unwrap().multihost,
        cairn_config::Multihost::default()
    );
}

#[test]
fn multihost_errors_are_reported_at_their_keys() {
    let text = "[multihost]\nserver = \"hello\"\nca_file = \"ca.pem\"\nlabel = \"\"\nport = 1\n";
    let lines = error_lines(text);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("{FILE}:5:1: unknown key port in [multihost]")),
        "{lines:?}"
    );
    let lines =
        error_lines("[multihost]\nserver = \"hello\"\nca_file = \"ca.pem\"\nlabel = \"\"\n");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with(&format!("{FILE}:2:10: ")), "{lines:?}");
    assert!(lines[0].contains("is not a pairing token"), "{lines:?}");
    assert!(lines[1].contains("ca_file"), "{lines:?}");
    assert!(lines[2].contains("1 to 64 characters"), "{lines:?}");
}

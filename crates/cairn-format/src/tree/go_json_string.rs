//! Go's `encoding/json` string encoding (Go 1.19, `encodeState.string` with `escapeHTML` on, as
//! `json.Marshal` always sets it).
//!
//! Rules, from `src/encoding/json/encode.go` and `tables.go`:
//!
//! - ASCII 0x20..=0x7F is copied except `"` and `\` (backslashed) and `<`, `>`, `&` (written as
//!   `\u003c`, `\u003e`, `\u0026`). DEL (0x7F) is copied.
//! - Below 0x20: `\n`, `\r`, `\t`; every other control byte is `\u00XX` with lowercase hex. Go
//!   1.19 has no `\b` or `\f` short form (Go 1.22 added them), so those are `\u0008`/`\u000c`.
//! - U+2028 and U+2029 are written `\u2028`, `\u2029`; every other valid rune is copied as UTF-8.
//! - Each byte of invalid UTF-8 is written as the six characters `\ufffd` (see
//!   [`super::go_utf8`]). A real U+FFFD in valid input is copied raw, so the two are different
//!   bytes in a tree.

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as a JSON string literal, quotes included, byte for byte as Go 1.19 does.
pub fn append_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        append_valid(out, chunk.valid().as_bytes());
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// `valid` is valid UTF-8: bytes >= 0x80 belong to whole runes, so only the lead byte of U+2028
/// and U+2029 (`E2 80 A8`, `E2 80 A9`) needs a look.
fn append_valid(out: &mut Vec<u8>, valid: &[u8]) {
    let mut copied_up_to = 0;
    let mut index = 0;
    while index < valid.len() {
        let byte = valid[index];
        let escape_length = if byte < 0x80 {
            if is_html_safe(byte) {
                index += 1;
                continue;
            }
            1
        } else if byte == 0xe2
            && valid[index + 1] == 0x80
            && matches!(valid[index + 2], 0xa8 | 0xa9)
        {
            3
        } else {
            index += 1;
            continue;
        };
        out.extend_from_slice(&valid[copied_up_to..index]);
        match (byte, escape_length) {
            (0xe2, 3) => {
                out.extend_from_slice(b"\\u202");
                out.push(LOWER_HEX[usize::from(valid[index + 2] & 0xf)]);
            }
            (b'"' | b'\\', _) => out.extend_from_slice(&[b'\\', byte]),
            (b'\n', _) => out.extend_from_slice(b"\\n"),
            (b'\r', _) => out.extend_from_slice(b"\\r"),
            (b'\t', _) => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(LOWER_HEX[usize::from(byte >> 4)]);
                out.push(LOWER_HEX[usize::from(byte & 0xf)]);
            }
        }
        index += escape_length;
        copied_up_to = index;
    }
    out.extend_from_slice(&valid[copied_up_to..]);
}

/// Go's `htmlSafeSet`: printable ASCII and DEL, minus `"`, `\`, `<`, `>`, `&`.
fn is_html_safe(byte: u8) -> bool {
    byte >= 0x20 && !matches!(byte, b'"' | b'\\' | b'<' | b'>' | b'&')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        append_json_string(&mut out, bytes);
        String::from_utf8(out).expect("JSON output is UTF-8")
    }

    // Expectations derived by hand from encodeState.string in Go 1.19's encoding/json.
    #[test]
    fn html_characters_are_unicode_escapes() {
        assert_eq!(json(b"<a href='x'>&"), r#""\u003ca href='x'\u003e\u0026""#);
    }

    #[test]
    fn quote_and_backslash_are_backslashed() {
        assert_eq!(json(br#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn control_bytes_use_three_short_forms_and_lowercase_hex() {
        assert_eq!(json(b"\n\r\t"), r#""\n\r\t""#);
        assert_eq!(
            json(b"\x08\x0c"),
            r#""\u0008\u000c""#,
            "no \\b or \\f in Go 1.19"
        );
        assert_eq!(json(b"\x00\x1b\x1f"), r#""\u0000\u001b\u001f""#);
        assert_eq!(json(b"del\x7f"), "\"del\x7f\"", "DEL is copied");
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        assert_eq!(
            json("a\u{2028}b\u{2029}c\u{2027}".as_bytes()),
            "\"a\\u2028b\\u2029c\u{2027}\""
        );
    }

    #[test]
    fn other_unicode_is_copied() {
        assert_eq!(
            json("nb\u{a0}sp zw\u{200b} 🦀 \u{85}".as_bytes()),
            "\"nb\u{a0}sp zw\u{200b} 🦀 \u{85}\""
        );
    }

    #[test]
    fn invalid_bytes_become_one_escape_each() {
        assert_eq!(json(b"t\xffx"), r#""t\ufffdx""#);
        assert_eq!(json(b"\xe2\x82"), r#""\ufffd\ufffd""#);
        assert_eq!(json(b"\xc3"), r#""\ufffd""#);
        assert_eq!(
            json("\u{fffd}".as_bytes()),
            "\"\u{fffd}\"",
            "a real U+FFFD is raw"
        );
    }
}

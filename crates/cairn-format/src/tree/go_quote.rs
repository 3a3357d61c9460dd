//! Go's `strconv.Quote` and `strconv.Unquote` (Go 1.19), which restic applies to node names.
//!
//! restic's `Node.MarshalJSON` stores `strconv.Quote(name)` without its surrounding quotes, so a
//! name of arbitrary bytes becomes a printable, valid UTF-8 string; `UnmarshalJSON` reverses it
//! with `strconv.Unquote("\"" + name + "\"")`. The rules, from `src/strconv/quote.go`:
//!
//! - `"` and `\` are backslashed.
//! - A rune that `unicode.IsPrint` accepts is copied: general categories L, M, N, P, S, plus the
//!   ASCII space (U+0020) only.
//! - Otherwise `\a \b \f \n \r \t \v`; `\xHH` for other runes below U+0020 and for DEL; `\uHHHH`
//!   below U+10000; `\UHHHHHHHH` above; hex digits in lowercase.
//! - Each byte of invalid UTF-8 is `\xHH` on its own (see [`super::go_utf8`]).
//!
//! Unicode version: `unicode.IsPrint` in Go 1.19 uses Unicode 13.0.0 (`unicode.Version`). The
//! `unicode-general-category` crate is pinned to 0.4.0, whose tables are Unicode 13.0.0 too
//! (`UNICODE_VERSION == (13, 0, 0)`, asserted in a test). A newer table would treat characters
//! assigned after Unicode 13 (such as U+1FAE0, an emoji of Unicode 14) as printable where restic
//! 0.14 escapes them, giving a different tree id. When this codec was written, the predicate
//! below was compared with Go 1.19.8's `unicode.IsPrint` over every code point: they agree on
//! all 1,114,112 (143,680 printable).

use unicode_general_category::{get_general_category, GeneralCategory};

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether Go 1.19's `unicode.IsPrint` (and `strconv.IsPrint`) accepts `c`.
pub fn go_is_print(c: char) -> bool {
    let code = c as u32;
    // The same Latin-1 shortcut Go takes; it also documents the two surprises there: U+00A0
    // (no-break space, Zs) and U+00AD (soft hyphen, Cf) are not printable.
    if code <= 0xff {
        return (0x20..=0x7e).contains(&code) || ((0xa1..=0xff).contains(&code) && code != 0xad);
    }
    !matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::SpaceSeparator
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Appends `strconv.Quote(bytes)` without the surrounding quotes. The output is valid UTF-8.
pub fn append_go_quoted_inner(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        let mut copied_up_to = 0;
        for (index, c) in valid.char_indices() {
            if c != '"' && c != '\\' && go_is_print(c) {
                continue;
            }
            out.extend_from_slice(&valid.as_bytes()[copied_up_to..index]);
            append_escaped_char(out, c);
            copied_up_to = index + c.len_utf8();
        }
        out.extend_from_slice(&valid.as_bytes()[copied_up_to..]);
        for &byte in chunk.invalid() {
            append_hex_byte_escape(out, byte);
        }
    }
}

/// The escape `strconv.Quote` writes for a rune it does not copy.
fn append_escaped_char(out: &mut Vec<u8>, c: char) {
    let short = match c {
        '"' => b"\\\"",
        '\\' => b"\\\\",
        '\u{07}' => b"\\a",
        '\u{08}' => b"\\b",
        '\u{0c}' => b"\\f",
        '\n' => b"\\n",
        '\r' => b"\\r",
        '\t' => b"\\t",
        '\u{0b}' => b"\\v",
        _ => {
            let code = c as u32;
            if code < 0x20 || code == 0x7f {
                append_hex_byte_escape(out, code as u8);
            } else if code < 0x10000 {
                out.extend_from_slice(b"\\u");
                append_hex_digits(out, code, 4);
            } else {
                out.extend_from_slice(b"\\U");
                append_hex_digits(out, code, 8);
            }
            return;
        }
    };
    out.extend_from_slice(short);
}

fn append_hex_byte_escape(out: &mut Vec<u8>, byte: u8) {
    out.extend_from_slice(b"\\x");
    append_hex_digits(out, u32::from(byte), 2);
}

fn append_hex_digits(out: &mut Vec<u8>, value: u32, digits: u32) {
    for shift in (0..digits).rev() {
        out.push(LOWER_HEX[((value >> (shift * 4)) & 0xf) as usize]);
    }
}

/// Why a quoted name does not unquote, with the byte offset into the name where Go gives up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {offset}")]
pub struct UnquoteError {
    pub offset: usize,
    pub reason: &'static str,
}

/// `strconv.Unquote("\"" + quoted + "\"")`: the raw bytes a quoted name stands for.
///
/// Accepts everything Go accepts inside a double-quoted literal: unescaped runes other than `"`
/// and newline (raw control characters included), `\a \b \f \n \r \t \v \\ \"`, `\xHH` and
/// three-digit octal `\OOO` up to `\377` (single raw bytes, possibly not UTF-8), and `\uHHHH`
/// and `\UHHHHHHHH` naming a Unicode scalar value (hex digits of either case). Rejects `\'`, an
/// unescaped `"`, a raw newline, and any other escape, as Go does.
pub fn go_unquote_inner(quoted: &str) -> Result<Vec<u8>, UnquoteError> {
    let bytes = quoted.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'"' => return Err(fail(index, "unescaped double quote")),
            b'\n' => return Err(fail(index, "unescaped newline")),
            b'\\' => index = unescape_one(bytes, index, &mut out)?,
            _ => {
                // `quoted` is a str, so runes other than ASCII arrive whole and valid: copy the
                // run up to the next byte that needs a look.
                let run_end = bytes[index..]
                    .iter()
                    .position(|&b| matches!(b, b'"' | b'\n' | b'\\'))
                    .map_or(bytes.len(), |offset| index + offset);
                out.extend_from_slice(&bytes[index..run_end]);
                index = run_end;
            }
        }
    }
    Ok(out)
}

/// Decodes the escape starting at `bytes[start] == b'\\'`; returns the index after it.
fn unescape_one(bytes: &[u8], start: usize, out: &mut Vec<u8>) -> Result<usize, UnquoteError> {
    let Some(&kind) = bytes.get(start + 1) else {
        return Err(fail(start, "backslash at end of name"));
    };
    let body = start + 2;
    let simple = match kind {
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0b),
        b'\\' => Some(b'\\'),
        b'"' => Some(b'"'),
        _ => None,
    };
    if let Some(value) = simple {
        out.push(value);
        return Ok(body);
    }
    match kind {
        b'x' => {
            let value = parse_hex(bytes, body, 2).ok_or_else(|| fail(start, "bad \\x escape"))?;
            out.push(value as u8);
            Ok(body + 2)
        }
        b'u' | b'U' => {
            let digits = if kind == b'u' { 4 } else { 8 };
            let value =
                parse_hex(bytes, body, digits).ok_or_else(|| fail(start, "bad unicode escape"))?;
            let c = char::from_u32(value)
                .ok_or_else(|| fail(start, "unicode escape names no scalar value"))?;
            let mut buffer = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            Ok(body + digits)
        }
        b'0'..=b'7' => {
            let mut value = u32::from(kind - b'0');
            for offset in 0..2 {
                match bytes.get(body + offset) {
                    Some(&digit @ b'0'..=b'7') => value = value << 3 | u32::from(digit - b'0'),
                    _ => return Err(fail(start, "bad octal escape")),
                }
            }
            let value = u8::try_from(value).map_err(|_| fail(start, "octal escape above \\377"))?;
            out.push(value);
            Ok(body + 2)
        }
        _ => Err(fail(start, "unknown escape")),
    }
}

fn parse_hex(bytes: &[u8], start: usize, digits: usize) -> Option<u32> {
    let text = bytes.get(start..start + digits)?;
    text.iter().try_fold(0u32, |value, &digit| {
        let nibble = (digit as char).to_digit(16)?;
        Some(value << 4 | nibble)
    })
}

fn fail(offset: usize, reason: &'static str) -> UnquoteError {
    UnquoteError { offset, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        append_go_quoted_inner(&mut out, bytes);
        String::from_utf8(out).expect("quoted output is UTF-8")
    }

    #[test]
    fn the_unicode_tables_are_those_of_go_1_19() {
        assert_eq!(unicode_general_category::UNICODE_VERSION, (13, 0, 0));
    }

    // Expectations derived by hand from appendEscapedRune in Go 1.19's strconv/quote.go.
    #[test]
    fn printable_runes_pass_through() {
        assert_eq!(quote(b"with space"), "with space");
        assert_eq!(quote("café 日本 e\u{301}".as_bytes()), "café 日本 e\u{301}");
        // Symbols and punctuation are printable; JSON escapes `<>&` later, not Quote.
        assert_eq!(quote(b"a<b>c&d'e`"), "a<b>c&d'e`");
        // An emoji of Unicode 13 (U+1FAD0 blueberries) and the crab (Unicode 11).
        assert_eq!(quote("\u{1fad0}🦀".as_bytes()), "\u{1fad0}🦀");
        // A real U+FFFD (So) is printable; only invalid bytes become escapes.
        assert_eq!(quote("\u{fffd}".as_bytes()), "\u{fffd}");
    }

    #[test]
    fn quote_and_backslash_are_backslashed() {
        assert_eq!(quote(br#"say "hi" \o/"#), r#"say \"hi\" \\o/"#);
    }

    #[test]
    fn control_characters_use_short_forms_then_hex() {
        assert_eq!(
            quote(b"\x07\x08\x0c\n\r\t\x0b"),
            r"\a\b\f\n\r\t\v",
            "the seven C escapes"
        );
        assert_eq!(quote(b"\x00\x01\x1b\x1f"), r"\x00\x01\x1b\x1f");
        assert_eq!(quote(b"del\x7f"), r"del\x7f");
    }

    #[test]
    fn non_printable_runes_use_unicode_escapes() {
        // C1 control U+0085 is above 0x7f, so \u not \x.
        assert_eq!(quote("\u{85}".as_bytes()), r"\u0085");
        assert_eq!(quote("nb\u{a0}sp".as_bytes()), r"nb\u00a0sp");
        assert_eq!(quote("soft\u{ad}hyphen".as_bytes()), r"soft\u00adhyphen");
        assert_eq!(quote("zw\u{200b}sp".as_bytes()), r"zw\u200bsp");
        assert_eq!(quote("\u{2028}\u{2029}".as_bytes()), r"\u2028\u2029");
        assert_eq!(quote("\u{feff}".as_bytes()), r"\ufeff");
        assert_eq!(quote("\u{e000}".as_bytes()), r"\ue000");
        assert_eq!(
            quote("\u{3000}".as_bytes()),
            r"\u3000",
            "ideographic space is Zs"
        );
        // Unassigned in Unicode 13 (assigned in 14): Go 1.19 escapes it.
        assert_eq!(quote("\u{1fae0}".as_bytes()), r"\U0001fae0");
        assert_eq!(
            quote("\u{e0001}".as_bytes()),
            r"\U000e0001",
            "language tag is Cf"
        );
        assert_eq!(quote("\u{10ffff}".as_bytes()), r"\U0010ffff");
    }

    #[test]
    fn each_invalid_byte_is_a_hex_escape() {
        assert_eq!(quote(b"bad\xff"), r"bad\xff");
        assert_eq!(quote(b"bad\xc3"), r"bad\xc3");
        assert_eq!(quote(b"\xc3\xa9\xc3"), r"é\xc3");
        assert_eq!(quote(b"\xe2\x82x"), r"\xe2\x82x");
        assert_eq!(
            quote(b"\xed\xa0\x80"),
            r"\xed\xa0\x80",
            "an encoded surrogate"
        );
    }

    #[test]
    fn unquote_reverses_quote_for_tricky_names() {
        let names: [&[u8]; 8] = [
            b"",
            b"plain",
            b"\xff\xfe\x00\x7f\n",
            "\u{2028}\u{a0}\u{200b}🦀\u{1fae0}".as_bytes(),
            b"\\x41 \\u0041",
            br#""quoted""#,
            b"\xe2\x82",
            b"\x07\x08\x0c\x0b\r\t",
        ];
        for name in names {
            let quoted = quote(name);
            assert_eq!(go_unquote_inner(&quoted).unwrap(), name, "{quoted}");
        }
    }

    #[test]
    fn unquote_accepts_what_go_accepts() {
        let cases: [(&str, &[u8]); 9] = [
            (r"\377\000\101", b"\xff\x00A"),
            (r"\xFF\xfF", b"\xff\xff"),
            (r"\u00E9\U0001F980", "é🦀".as_bytes()),
            ("raw\ttab\u{1}ctl\u{7f}", b"raw\ttab\x01ctl\x7f"),
            ("\u{a0}unescaped", "\u{a0}unescaped".as_bytes()),
            (r#"\"\\"#, br#""\"#),
            (r"\a\b\f\v", b"\x07\x08\x0c\x0b"),
            ("'single'", b"'single'"),
            (r"\u2028", "\u{2028}".as_bytes()),
        ];
        for (quoted, expected) in cases {
            assert_eq!(go_unquote_inner(quoted).unwrap(), expected, "{quoted}");
        }
    }

    #[test]
    fn unquote_rejects_what_go_rejects() {
        for bad in [
            "a\"b",
            "new\nline",
            r"\'",
            r"\q",
            r"\x4",
            r"\xg0",
            r"\400",
            r"\39",
            r"\12",
            r"\ud800",
            r"\U00110000",
            r"\u12",
            "trailing\\",
        ] {
            assert!(go_unquote_inner(bad).is_err(), "{bad:?} should not unquote");
        }
    }
}

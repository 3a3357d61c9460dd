//! Go's view of a byte string as UTF-8.
//!
//! Go's `utf8.DecodeRuneInString` returns `(RuneError, 1)` for every byte that does not start a
//! valid sequence, so Go code that walks a string rune by rune (`encoding/json`, `strconv.Quote`)
//! treats each such byte on its own: one `\ufffd` or one `\xHH` per byte.
//!
//! Rust's [`<[u8]>::utf8_chunks`] splits the same bytes into valid runs and "maximal invalid
//! subparts" of one to three bytes. Such a subpart is a lead byte followed only by continuation
//! bytes (0x80..=0xBF), and a continuation byte never starts a valid sequence, so Go also sees
//! every byte of the subpart as one error rune. Hence the invariant the codecs rely on:
//! **one Go error rune per byte of `chunk.invalid()`**, and the same valid runes in
//! `chunk.valid()`. Both reject UTF-8-encoded surrogates, overlong forms and code points above
//! U+10FFFF alike.

/// The string Go's `encoding/json` decoder (and Go's `string` ↔ `[]rune` conversions) make of
/// `bytes`: every byte of invalid UTF-8 becomes one U+FFFD.
///
/// Useful to the engine for strings that the node model keeps as `String` (extended attribute
/// names, user and group names, error messages) so that a node built from the file system
/// compares equal to the same node decoded from a tree restic wrote.
pub fn go_lossy_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_invalid_byte_becomes_one_replacement_character() {
        // A truncated three-byte sequence is two bytes, hence two error runes in Go (Rust's
        // from_utf8_lossy would give one).
        assert_eq!(go_lossy_string(b"a\xe2\x82b"), "a\u{fffd}\u{fffd}b");
        assert_eq!(go_lossy_string(b"\xff\xc3"), "\u{fffd}\u{fffd}");
        // An encoded surrogate (U+D800) is three invalid bytes.
        assert_eq!(go_lossy_string(b"\xed\xa0\x80"), "\u{fffd}".repeat(3));
        assert_eq!(go_lossy_string("é€🦀".as_bytes()), "é€🦀");
    }
}

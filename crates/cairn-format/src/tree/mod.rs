//! Tree blobs: `{"nodes":[...]}\n`, nodes sorted by name, encoded exactly as restic encodes them
//! so the same directory gives the same tree id in cairn and in restic.
//!
//! # Format
//! The reference is restic 0.14.0 built with Go 1.19 (Debian bookworm): its
//! `TreeJSONBuilder` for the framing, `Node.MarshalJSON` for the name quoting and time fixing,
//! Go's `encoding/json` for everything else. `encode.rs` states the layout; the Go rules live in
//! one file each: `go_quote.rs` (`strconv.Quote`/`Unquote`, names only), `go_json_string.rs`
//! (JSON string escaping, every string), `go_time.rs` (`time.Time` as RFC 3339), and
//! `decode.rs` says how far decoding follows Go's tolerance.
//!
//! # Invariants
//! - **Byte identity.** For nodes holding the same values, [`encode_tree`] returns the bytes
//!   restic returns, so the SHA-256 (the tree id) is the same. Decoding a tree restic wrote and
//!   encoding it again gives back the same bytes, except for the cases listed under "Lossy".
//! - **Sorted by raw name.** Nodes are ordered by the bytes of their name (Go's string order),
//!   not by the quoted form; [`sort_nodes`] does it; [`encode_tree`] debug-asserts it.
//! - **Untrusted input.** [`decode_tree`] returns an error naming the node index and field for
//!   any malformed input and never panics.
//!
//! # Decisions
//! - **Non-UTF-8 symlink targets.** restic 0.14 has no `linktarget_raw`: it writes the target as
//!   a JSON string, each invalid byte becoming `\ufffd`, and the target is lost. restic ≥ 0.16
//!   adds `"linktarget_raw":"<base64 of the raw bytes>"` right after `linktarget`, only when the
//!   target is not valid UTF-8, and prefers it when reading. cairn writes the ≥ 0.16 form:
//!   restic 0.14 ignores the unknown field and reads the same lossy target it would have written,
//!   restic ≥ 0.16 and cairn restore the exact bytes. Such a tree's id then matches restic ≥ 0.16
//!   but not 0.14 (whose tree lacks the field); every other tree matches both.
//! - **Unknown fields** (restic ≥ 0.17's `generic_attributes`, later versions', other tools')
//!   are kept by [`decode_tree`] with their raw value and the known field they followed, and
//!   [`encode_tree`] writes each right after that field's place ([`UnknownNodeField`]): Go
//!   writes struct order and restic adds fields mid-struct, so a node a newer restic wrote
//!   re-encodes to its own bytes, and a repaired tree loses nothing.
//! - **Unicode version.** Name quoting classifies runes with Unicode 13.0.0, the tables of Go
//!   1.19 (see `go_quote.rs`); a newer table would change the quoting of characters assigned since.
//! - **Control characters.** Names never reach JSON with a control character: `strconv.Quote`
//!   turns them into `\a \b \f \n \r \t \v` or `\xHH` (so JSON shows `\\n`, `\\x01`). In other
//!   strings (link targets, user, group, attribute names, errors) Go 1.19's JSON escaping writes
//!   `\n \r \t` and `\u00XX` for the rest, `\b` and `\f` included (Go 1.22 changed those two).
//! - **Times** carry the UTC offset they are printed with. [`GoTime::from_unix_local`] takes the
//!   local zone's offset for the instant, as Go's `time.Unix` does; decoding keeps the offset
//!   written. Times outside years 0..=9999 are clamped as restic's `FixTime` does.
//!
//! # Lossy cases (decode then encode does not give restic's bytes back)
//! - A symlink target that restic < 0.16 wrote from non-UTF-8 bytes: the file held `\ufffd`
//!   escapes, the decoded target holds U+FFFD, which JSON writes raw.
//! - Non-UTF-8 bytes in the `String` fields (attribute names, user, group, error) that restic
//!   wrote as `\ufffd`, for the same reason; [`go_lossy_string`] gives the engine the same
//!   strings restic would decode.
//! - An attribute `"value":null` (restic writes `""` for an empty value) re-encodes as `""`.
//! - What Go itself normalises when it reads and writes again: `+00:00` becomes `Z`, a one-digit
//!   hour gains its zero, a fraction loses digits beyond nine, an offset with seconds loses them,
//!   hex ids become lowercase, whitespace and key order become restic's.
//!
//! # How the Go rules were checked
//! Besides the tests (hand-derived expectations, a golden set of restic-written trees, and the
//! oracle test against the `restic` binary), the codecs were compared once with Go 1.19.8 itself
//! (Debian's `golang-1.19-go`, not a dependency of this project): 130,468 random nodes (names
//! and targets from all planes and invalid bytes, years -9999..19000 through `FixTime`, offsets
//! with seconds) encoded identically; 300,000 random `strconv.Unquote` inputs and 300,000
//! mutated RFC 3339 times gave the same results and errors; 100,000 random tree texts decoded
//! to the same values, except three with a repeated `extended_attributes` key (see `decode.rs`).
//!
//! # Not decided here
//! Which values a node gets is the engine's business, but these restic 0.14 habits decide tree
//! ids: the archiver sets `atime` to `mtime` unless `--with-atime`; `size` and `links` are set for
//! files (`links` also for symlinks and devices, not for directories); `content` is a non-nil
//! list for every file, `[]` when empty; `mode` is Go's `FileMode` masked to permission, type,
//! setuid, setgid and sticky bits ([`go_mode::from_unix`]); directories record `subtree`; sockets
//! are left out of the snapshot altogether; a node's name is the last component of its path.

mod decode;
mod encode;
mod error;
mod go_json_string;
mod go_quote;
mod go_time;
mod go_utf8;
mod node;

pub use decode::decode_tree;
pub use encode::{encode_node, encode_tree};
pub use error::TreeError;
pub use go_utf8::go_lossy_string;
pub use node::{go_mode, ExtendedAttribute, GoTime, Node, NodeField, NodeType, UnknownNodeField};

/// Sorts `nodes` as restic does: by the raw bytes of their names. The sort is stable, so nodes
/// with equal names (which a valid tree never has) keep their order.
pub fn sort_nodes(nodes: &mut [Node]) {
    nodes.sort_by(|left, right| left.name.cmp(&right.name));
}

/// The Go quoting of names, exposed for tools and tests that show or compare names as restic
/// stores them.
pub mod quoting {
    pub use super::go_json_string::append_json_string;
    pub use super::go_quote::{
        append_go_quoted_inner, go_is_print, go_unquote_inner, UnquoteError,
    };
}

//! Tree and node JSON, written byte for byte as restic 0.14 (Go 1.19) writes them.
//!
//! The framing is restic's `TreeJSONBuilder`: `{"nodes":[`, the nodes separated by `,`, then
//! `]}` and one `\n`. An empty directory is `{"nodes":[]}\n`.
//!
//! A node is `json.Marshal` of restic's `Node` struct after its `MarshalJSON` has replaced the
//! name by `strconv.Quote(name)` minus the quotes and applied `FixTime` to the three times. The
//! fields appear in struct order; `omitempty` fields are left out at their zero value; the times
//! are structs, which `omitempty` never omits; `uid`, `gid` and `content` have no `omitempty`:
//!
//! ```text
//! name type mode? mtime atime ctime uid gid user? group? inode? device_id? size? links?
//! linktarget? linktarget_raw? extended_attributes? device? content subtree? error?
//! ```
//!
//! `content` is `null` when the node has none (`None`) and `[]` for an empty file
//! (`Some(vec![])`): Go distinguishes a nil slice from an empty one, and restic gives every file
//! a non-nil list. `linktarget_raw` is cairn's (and restic ≥ 0.16's) addition; see the module
//! documentation of [`super`].
//!
//! Fields cairn does not know ([`super::UnknownNodeField`]) are written back, exactly as they
//! were read, right after the place of the known field they followed: where the restic version
//! that wrote them put them.

use base64::Engine as _;

use super::go_json_string::append_json_string;
use super::go_quote::append_go_quoted_inner;
use super::node::{GoTime, Node, NodeField, UnknownNodeField};
use crate::Id;

/// The plaintext of the tree blob holding `nodes`, which must be sorted by name with no two
/// equal (see [`super::sort_nodes`]); restic refuses to build such a tree and so does a debug
/// build here.
pub fn encode_tree(nodes: &[Node]) -> Vec<u8> {
    debug_assert!(
        nodes.windows(2).all(|pair| pair[0].name < pair[1].name),
        "tree nodes must be sorted by name without duplicates"
    );
    // A typical file node is 300 to 400 bytes.
    let mut out = Vec::with_capacity(16 + nodes.len() * 384);
    out.extend_from_slice(b"{\"nodes\":[");
    let mut scratch = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        append_node(node, &mut out, &mut scratch);
    }
    out.extend_from_slice(b"]}\n");
    out
}

/// Appends one node's JSON object to `out`.
pub fn encode_node(node: &Node, out: &mut Vec<u8>) {
    append_node(node, out, &mut Vec::new());
}

/// `scratch` holds the quoted name between the two escaping passes; reusing it across a tree
/// saves one allocation per node.
fn append_node(node: &Node, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let unknown = node.unknown_fields.as_slice();
    out.push(b'{');
    for field in unknown.iter().filter(|field| field.after.is_none()) {
        append_json_string(out, field.name.as_bytes());
        out.push(b':');
        out.extend_from_slice(field.value.get().as_bytes());
        out.push(b',');
    }
    scratch.clear();
    append_go_quoted_inner(scratch, &node.name);
    out.extend_from_slice(b"\"name\":");
    append_json_string(out, scratch);
    append_unknown(out, unknown, NodeField::Name);
    out.extend_from_slice(b",\"type\":");
    append_json_string(out, node.node_type.as_str().as_bytes());
    append_unknown(out, unknown, NodeField::Type);
    append_number_unless_zero(out, b"mode", u64::from(node.mode));
    append_unknown(out, unknown, NodeField::Mode);
    append_time(out, b"mtime", &node.mtime);
    append_unknown(out, unknown, NodeField::Mtime);
    append_time(out, b"atime", &node.atime);
    append_unknown(out, unknown, NodeField::Atime);
    append_time(out, b"ctime", &node.ctime);
    append_unknown(out, unknown, NodeField::Ctime);
    append_number(out, b"uid", u64::from(node.uid));
    append_unknown(out, unknown, NodeField::Uid);
    append_number(out, b"gid", u64::from(node.gid));
    append_unknown(out, unknown, NodeField::Gid);
    append_string_unless_empty(out, b"user", node.user.as_bytes());
    append_unknown(out, unknown, NodeField::User);
    append_string_unless_empty(out, b"group", node.group.as_bytes());
    append_unknown(out, unknown, NodeField::Group);
    append_number_unless_zero(out, b"inode", node.inode);
    append_unknown(out, unknown, NodeField::Inode);
    append_number_unless_zero(out, b"device_id", node.device_id);
    append_unknown(out, unknown, NodeField::DeviceId);
    append_number_unless_zero(out, b"size", node.size);
    append_unknown(out, unknown, NodeField::Size);
    append_number_unless_zero(out, b"links", node.links);
    append_unknown(out, unknown, NodeField::Links);
    append_string_unless_empty(out, b"linktarget", &node.link_target);
    append_unknown(out, unknown, NodeField::LinkTarget);
    if std::str::from_utf8(&node.link_target).is_err() {
        append_key(out, b"linktarget_raw");
        append_base64(out, &node.link_target);
    }
    append_unknown(out, unknown, NodeField::LinkTargetRaw);
    if !node.extended_attributes.is_empty() {
        append_key(out, b"extended_attributes");
        out.push(b'[');
        for (index, attribute) in node.extended_attributes.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            append_json_string(out, attribute.name.as_bytes());
            out.extend_from_slice(b",\"value\":");
            append_base64(out, &attribute.value);
            out.push(b'}');
        }
        out.push(b']');
    }
    append_unknown(out, unknown, NodeField::ExtendedAttributes);
    append_number_unless_zero(out, b"device", node.device);
    append_unknown(out, unknown, NodeField::Device);
    append_key(out, b"content");
    match &node.content {
        None => out.extend_from_slice(b"null"),
        Some(ids) => {
            out.push(b'[');
            for (index, id) in ids.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                append_id(out, id);
            }
            out.push(b']');
        }
    }
    append_unknown(out, unknown, NodeField::Content);
    if let Some(subtree) = &node.subtree {
        append_key(out, b"subtree");
        append_id(out, subtree);
    }
    append_unknown(out, unknown, NodeField::Subtree);
    append_string_unless_empty(out, b"error", node.error.as_bytes());
    append_unknown(out, unknown, NodeField::Error);
    out.push(b'}');
}

/// The unknown fields that followed `field` in the blob they were read from, at its place.
fn append_unknown(out: &mut Vec<u8>, unknown: &[UnknownNodeField], field: NodeField) {
    for kept in unknown.iter().filter(|kept| kept.after == Some(field)) {
        out.push(b',');
        append_json_string(out, kept.name.as_bytes());
        out.push(b':');
        out.extend_from_slice(kept.value.get().as_bytes());
    }
}

/// `,"key":`; every field but `name` follows another.
fn append_key(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":");
}

fn append_number(out: &mut Vec<u8>, key: &[u8], value: u64) {
    append_key(out, key);
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

fn append_number_unless_zero(out: &mut Vec<u8>, key: &[u8], value: u64) {
    if value != 0 {
        append_number(out, key, value);
    }
}

fn append_string_unless_empty(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    if !value.is_empty() {
        append_key(out, key);
        append_json_string(out, value);
    }
}

fn append_time(out: &mut Vec<u8>, key: &[u8], time: &GoTime) {
    append_key(out, key);
    out.push(b'"');
    time.restic_fixed().append_rfc3339_nano(out);
    out.push(b'"');
}

/// Go encodes `[]byte` as standard base64 with padding; the alphabet needs no JSON escaping.
fn append_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    out.resize(
        start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
        0,
    );
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .expect("buffer sized by encoded_len");
    out.truncate(start + written);
    out.push(b'"');
}

fn append_id(out: &mut Vec<u8>, id: &Id) {
    let mut text = [0u8; 64];
    hex::encode_to_slice(id.as_bytes(), &mut text).expect("64 hex digits for 32 bytes");
    out.push(b'"');
    out.extend_from_slice(&text);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{ExtendedAttribute, NodeType};

    fn utc(unix_secs: i64, nanos: u32) -> GoTime {
        GoTime {
            unix_secs,
            nanos,
            utc_offset_secs: 0,
        }
    }

    #[test]
    fn empty_tree_is_an_empty_array_and_a_newline() {
        assert_eq!(encode_tree(&[]), b"{\"nodes\":[]}\n");
    }

    #[test]
    fn minimal_node_has_the_always_present_fields() {
        let node = Node::new(b"x".to_vec(), NodeType::Fifo);
        let mut out = Vec::new();
        encode_node(&node, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"name":"x","type":"fifo","mtime":"0001-01-01T00:00:00Z","#,
                r#""atime":"0001-01-01T00:00:00Z","ctime":"0001-01-01T00:00:00Z","#,
                r#""uid":0,"gid":0,"content":null}"#
            )
        );
    }

    #[test]
    fn full_node_lists_fields_in_restic_struct_order() {
        let mut node = Node::new(b"<f\xff>".to_vec(), NodeType::File);
        node.mode = 0o4755 & 0o777 | crate::tree::go_mode::SETUID;
        node.mtime = utc(1_700_000_000, 120_000_000);
        node.atime = utc(1_700_000_000, 120_000_000);
        node.ctime = utc(1_700_000_001, 0);
        node.uid = 1000;
        node.gid = 100;
        node.user = "me".into();
        node.group = "users".into();
        node.inode = 42;
        node.device_id = 2049;
        node.size = 5;
        node.links = 2;
        node.link_target = b"t\xffx".to_vec();
        node.extended_attributes = vec![
            ExtendedAttribute {
                name: "user.a".into(),
                value: b"val".to_vec(),
            },
            ExtendedAttribute {
                name: "user.empty".into(),
                value: Vec::new(),
            },
        ];
        node.device = 7;
        node.content = Some(vec![Id([0xab; 32]), Id([0x01; 32])]);
        node.subtree = Some(Id([0x02; 32]));
        node.error = "oops <1>".into();
        let mut out = Vec::new();
        encode_node(&node, &mut out);
        let expected = format!(
            concat!(
                r#"{{"name":"\u003cf\\xff\u003e","type":"file","mode":8389101,"#,
                r#""mtime":"2023-11-14T22:13:20.12Z","atime":"2023-11-14T22:13:20.12Z","#,
                r#""ctime":"2023-11-14T22:13:21Z","uid":1000,"gid":100,"user":"me","#,
                r#""group":"users","inode":42,"device_id":2049,"size":5,"links":2,"#,
                r#""linktarget":"t\ufffdx","linktarget_raw":"dP94","#,
                r#""extended_attributes":[{{"name":"user.a","value":"dmFs"}},"#,
                r#"{{"name":"user.empty","value":""}}],"device":7,"#,
                r#""content":["{ab}","{one}"],"subtree":"{two}","error":"oops \u003c1\u003e"}}"#
            ),
            ab = "ab".repeat(32),
            one = "01".repeat(32),
            two = "02".repeat(32),
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn empty_file_content_is_an_empty_array() {
        let mut node = Node::new(b"empty".to_vec(), NodeType::File);
        node.content = Some(Vec::new());
        let mut out = Vec::new();
        encode_node(&node, &mut out);
        assert!(out.ends_with(br#","content":[]}"#));
    }

    #[test]
    fn times_outside_go_years_are_fixed_as_restic_does() {
        let mut node = Node::new(b"old".to_vec(), NodeType::File);
        node.mtime = utc(-62_167_219_201, 0);
        let mut out = Vec::new();
        encode_node(&node, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""mtime":"0000-12-31T23:59:59Z""#), "{text}");
    }

    #[test]
    fn tree_joins_nodes_with_commas() {
        let nodes = [
            Node::new(b"a".to_vec(), NodeType::Dir),
            Node::new(b"b".to_vec(), NodeType::Dir),
        ];
        let text = String::from_utf8(encode_tree(&nodes)).unwrap();
        assert!(text.starts_with(r#"{"nodes":[{"name":"a","#));
        assert!(text.contains(r#""content":null},{"name":"b","#));
        assert!(text.ends_with("\"content\":null}]}\n"));
    }
}

//! Tree blob decoding, accepting what restic's Go decoder (`json.Unmarshal` into `restic.Tree`
//! with `Node.UnmarshalJSON`) accepts.
//!
//! Go's tolerance that this mirrors:
//! - any whitespace, any key order, unknown keys ignored, duplicate keys (the last one wins;
//!   Go alone merges a repeated `extended_attributes` array into the earlier one element by
//!   element, which no encoder produces);
//! - keys matched case-insensitively with Go's folding (`NAME`, `Nodes`, and `ſ`/`K` (U+212A)
//!   standing for `s`/`k`);
//! - `null` leaves a string, number or time as it was and makes a list or id absent;
//!   a `null` tree is an empty tree, a `null` element of `extended_attributes` an empty
//!   attribute; a `null` node is an error (restic would crash on it);
//! - `linktarget_raw` (restic ≥ 0.16), when present, replaces `linktarget`;
//! - the name is JSON-decoded, then `strconv.Unquote`d into raw bytes;
//! - bytes as Go's `StdEncoding` base64: padding required, `\r` and `\n` skipped, non-zero
//!   trailing bits accepted; or, as Go also takes them, an array of numbers 0..=255.
//!
//! Where serde_json is stricter than Go, on input restic never writes: invalid UTF-8 inside the
//! JSON text and `\u` escapes of lone surrogates are errors (Go substitutes U+FFFD), and unknown
//! values nested deeper than 128 levels are errors (Go allows 10,000). Where it is more lenient:
//! JSON escapes inside times and ids are decoded first (Go's `time.Time` and restic's `ID` read
//! the raw token and reject them).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::go_quote::go_unquote_inner;
use super::node::{ExtendedAttribute, GoTime, Node, NodeType};
use super::TreeError;
use crate::Id;

/// The nodes of a tree blob's plaintext, in the blob's order.
pub fn decode_tree(bytes: &[u8]) -> Result<Vec<Node>, TreeError> {
    // Visitors record the first node-level fault here, with its node index and field, before
    // returning serde's error; the fault is the better message.
    let fault = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let result = TreeSeed { fault: &fault }
        .deserialize(&mut deserializer)
        .and_then(|nodes| deserializer.end().map(|()| nodes));
    result.map_err(|error| fault.take().unwrap_or(TreeError::Json(error)))
}

type Fault = RefCell<Option<TreeError>>;

fn record(fault: &Fault, error: TreeError) {
    let mut slot = fault.borrow_mut();
    if slot.is_none() {
        *slot = Some(error);
    }
}

/// Go's `encoding/json` key match for an all-ASCII field name: each key character equals the
/// name's byte up to ASCII case, or is `ſ` (U+017F) for `s` or `K` (U+212A) for `k`.
fn key_matches(key: &str, field: &str) -> bool {
    let mut characters = key.chars();
    for expected in field.bytes() {
        let Some(c) = characters.next() else {
            return false;
        };
        let matched = if c.is_ascii() {
            (c as u8).to_ascii_lowercase() == expected
        } else {
            (expected == b's' && c == '\u{17f}') || (expected == b'k' && c == '\u{212a}')
        };
        if !matched {
            return false;
        }
    }
    characters.next().is_none()
}

/// A JSON string, borrowed from the input when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// An id as restic's `ID` reads it: 64 hex digits of either case.
struct HexId(Id);

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Text::deserialize(deserializer)?;
        text.0.parse().map(HexId).map_err(de::Error::custom)
    }
}

/// `[]byte` as Go's `encoding/json` reads it: a base64 string, or an array of byte values.
struct Base64Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Base64Bytes;
    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a base64 string")
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Base64Bytes, E> {
        decode_go_base64(text)
            .map(Base64Bytes)
            .map_err(|error| E::custom(format_args!("invalid base64: {error}")))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Base64Bytes, A::Error> {
        let mut bytes = Vec::new();
        while let Some(byte) = sequence.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(Base64Bytes(bytes))
    }
}

fn decode_go_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const GO_STD_ENCODING: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    if text.contains(['\r', '\n']) {
        let stripped: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        GO_STD_ENCODING.decode(stripped)
    } else {
        GO_STD_ENCODING.decode(text)
    }
}

/// The whole blob: an object whose `nodes` key holds the array, or `null`.
struct TreeSeed<'f> {
    fault: &'f Fault,
}

impl<'de> DeserializeSeed<'de> for TreeSeed<'_> {
    type Value = Vec<Node>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Node>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TreeSeed<'_> {
    type Value = Vec<Node>;
    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a tree object {\"nodes\":[...]}")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<Node>, E> {
        Ok(Vec::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Node>, A::Error> {
        let mut nodes = Vec::new();
        while let Some(key) = map.next_key::<Text>()? {
            if key_matches(&key.0, "nodes") {
                nodes = map.next_value_seed(NodesSeed { fault: self.fault })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(nodes)
    }
}

/// The `nodes` array, or `null`.
struct NodesSeed<'f> {
    fault: &'f Fault,
}

impl<'de> DeserializeSeed<'de> for NodesSeed<'_> {
    type Value = Vec<Node>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Node>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodesSeed<'_> {
    type Value = Vec<Node>;
    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of nodes")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<Node>, E> {
        Ok(Vec::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Vec<Node>, A::Error> {
        // Never trust a size hint from untrusted input for more than a modest reservation.
        let mut nodes = Vec::with_capacity(sequence.size_hint().unwrap_or(0).min(4096));
        loop {
            let seed = NodeSeed {
                fault: self.fault,
                index: nodes.len(),
            };
            match sequence.next_element_seed(seed)? {
                Some(node) => nodes.push(node),
                None => return Ok(nodes),
            }
        }
    }
}

/// One element of `nodes`.
struct NodeSeed<'f> {
    fault: &'f Fault,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The fields of restic's `Node`, as its JSON names them.
#[derive(Clone, Copy)]
enum Field {
    Name,
    Type,
    Mode,
    Mtime,
    Atime,
    Ctime,
    Uid,
    Gid,
    User,
    Group,
    Inode,
    DeviceId,
    Size,
    Links,
    LinkTarget,
    LinkTargetRaw,
    ExtendedAttributes,
    Device,
    Content,
    Subtree,
    Error,
}

const FIELDS: [(&str, Field); 21] = [
    ("name", Field::Name),
    ("type", Field::Type),
    ("mode", Field::Mode),
    ("mtime", Field::Mtime),
    ("atime", Field::Atime),
    ("ctime", Field::Ctime),
    ("uid", Field::Uid),
    ("gid", Field::Gid),
    ("user", Field::User),
    ("group", Field::Group),
    ("inode", Field::Inode),
    ("device_id", Field::DeviceId),
    ("size", Field::Size),
    ("links", Field::Links),
    ("linktarget", Field::LinkTarget),
    ("linktarget_raw", Field::LinkTargetRaw),
    ("extended_attributes", Field::ExtendedAttributes),
    ("device", Field::Device),
    ("content", Field::Content),
    ("subtree", Field::Subtree),
    ("error", Field::Error),
];

fn lookup_field(key: &str) -> Option<(&'static str, Field)> {
    // Exact names first: that is what every encoder writes, and it is the cheaper test.
    FIELDS
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| FIELDS.iter().find(|(name, _)| key_matches(key, name)))
        .copied()
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;
    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a node object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        record(self.fault, TreeError::NullNode { index: self.index });
        Err(E::custom("null node"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut node = Node::new(Vec::new(), NodeType::parse(""));
        let mut quoted_name: Cow<'de, str> = Cow::Borrowed("");
        let mut link_target_raw: Option<Vec<u8>> = None;
        while let Some(key) = map.next_key::<Text>()? {
            let Some((field_name, field)) = lookup_field(&key.0) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let at_field = |error: A::Error| {
                let reason = error.to_string();
                record(
                    self.fault,
                    TreeError::Node {
                        index: self.index,
                        field: field_name,
                        reason,
                    },
                );
                error
            };
            macro_rules! value {
                ($type:ty) => {
                    map.next_value::<$type>().map_err(at_field)?
                };
            }
            match field {
                Field::Name => set(&mut quoted_name, value!(Option<Text>).map(|t| t.0)),
                Field::Type => {
                    if let Some(text) = value!(Option<Text>) {
                        node.node_type = NodeType::parse(&text.0);
                    }
                }
                Field::Mode => set(&mut node.mode, value!(Option<u32>)),
                Field::Mtime | Field::Atime | Field::Ctime => {
                    if let Some(text) = value!(Option<Text>) {
                        let time = GoTime::parse_rfc3339(&text.0)
                            .map_err(|error| at_field(de::Error::custom(error.to_string())))?;
                        match field {
                            Field::Mtime => node.mtime = time,
                            Field::Atime => node.atime = time,
                            _ => node.ctime = time,
                        }
                    }
                }
                Field::Uid => set(&mut node.uid, value!(Option<u32>)),
                Field::Gid => set(&mut node.gid, value!(Option<u32>)),
                Field::User => set(&mut node.user, value!(Option<Text>).map(owned)),
                Field::Group => set(&mut node.group, value!(Option<Text>).map(owned)),
                Field::Inode => set(&mut node.inode, value!(Option<u64>)),
                Field::DeviceId => set(&mut node.device_id, value!(Option<u64>)),
                Field::Size => set(&mut node.size, value!(Option<u64>)),
                Field::Links => set(&mut node.links, value!(Option<u64>)),
                Field::LinkTarget => set(
                    &mut node.link_target,
                    value!(Option<Text>).map(|text| owned(text).into_bytes()),
                ),
                // Go sets a slice or pointer to nil on `null`, unlike a string or number.
                Field::LinkTargetRaw => {
                    link_target_raw = value!(Option<Base64Bytes>).map(|bytes| bytes.0);
                }
                Field::ExtendedAttributes => {
                    node.extended_attributes = value!(Option<Vec<Attribute>>)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|attribute| attribute.0)
                        .collect();
                }
                Field::Device => set(&mut node.device, value!(Option<u64>)),
                Field::Content => {
                    node.content = value!(Option<Vec<HexId>>)
                        .map(|ids| ids.into_iter().map(|id| id.0).collect());
                }
                Field::Subtree => node.subtree = value!(Option<HexId>).map(|id| id.0),
                Field::Error => set(&mut node.error, value!(Option<Text>).map(owned)),
            }
        }
        // restic unquotes the name after the whole object has decoded.
        node.name = go_unquote_inner(&quoted_name).map_err(|error| {
            let shown: String = quoted_name.chars().take(80).collect();
            let reason = format!("cannot unquote {shown:?}: {error}");
            record(
                self.fault,
                TreeError::Node {
                    index: self.index,
                    field: "name",
                    reason: reason.clone(),
                },
            );
            de::Error::custom(reason)
        })?;
        if let Some(raw) = link_target_raw {
            node.link_target = raw;
        }
        Ok(node)
    }
}

/// Go's decoding into a string or number: `null` leaves the current value.
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn owned(text: Text) -> String {
    text.0.into_owned()
}

/// One element of `extended_attributes`: an object with `name` and `value`, or `null` for an
/// attribute with both empty (Go leaves a struct element at its zero value on `null`).
struct Attribute(ExtendedAttribute);

impl<'de> Deserialize<'de> for Attribute {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AttributeVisitor)
    }
}

struct AttributeVisitor;

impl<'de> Visitor<'de> for AttributeVisitor {
    type Value = Attribute;
    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an extended attribute object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Attribute, E> {
        Ok(Attribute(ExtendedAttribute {
            name: String::new(),
            value: Vec::new(),
        }))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attribute, A::Error> {
        let mut attribute = ExtendedAttribute {
            name: String::new(),
            value: Vec::new(),
        };
        while let Some(key) = map.next_key::<Text>()? {
            if key_matches(&key.0, "name") {
                set(
                    &mut attribute.name,
                    map.next_value::<Option<Text>>()?.map(owned),
                );
            } else if key_matches(&key.0, "value") {
                attribute.value = map
                    .next_value::<Option<Base64Bytes>>()?
                    .map_or_else(Vec::new, |bytes| bytes.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Attribute(attribute))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_as_go_folds_them() {
        assert!(key_matches("nodes", "nodes"));
        assert!(key_matches("NODES", "nodes"));
        assert!(key_matches("Node\u{17f}", "nodes"));
        assert!(key_matches("\u{212a}", "k"));
        assert!(key_matches("Device_ID", "device_id"));
        assert!(!key_matches("device-id", "device_id"));
        assert!(!key_matches("node", "nodes"));
        assert!(!key_matches("nodess", "nodes"));
        assert!(!key_matches("n\u{f6}des", "nodes"));
    }

    #[test]
    fn go_base64_requires_padding_and_skips_newlines() {
        assert_eq!(decode_go_base64("dmFs").unwrap(), b"val");
        assert_eq!(decode_go_base64("dm\r\nFs").unwrap(), b"val");
        assert_eq!(decode_go_base64("").unwrap(), b"");
        assert_eq!(decode_go_base64("YQ==").unwrap(), b"a");
        assert_eq!(
            decode_go_base64("YR==").unwrap(),
            b"a",
            "trailing bits allowed"
        );
        assert!(decode_go_base64("YQ").is_err());
        assert!(decode_go_base64("YQ=").is_err());
        assert!(decode_go_base64("dmFs!").is_err());
    }
}

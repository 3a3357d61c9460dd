//! Tree blob decoding, accepting what restic's Go decoder (`json.Unmarshal` into `restic.Tree`
//! with `Node.UnmarshalJSON`) accepts.
//!
//! Go's tolerance that this mirrors:
//! - any whitespace, any key order, duplicate keys (the last one wins; Go alone merges a
//!   repeated `extended_attributes` array into the earlier one element by element, which no
//!   encoder produces);
//! - unknown node keys, which Go ignores, are kept here with their raw value and the known
//!   field they followed (see [`super::UnknownNodeField`]); unknown keys of the tree object
//!   itself and of extended attributes are ignored, as restic ignores them;
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

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::go_quote::go_unquote_inner;
use super::node::{ExtendedAttribute, GoTime, Node, NodeField, NodeType, UnknownNodeField};
use super::TreeError;
use crate::base64_bytes::GoBytes;
use crate::go_json::{find_field, key_matches, set, Text};
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

/// An id as restic's `ID` reads it: 64 hex digits of either case.
struct HexId(Id);

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Text::deserialize(deserializer)?;
        text.0.parse().map(HexId).map_err(de::Error::custom)
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

/// A known field named by `key`, as Go finds it (exact name first, then case-folded).
fn lookup_field(key: &str) -> Option<NodeField> {
    const NAMES: [&str; NodeField::ALL.len()] = {
        let mut names = [""; NodeField::ALL.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = NodeField::ALL[i].json_name();
            i += 1;
        }
        names
    };
    find_field(key, &NAMES).map(|i| NodeField::ALL[i])
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
        // The known field read last: an unknown field is written back after its place.
        let mut last_known: Option<NodeField> = None;
        while let Some(key) = map.next_key::<Text>()? {
            let Some(field) = lookup_field(&key.0) else {
                let value = map.next_value::<Box<RawValue>>()?;
                keep_unknown(&mut node, last_known, key.0.into_owned(), value);
                continue;
            };
            last_known = Some(field);
            let field_name = field.json_name();
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
                NodeField::Name => set(&mut quoted_name, value!(Option<Text>).map(|t| t.0)),
                NodeField::Type => {
                    if let Some(text) = value!(Option<Text>) {
                        node.node_type = NodeType::parse(&text.0);
                    }
                }
                NodeField::Mode => set(&mut node.mode, value!(Option<u32>)),
                NodeField::Mtime | NodeField::Atime | NodeField::Ctime => {
                    if let Some(text) = value!(Option<Text>) {
                        let time = GoTime::parse_rfc3339(&text.0)
                            .map_err(|error| at_field(de::Error::custom(error.to_string())))?;
                        match field {
                            NodeField::Mtime => node.mtime = time,
                            NodeField::Atime => node.atime = time,
                            _ => node.ctime = time,
                        }
                    }
                }
                NodeField::Uid => set(&mut node.uid, value!(Option<u32>)),
                NodeField::Gid => set(&mut node.gid, value!(Option<u32>)),
                NodeField::User => set(&mut node.user, value!(Option<Text>).map(owned)),
                NodeField::Group => set(&mut node.group, value!(Option<Text>).map(owned)),
                NodeField::Inode => set(&mut node.inode, value!(Option<u64>)),
                NodeField::DeviceId => set(&mut node.device_id, value!(Option<u64>)),
                NodeField::Size => set(&mut node.size, value!(Option<u64>)),
                NodeField::Links => set(&mut node.links, value!(Option<u64>)),
                NodeField::LinkTarget => set(
                    &mut node.link_target,
                    value!(Option<Text>).map(|text| owned(text).into_bytes()),
                ),
                // Go sets a slice or pointer to nil on `null`, unlike a string or number.
                NodeField::LinkTargetRaw => {
                    link_target_raw = value!(Option<GoBytes>).map(|bytes| bytes.0);
                }
                NodeField::ExtendedAttributes => {
                    node.extended_attributes = value!(Option<Vec<Attribute>>)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|attribute| attribute.0)
                        .collect();
                }
                NodeField::Device => set(&mut node.device, value!(Option<u64>)),
                NodeField::Content => {
                    node.content = value!(Option<Vec<HexId>>)
                        .map(|ids| ids.into_iter().map(|id| id.0).collect());
                }
                NodeField::Subtree => node.subtree = value!(Option<HexId>).map(|id| id.0),
                NodeField::Error => set(&mut node.error, value!(Option<Text>).map(owned)),
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

/// Keeps an unknown field; a key seen again replaces the value in place (Go keeps the last).
fn keep_unknown(node: &mut Node, after: Option<NodeField>, name: String, value: Box<RawValue>) {
    match node
        .unknown_fields
        .iter_mut()
        .find(|kept| kept.name == name)
    {
        Some(kept) => kept.value = value,
        None => node
            .unknown_fields
            .push(UnknownNodeField { after, name, value }),
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
                    .next_value::<Option<GoBytes>>()?
                    .map_or_else(Vec::new, |bytes| bytes.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Attribute(attribute))
    }
}

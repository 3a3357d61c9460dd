//! Decoding JSON objects as restic does: with Go's `encoding/json` into a struct.
//!
//! # The rule (an invariant of this crate)
//! - **Absent → zero.** A field that is missing takes its zero value (`""`, `0`, `false`, empty
//!   list, no id). Only what the format cannot work without is required (a key file's `data`
//!   and `salt`, a snapshot's `tree` and `time`, an index entry's ids and positions…); each
//!   type's decoder names them, and a missing one is an error naming the object and the field.
//! - **`null` as Go reads it.** `null` leaves a string, number or boolean at what it was (its
//!   zero value, unless the key came twice) and makes a list or id absent.
//! - **Keys as Go matches them.** Exact name first, then Go's case folding (`Tree`, `TREE`; `ſ`
//!   and `K` for `s` and `k`); the last of repeated keys wins.
//! - **Unknown → kept.** A key that names no field this version knows (written by a newer
//!   restic, or by another implementation of the format) is kept with its value exactly as
//!   read, and written back after the known fields when the object is encoded again: rewriting
//!   a snapshot (`tag`, `repair`, `copy`) or an index (`prune`, `repair index`) loses nothing.
//!   Tree nodes keep their unknown fields too, at the place they had (see [`crate::tree`]).
//!
//! Known fields are written as restic writes them (its names, order and `omitempty`), so an
//! object without unknown fields encodes to restic's bytes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Go's `encoding/json` key match for an all-ASCII field name: each key character equals the
/// name's byte up to ASCII case, or is `ſ` (U+017F) for `s` or `K` (U+212A) for `k`.
pub(crate) fn key_matches(key: &str, field: &str) -> bool {
    let mut characters = key.chars();
    for expected in field.bytes().map(|byte| byte.to_ascii_lowercase()) {
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

/// The position in `fields` of the field `key` names, as Go finds it: the exact name first
/// (what every encoder writes, and the cheaper test), then a case-folded match.
pub(crate) fn find_field(key: &str, fields: &[&str]) -> Option<usize> {
    fields
        .iter()
        .position(|name| *name == key)
        .or_else(|| fields.iter().position(|name| key_matches(key, name)))
}

/// A JSON string, borrowed from the input when it has no escapes.
pub(crate) struct Text<'de>(pub Cow<'de, str>);

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

/// Fields of a JSON object that this version does not know, in the order they were read, each
/// value exactly as read (its bytes, not a reparsed form), so writing them back changes nothing.
#[derive(Clone, Default)]
pub struct UnknownFields(Vec<(String, Box<RawValue>)>);

impl UnknownFields {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The JSON text of field `name`, if the object had it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.get())
    }

    /// The fields and their JSON texts, in the order they were read.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.get()))
    }

    /// Sets field `name` to `json`, which must be one JSON value; a field already there keeps
    /// its place. Fails (changing nothing) when `json` is not valid JSON.
    pub fn insert(&mut self, name: &str, json: &str) -> Result<(), serde_json::Error> {
        let value = RawValue::from_string(json.to_string())?;
        self.set(name.to_string(), value);
        Ok(())
    }

    /// Go keeps the last of repeated keys; so does this, at the first one's place.
    fn set(&mut self, name: String, value: Box<RawValue>) {
        match self.0.iter_mut().find(|(key, _)| *key == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl PartialEq for UnknownFields {
    fn eq(&self, other: &UnknownFields) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnknownFields {}

impl fmt::Debug for UnknownFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Written as map entries, for `#[serde(flatten)]` after an object's known fields.
impl Serialize for UnknownFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Reads the entries of one JSON object: `known` reads the value of each key that names one of
/// `fields` (given its position there); every other key is kept, with its raw value, in the
/// returned [`UnknownFields`].
pub(crate) fn read_object<'de, A: MapAccess<'de>>(
    map: &mut A,
    fields: &[&str],
    mut known: impl FnMut(usize, &mut A) -> Result<(), A::Error>,
) -> Result<UnknownFields, A::Error> {
    let mut unknown = UnknownFields::default();
    while let Some(key) = map.next_key::<Text>()? {
        match find_field(&key.0, fields) {
            Some(field) => known(field, map)?,
            None => {
                let value = map.next_value::<Box<RawValue>>()?;
                unknown.set(key.0.into_owned(), value);
            }
        }
    }
    Ok(unknown)
}

/// Go's decoding into a string, number or boolean: `null` leaves the current value.
pub(crate) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// A field the object cannot do without, or serde's error naming it.
pub(crate) fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

/// Implements `Deserialize` for a type decoded from one JSON object: `$map` is the object's
/// `MapAccess` (its type is `A`) in `$body`, which returns `Result<$type, A::Error>`.
macro_rules! deserialize_go_object {
    ($type:ty, $expecting:literal, |$map:ident| $body:block) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $type;
                    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                        formatter.write_str($expecting)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut $map: A,
                    ) -> Result<$type, A::Error> $body
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }
    };
}
pub(crate) use deserialize_go_object;

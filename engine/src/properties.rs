//! An event's property object, kept as the JSON text it came in.
//!
//! Events are imported by the million and most of their properties go to
//! typed columns or straight back out as JSON text, so the object is not
//! parsed into a `serde_json::Map` when the message is read: the promoted
//! columns, the residual JSON column and the content id all work from the
//! object's fields as raw text ([`crate::raw_json`]), each written exactly as
//! the parsed object would have been.

use std::borrow::Cow;
use std::io::Write;

use serde_json::{Map, Value};

use crate::raw_json::{no_backslash, write_canonical, RawObject};

/// A JSON object's text (validated when the message was parsed); empty for `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(Box<str>);

impl Properties {
    /// Keeps the text of a JSON object the message parser has validated.
    pub(crate) fn from_object_text(text: &str) -> Self {
        Self(text.into())
    }

    /// The object parsed.
    pub fn to_map(&self) -> Map<String, Value> {
        match self.0.is_empty() {
            true => Map::new(),
            // Validated JSON object text (see `from_object_text`).
            false => serde_json::from_str(&self.0).unwrap_or_default(),
        }
    }

    /// The object's fields sorted, from its text (see [`sorted_fields`]).
    pub(crate) fn sorted_fields(&self) -> SortedFields<'_> {
        sorted_fields(&self.0)
    }

    /// The object as the compact text `serde_json` writes (keys sorted).
    pub(crate) fn from_map(map: &Map<String, Value>) -> Self {
        match map.is_empty() {
            true => Self::default(),
            // A map of JSON values with string keys always serializes.
            false => Self(serde_json::to_string(map).expect("JSON serializes").into()),
        }
    }

    /// Changes the object: `change` gets it parsed, and it is kept as text
    /// again.
    pub(crate) fn update(&mut self, change: impl FnOnce(&mut Map<String, Value>)) {
        let mut map = self.to_map();
        change(&mut map);
        *self = Self::from_map(&map);
    }
}

/// A property object's fields, values as JSON text.
#[derive(Debug, Default)]
pub(crate) struct SortedFields<'a> {
    /// Sorted by key, of a repeated key the last: the order of the parsed
    /// object's `Map`.
    pub(crate) fields: Vec<(Cow<'a, str>, &'a str)>,
    /// The object's text has no backslash ([`no_backslash`]): no key or string
    /// value has an escape.
    pub(crate) unescaped: bool,
}

/// The fields of a validated object's text (empty for none), sorted.
pub(crate) fn sorted_fields(text: &str) -> SortedFields<'_> {
    if text.is_empty() {
        return SortedFields::default();
    }
    SortedFields {
        fields: RawObject::parse(text)
            .map(RawObject::into_sorted)
            .unwrap_or_default(),
        unescaped: no_backslash(text),
    }
}

/// Writes [`sorted_fields`] as `serde_json` writes the parsed `Map`.
pub(crate) fn write_canonical_fields(
    sorted: &SortedFields<'_>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    out.write_all(b"{")?;
    for (i, (key, value)) in sorted.fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if sorted.unescaped {
            // Without escapes in the text a key holds no quote, backslash
            // or control character (JSON forbids raw ones): nothing that
            // `serde_json` would escape.
            out.write_all(b"\"")?;
            out.write_all(key.as_bytes())?;
            out.write_all(b"\"")?;
        } else {
            serde_json::to_writer(&mut *out, key).map_err(std::io::Error::other)?;
        }
        out.write_all(b":")?;
        write_canonical(value, sorted.unescaped, out)?;
    }
    out.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_text_is_the_parsed_objects() {
        for v in [
            json!({}),
            json!({"b": 1.5, "a": "x", "c": {"y": [1, "é"], "x": null}}),
            // Escapes in keys and values: the path that looks for them.
            json!({"q\"k": "a\\b\n", "é\t": "x", "a": ["\"", "\u{1}"]}),
        ] {
            let p = Properties::from_object_text(&v.to_string());
            let mut out = Vec::new();
            write_canonical_fields(&sorted_fields(&v.to_string()), &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
            assert_eq!(Value::Object(p.to_map()), v);
        }
        let spaced = r#"{ "b" : 2.50 , "a" : 1 , "b" : 3 }"#;
        let mut out = Vec::new();
        write_canonical_fields(&sorted_fields(spaced), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":1,"b":3}"#);
    }

    /// Kept as text, changed through the parsed object: the same object,
    /// and an emptied one is the empty default.
    #[test]
    fn updates_go_through_the_parsed_object() {
        let mut p = Properties::from_map(json!({"b": [1, "x"], "a": "é\""}).as_object().unwrap());
        assert_eq!(p.0.as_ref(), r#"{"a":"é\"","b":[1,"x"]}"#);
        p.update(|m| {
            m.insert("c".into(), json!(2.5));
            m.remove("a");
        });
        assert_eq!(Value::Object(p.to_map()), json!({"b": [1, "x"], "c": 2.5}));
        p.update(Map::clear);
        assert_eq!(p, Properties::default());
    }
}

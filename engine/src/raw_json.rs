//! A JSON object's fields with their values still JSON text.
//!
//! Import reads a message's top-level fields and an event's properties
//! through [`RawObject`]: one tokenizing pass that borrows keys and values from
//! the input, so only the values a message form uses are ever parsed, each
//! straight into what the message keeps. Parsing every property object into a
//! `serde_json::Map` (a tree of owned strings and values) and serializing the
//! residual keys back was a third of an import's CPU time.

use std::borrow::Cow;
use std::io::Write;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use crate::json_scan::{has_escape, scan_object};

/// The fields of one JSON object, in input order, values unparsed (each
/// the text of one valid JSON value).
pub(crate) struct RawObject<'a> {
    entries: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> RawObject<'a> {
    /// Tokenizes `text`, which must hold one JSON object: scanned
    /// ([`crate::json_scan`]), or parsed by `serde_json` when the scan declines.
    pub(crate) fn parse(text: &'a str) -> Result<Self, String> {
        let mut entries = Vec::with_capacity(16);
        if scan_object(text, |k, v| entries.push((Cow::Borrowed(k), v))).is_some() {
            return Ok(Self { entries });
        }
        serde_json::from_str(text).map_err(object_error)
    }

    /// The fields sorted by key, of repeated keys only the last: the order
    /// and content of the object parsed whole into a `serde_json::Map`.
    pub(crate) fn into_sorted(mut self) -> Vec<(Cow<'a, str>, &'a str)> {
        // Stable, so repeated keys keep input order and the last one is kept.
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut sorted: Vec<(Cow<'a, str>, &'a str)> = Vec::with_capacity(self.entries.len());
        for entry in self.entries {
            match sorted.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => sorted.push(entry),
            }
        }
        sorted
    }
}

/// What was wrong with text that should hold one JSON object, from
/// `serde_json`'s error: valid JSON of another kind, or not JSON.
pub(crate) fn object_error(e: serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => "a message must be a JSON object".to_string(),
        _ => format!("bad JSON: {e}"),
    }
}

/// Whether validated JSON text holds no backslash, so that no string in it
/// has an escape: each is its text between the quotes. One vectorized
/// search over a whole message (memchr) instead of a search of each string
/// on its own, which was ~4 % of an import's CPU in `perf`.
pub(crate) fn no_backslash(text: &str) -> bool {
    memchr::memchr(b'\\', text.as_bytes()).is_none()
}

/// The string a raw JSON value holds, if it is one. The parser has already
/// validated the text, so a string without escapes is its text between the
/// quotes; `unescaped`: the value is part of text [`no_backslash`] found
/// without a backslash, so there is no need to look for escapes again.
pub(crate) fn raw_str(text: &str, unescaped: bool) -> Result<Option<Cow<'_, str>>, String> {
    if !text.starts_with('"') {
        return Ok(None);
    }
    if unescaped || !has_escape(text) {
        return Ok(Some(Cow::Borrowed(&text[1..text.len() - 1])));
    }
    serde_json::from_str::<String>(text)
        .map(|s| Some(Cow::Owned(s)))
        .map_err(|e| format!("bad JSON: {e}"))
}

/// The value a raw JSON text holds.
pub(crate) fn parse_raw(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("bad JSON: {e}"))
}

/// The number a raw JSON value holds, if it is one.
pub(crate) fn raw_number(text: &str) -> Option<Number> {
    if is_plain_integer(text) {
        return text.parse::<i64>().ok().map(Number::from);
    }
    let first = *text.as_bytes().first()?;
    (first == b'-' || first.is_ascii_digit())
        .then(|| serde_json::from_str(text).ok())
        .flatten()
}

/// Writes a raw value exactly as `serde_json` writes the value parsed from it
/// (compact, object keys sorted, numbers in their shortest form), so text
/// written from raw values equals text written from parsed ones. Strings
/// without escapes, `true`, `false` and `null` are copied as they are;
/// `unescaped` as for [`raw_str`].
pub(crate) fn write_canonical(
    text: &str,
    unescaped: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let simple_string = text.starts_with('"') && (unescaped || !has_escape(text));
    if simple_string || matches!(text, "true" | "false" | "null") || is_plain_integer(text) {
        return out.write_all(text.as_bytes());
    }
    if let Some(n) = raw_number(text) {
        return serde_json::to_writer(out, &n).map_err(std::io::Error::other);
    }
    // Escaped strings, objects and arrays: rare in property values.
    let value: Value = serde_json::from_str(text).map_err(std::io::Error::other)?;
    serde_json::to_writer(out, &value).map_err(std::io::Error::other)
}

/// An integer that `serde_json` writes back exactly as it is written here:
/// `0`, or up to 18 digits (well inside `i64`) without a leading zero,
/// optionally negative.
fn is_plain_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let bytes = digits.as_bytes();
    text == "0"
        || (!bytes.is_empty()
            && bytes.len() <= 18
            && bytes[0] != b'0'
            && bytes.iter().all(u8::is_ascii_digit))
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawObject<'de>, M::Error> {
                let mut entries = Vec::with_capacity(16);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    entries.push((key.0, map.next_value::<&'de RawValue>()?.get()));
                }
                Ok(RawObject { entries })
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A key, borrowed from the input unless it had escapes.
pub(crate) struct Key<'a>(Cow<'a, str>);

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of value, written from raw text, equals serde_json's own
    /// output for the parsed value.
    #[test]
    fn canonical_text_matches_serde_json() {
        let text = r#"{"s":"plain","e":"a\u00e9\n\"q\"","i":-42,"z":0,"nz":-0,"j":123456789012345678,
            "k":1234567890123456789,"big":18446744073709551615,
            "f":1.50,"x":1e3,"t":true,"n":null,"o":{"z":1, "a":[1, 2.0]},"dup":1,"dup":2}"#;
        let parsed: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
        let sorted = RawObject::parse(text).unwrap().into_sorted();
        let mut out = b"{".to_vec();
        for (i, (k, v)) in sorted.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, k).unwrap();
            out.push(b':');
            write_canonical(v, no_backslash(text), &mut out).unwrap();
        }
        out.push(b'}');
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&parsed).unwrap()
        );
    }
}

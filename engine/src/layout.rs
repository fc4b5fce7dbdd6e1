//! The JSON-property columnar layout.
//!
//! Hot property keys are promoted to typed columns named `<prefix><key>`
//! (`ep__plan`, `up__plan_level`); everything else of a property object stays
//! in one JSON text column (`event_properties_rest`, `user_properties_rest`).
//! The set of promoted keys *is* the table schema, so the choice survives
//! restarts with the Delta log. A value whose JSON type does not match its
//! promoted column goes to the JSON column instead: nothing is ever lost.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::{Map, Value};

use crate::properties::SortedFields;
use crate::raw_json::{raw_number, raw_str, write_canonical};

/// Prefix of promoted event-property columns.
pub(crate) const EVENT_PREFIX: &str = "ep__";
/// Prefix of promoted user-property columns.
pub(crate) const USER_PREFIX: &str = "up__";

/// Most keys promoted per property object; the rest stay JSON.
const MAX_PROMOTED: usize = 24;
/// A key is promoted when at least this share of objects carry it…
const MIN_FREQUENCY: f64 = 0.02;
/// …and at least this share of its values have one JSON type.
const MIN_TYPE_STABILITY: f64 = 0.99;

/// The Arrow type of a promoted property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PropType {
    Utf8,
    Int64,
    Float64,
    Boolean,
}

impl PropType {
    fn of(value: &Value) -> Option<Self> {
        match value {
            Value::String(_) => Some(Self::Utf8),
            Value::Bool(_) => Some(Self::Boolean),
            Value::Number(n) if n.is_i64() => Some(Self::Int64),
            Value::Number(_) => Some(Self::Float64),
            _ => None,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Utf8 => DataType::Utf8,
            Self::Int64 => DataType::Int64,
            Self::Float64 => DataType::Float64,
            Self::Boolean => DataType::Boolean,
        }
    }

    fn from_data_type(dt: &DataType) -> Option<Self> {
        match dt {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Self::Utf8),
            DataType::Dictionary(_, v) if v.is_string() => Some(Self::Utf8),
            DataType::Int64 | DataType::Int32 => Some(Self::Int64),
            DataType::Float64 | DataType::Float32 => Some(Self::Float64),
            DataType::Boolean => Some(Self::Boolean),
            _ => None,
        }
    }
}

/// One promoted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PromotedKey {
    pub(crate) key: String,
    pub(crate) ty: PropType,
}

/// Which keys of one property object are promoted, and to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropertyLayout {
    prefix: &'static str,
    keys: Vec<PromotedKey>,
}

impl PropertyLayout {
    /// Chooses the promoted keys from sample objects, by frequency and type stability.
    /// The objects may be parsed one at a time as they are counted (users'
    /// properties are kept as text).
    pub(crate) fn choose(
        prefix: &'static str,
        objects: impl Iterator<Item = impl Borrow<Map<String, Value>>>,
    ) -> Self {
        let mut total = 0usize;
        let mut seen: HashMap<String, HashMap<PropType, usize>> = HashMap::new();
        for obj in objects {
            total += 1;
            for (k, v) in obj.borrow() {
                if !seen.contains_key(k) {
                    seen.insert(k.clone(), HashMap::new());
                }
                let types = seen.get_mut(k).expect("inserted above");
                // Objects, arrays and nulls never promote; count them against stability.
                if let Some(ty) = PropType::of(v) {
                    *types.entry(ty).or_default() += 1;
                }
            }
        }
        let mut candidates: Vec<(usize, PromotedKey)> = seen
            .into_iter()
            .filter(|(k, _)| is_promotable_name(k))
            .filter_map(|(k, types)| {
                let (ty, count) = types.iter().max_by_key(|(_, c)| **c)?;
                let all: usize = types.values().sum();
                let stable = *count as f64 >= MIN_TYPE_STABILITY * all as f64;
                let frequent = *count as f64 >= MIN_FREQUENCY * total as f64;
                (stable && frequent).then(|| {
                    (
                        *count,
                        PromotedKey {
                            key: k.clone(),
                            ty: *ty,
                        },
                    )
                })
            })
            .collect();
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.key.cmp(&b.1.key)));
        candidates.truncate(MAX_PROMOTED);
        let mut keys: Vec<PromotedKey> = candidates.into_iter().map(|(_, k)| k).collect();
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Self { prefix, keys }
    }

    /// Reads the layout back from a table schema (columns named `<prefix><key>`).
    pub(crate) fn from_schema(prefix: &'static str, schema: &Schema) -> Self {
        let keys = schema
            .fields()
            .iter()
            .filter_map(|f| {
                let key = f.name().strip_prefix(prefix)?;
                Some(PromotedKey {
                    key: key.to_string(),
                    ty: PropType::from_data_type(f.data_type())?,
                })
            })
            .collect();
        Self { prefix, keys }
    }

    /// The promoted keys, in column order.
    pub(crate) fn keys(&self) -> &[PromotedKey] {
        &self.keys
    }

    /// The column name of a promoted key.
    pub(crate) fn column_name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The Arrow fields of the promoted columns.
    pub(crate) fn fields(&self) -> Vec<Field> {
        self.keys
            .iter()
            .map(|k| Field::new(self.column_name(&k.key), k.ty.data_type(), true))
            .collect()
    }

    /// Column builders for `capacity` rows.
    pub(crate) fn builders(&self, capacity: usize) -> PropertyBuilders {
        PropertyBuilders {
            columns: self
                .keys
                .iter()
                .map(|k| match k.ty {
                    PropType::Utf8 => {
                        ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 8))
                    }
                    PropType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
                    PropType::Float64 => {
                        ColumnBuilder::Float64(Float64Builder::with_capacity(capacity))
                    }
                    PropType::Boolean => {
                        ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity))
                    }
                })
                .collect(),
            rest: StringBuilder::with_capacity(capacity, capacity * 16),
            index: {
                let mut index: Vec<(String, usize)> = self
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.key.clone(), i))
                    .collect();
                index.sort();
                index
            },
            filled: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

/// Property keys that can be column names without quoting trouble.
fn is_promotable_name(key: &str) -> bool {
    !key.is_empty() && key.len() <= 48 && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug)]
enum ColumnBuilder {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
}

/// Builds the promoted columns and the residual JSON column, row by row.
#[derive(Debug)]
pub(crate) struct PropertyBuilders {
    columns: Vec<ColumnBuilder>,
    rest: StringBuilder,
    /// `(key, column)` sorted by key: a binary search beats hashing the key.
    index: Vec<(String, usize)>,
    /// Per-row scratch: which promoted columns the row filled, and its residual JSON.
    filled: Vec<bool>,
    scratch: Vec<u8>,
}

/// One property value as the typed columns see it.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Objects, arrays, nulls, integers beyond `i64`: JSON only.
    Other,
}

impl<'a> Scalar<'a> {
    #[cfg(test)]
    fn of_value(value: &'a Value) -> Self {
        match value {
            Value::String(s) => Self::Str(Cow::Borrowed(s)),
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::of_number(n),
            _ => Self::Other,
        }
    }

    fn of_raw(raw: &'a str, unescaped: bool) -> Self {
        match raw.as_bytes().first() {
            Some(b'"') => raw_str(raw, unescaped)
                .ok()
                .flatten()
                .map_or(Self::Other, Self::Str),
            Some(b't') => Self::Bool(true),
            Some(b'f') => Self::Bool(false),
            _ => raw_number(raw).map_or(Self::Other, |n| Self::of_number(&n)),
        }
    }

    fn of_number(n: &serde_json::Number) -> Self {
        match (n.as_i64(), n.is_u64()) {
            (Some(i), _) => Self::Int(i),
            (None, true) => Self::Other,
            (None, false) => n.as_f64().map_or(Self::Other, Self::Float),
        }
    }
}

impl PropertyBuilders {
    /// Appends one parsed property object: promoted keys to their columns,
    /// the rest as JSON. Only the tests' reference now: every object is
    /// appended from its text ([`Self::append_sorted`]), which the tests
    /// check against this.
    #[cfg(test)]
    pub(crate) fn append(&mut self, props: &Map<String, Value>) {
        self.start_row();
        for (key, value) in props {
            self.append_field(
                key,
                || Scalar::of_value(value),
                |out| serde_json::to_writer(out, value).map_err(std::io::Error::other),
            );
        }
        self.finish_row();
    }

    /// Appends one property object as its fields sorted by key
    /// ([`crate::properties::sorted_fields`]); the same columns and JSON text
    /// as [`Self::append`] of the parsed object.
    pub(crate) fn append_sorted(&mut self, sorted: &SortedFields<'_>) {
        self.start_row();
        let unescaped = sorted.unescaped;
        for (key, raw) in &sorted.fields {
            self.append_field(
                key,
                || Scalar::of_raw(raw, unescaped),
                |out| write_canonical(raw, unescaped, out),
            );
        }
        self.finish_row();
    }

    fn start_row(&mut self) {
        self.filled.clear();
        self.filled.resize(self.columns.len(), false);
        // The rest is serialized field by field as the row meets them, in the
        // object's (sorted) key order: the same text as the residual object
        // serialized whole, without building it.
        self.scratch.clear();
    }

    /// Stores one field in its promoted column when it has one of that type,
    /// else in the row's residual JSON.
    fn append_field<'v>(
        &mut self,
        key: &str,
        scalar: impl FnOnce() -> Scalar<'v>,
        write_json: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    ) {
        let slot = self
            .index
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.index[i].1);
        let stored = slot.is_some_and(|i| {
            let ok = match (&mut self.columns[i], scalar()) {
                (ColumnBuilder::Utf8(b), Scalar::Str(s)) => {
                    b.append_value(s);
                    true
                }
                (ColumnBuilder::Int64(b), Scalar::Int(n)) => {
                    b.append_value(n);
                    true
                }
                (ColumnBuilder::Float64(b), Scalar::Float(x)) => {
                    b.append_value(x);
                    true
                }
                (ColumnBuilder::Boolean(b), Scalar::Bool(x)) => {
                    b.append_value(x);
                    true
                }
                _ => false,
            };
            self.filled[i] |= ok;
            ok
        });
        if !stored {
            self.scratch
                .push(if self.scratch.is_empty() { b'{' } else { b',' });
            // Writing JSON into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.scratch, key);
            self.scratch.push(b':');
            let _ = write_json(&mut self.scratch);
        }
    }

    fn finish_row(&mut self) {
        for (column, filled) in self.columns.iter_mut().zip(&self.filled) {
            if !filled {
                match column {
                    ColumnBuilder::Utf8(b) => b.append_null(),
                    ColumnBuilder::Int64(b) => b.append_null(),
                    ColumnBuilder::Float64(b) => b.append_null(),
                    ColumnBuilder::Boolean(b) => b.append_null(),
                }
            }
        }
        if self.scratch.is_empty() {
            self.rest.append_null();
        } else {
            self.scratch.push(b'}');
            self.rest
                .append_value(std::str::from_utf8(&self.scratch).expect("JSON text is UTF-8"));
        }
    }

    /// The promoted columns followed by the residual JSON column.
    pub(crate) fn finish(mut self) -> (Vec<ArrayRef>, ArrayRef) {
        let columns = self
            .columns
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
                    ColumnBuilder::Int64(b) => Arc::new(b.finish()),
                    ColumnBuilder::Float64(b) => Arc::new(b.finish()),
                    ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        (columns, Arc::new(self.rest.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn promotes_frequent_stable_keys_only() {
        let mut objects: Vec<_> = (0..100)
            .map(|i| obj(json!({"plan": "pro", "n": i, "mixed": if i % 2 == 0 { json!(1) } else { json!("a") }, "nested": {"a": 1}, "bad key": "x"})))
            .collect();
        objects.push(obj(json!({"rare": 1})));
        let layout = PropertyLayout::choose(EVENT_PREFIX, objects.iter());
        let keys: Vec<_> = layout
            .keys()
            .iter()
            .map(|k| (k.key.as_str(), k.ty))
            .collect();
        assert_eq!(keys, vec![("n", PropType::Int64), ("plan", PropType::Utf8)]);
        let schema = Schema::new(layout.fields());
        assert_eq!(PropertyLayout::from_schema(EVENT_PREFIX, &schema), layout);
    }

    /// Objects kept as text build exactly the columns their parsed `Map`s do,
    /// whatever the spacing, number spelling, key order or repeated keys.
    #[test]
    fn text_and_parsed_objects_build_the_same_columns() {
        let layout = PropertyLayout::choose(
            EVENT_PREFIX,
            [obj(json!({"n": 1, "s": "x", "f": 1.5, "b": true}))].iter(),
        );
        let texts = [
            r#"{ "f" : 1.50, "n": 2, "x": true, "s": "a\"b", "b": false }"#,
            r#"{"n": "two", "big": 18446744073709551615, "f": 3, "o": {"z": [1, 2.0]}}"#,
            r#"{"n": 1e2, "s": null, "n": 7}"#,
            "{}",
        ];
        let mut parsed = layout.builders(texts.len());
        let mut raw = layout.builders(texts.len());
        for text in texts {
            parsed.append(&serde_json::from_str(text).unwrap());
            raw.append_sorted(&crate::properties::sorted_fields(text));
        }
        let (parsed, raw) = (parsed.finish(), raw.finish());
        assert_eq!(parsed.0, raw.0);
        assert_eq!(parsed.1.as_string::<i32>(), raw.1.as_string::<i32>());
        assert_eq!(
            raw.1.as_string::<i32>().value(1),
            r#"{"big":18446744073709551615,"f":3,"n":"two","o":{"z":[1,2.0]}}"#
        );
    }

    #[test]
    fn mismatched_values_stay_in_json() {
        let layout = PropertyLayout::choose(EVENT_PREFIX, [obj(json!({"n": 1}))].iter());
        let mut b = layout.builders(2);
        b.append(&obj(json!({"n": 2, "x": true})));
        b.append(&obj(json!({"n": "two"})));
        let (cols, rest) = b.finish();
        let n = cols[0].as_primitive::<Int64Type>();
        assert_eq!((n.value(0), n.is_null(1)), (2, true));
        let rest = rest.as_string::<i32>();
        assert_eq!(rest.value(0), r#"{"x":true}"#);
        assert_eq!(rest.value(1), r#"{"n":"two"}"#);
    }
}

//! The JSON-property columnar layout.
//!
//! Hot property keys are promoted to typed columns named `<prefix><key>`
//! (`ep__plan`, `up__plan_level`); everything else of a property object stays
//! in one JSON text column (`event_properties_rest`, `user_properties_rest`).
//! The set of promoted keys *is* the table schema, so the choice survives
//! restarts with the Delta log. A value whose JSON type does not match its
//! promoted column goes to the JSON column instead: nothing is ever lost.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::{Map, Value};

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
    pub(crate) fn choose<'a>(
        prefix: &'static str,
        objects: impl Iterator<Item = &'a Map<String, Value>>,
    ) -> Self {
        let mut total = 0usize;
        let mut seen: HashMap<&str, HashMap<PropType, usize>> = HashMap::new();
        for obj in objects {
            total += 1;
            for (k, v) in obj {
                if let Some(ty) = PropType::of(v) {
                    *seen.entry(k.as_str()).or_default().entry(ty).or_default() += 1;
                } else {
                    // Objects, arrays and nulls never promote; count them against stability.
                    seen.entry(k.as_str()).or_default();
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
                            key: k.to_string(),
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
            index: self
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.key.clone(), i))
                .collect(),
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
    index: HashMap<String, usize>,
    /// Per-row scratch: which promoted columns the row filled, and its residual JSON.
    filled: Vec<bool>,
    scratch: Vec<u8>,
}

impl PropertyBuilders {
    /// Appends one property object: promoted keys to their columns, the rest as JSON.
    pub(crate) fn append(&mut self, props: &Map<String, Value>) {
        self.filled.clear();
        self.filled.resize(self.columns.len(), false);
        // The rest is serialized key by key as the loop meets it, in the
        // object's (sorted) key order: the same text as the residual object
        // serialized whole, without building it.
        self.scratch.clear();
        for (k, v) in props {
            let slot = self.index.get(k).copied();
            let stored = slot.is_some_and(|i| {
                let ok = match (&mut self.columns[i], v) {
                    (ColumnBuilder::Utf8(b), Value::String(s)) => {
                        b.append_value(s);
                        true
                    }
                    (ColumnBuilder::Int64(b), Value::Number(n)) if n.is_i64() => {
                        b.append_value(n.as_i64().unwrap_or_default());
                        true
                    }
                    (ColumnBuilder::Float64(b), Value::Number(n)) if !n.is_i64() && !n.is_u64() => {
                        b.append_value(n.as_f64().unwrap_or_default());
                        true
                    }
                    (ColumnBuilder::Boolean(b), Value::Bool(x)) => {
                        b.append_value(*x);
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
                // Writing JSON of a string and a Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut self.scratch, k);
                self.scratch.push(b':');
                let _ = serde_json::to_writer(&mut self.scratch, v);
            }
        }
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
                .append_value(std::str::from_utf8(&self.scratch).expect("serde_json writes UTF-8"));
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

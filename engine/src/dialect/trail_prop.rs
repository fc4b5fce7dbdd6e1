//! `trail_prop(json, key [, key | index ...])` — one property of a JSON text
//! column, as text.
//!
//! What `user_properties.plan_level` (and `e.event_properties.address.city`)
//! is rewritten to. The value is returned as `->>` returns it: a string
//! without its quotes, a number or boolean as its JSON text, an object or
//! array as JSON text; a missing key, JSON `null`, invalid JSON or a SQL NULL
//! give NULL.
//!
//! A key that is not in the object exactly is looked up again ignoring case
//! and treating every character other than ASCII letters and digits as `_`,
//! the way Heap's warehouse export names properties: the documented
//! `user_properties.plan_level` finds a property added as `'Plan_Level'` (or
//! `'Plan Level'`). An exact match always wins.
//!
//! ```sql
//! SELECT trail_prop('{"Plan_Level":"Pro","MRR":5000,"tags":["a"]}', 'plan_level'); -- Pro
//! SELECT trail_prop('{"MRR":5000}', 'MRR');                                       -- 5000
//! SELECT trail_prop('{"tags":["a","b"]}', 'tags', 1);                              -- b
//! ```

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ExpressionPlacement, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use serde_json::Value;

static JSON_AS_TEXT: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(datafusion_functions_json::udfs::json_as_text_udf);

/// `trail_prop(json, path...)`: see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TrailProp {
    signature: Signature,
}

impl Default for TrailProp {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TrailProp {
    fn name(&self) -> &str {
        "trail_prop"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() < 2 {
            return plan_err!("trail_prop(json, key, ...) needs a JSON value and at least one key");
        }
        match &arg_types[0] {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {}
            DataType::Dictionary(_, value)
                if matches!(
                    value.as_ref(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) => {}
            other => {
                return plan_err!("trail_prop: the JSON value must be text, got {other}");
            }
        }
        for t in &arg_types[1..] {
            if !(t.is_integer()
                || matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8))
            {
                return plan_err!("trail_prop: keys must be strings or integer indexes, got {t}");
            }
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args[0].data_type() == DataType::Null {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        }
        if let DataType::Dictionary(..) = args.args[0].data_type() {
            // json_as_text answers a dictionary with a dictionary; this
            // function promises plain text.
            args.args[0] = args.args[0].cast_to(&DataType::Utf8, None)?;
            args.arg_fields[0] = Arc::new(
                args.arg_fields[0]
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Utf8),
            );
        }
        let json = args.args[0].clone();
        let path = literal_path(&args.args[1..]);
        let exact = JSON_AS_TEXT.invoke_with_args(args)?;
        // The lenient second look only runs for constant paths, and only on
        // rows the exact lookup missed.
        let Some(path) = path else {
            return Ok(exact);
        };
        match (&json, &exact) {
            (ColumnarValue::Scalar(json), ColumnarValue::Scalar(result)) => {
                if !result.is_null() {
                    return Ok(exact);
                }
                let json = json.to_array_of_size(1)?;
                let json = cast(&json, &DataType::Utf8)?;
                let text = json.as_string::<i32>();
                let value = if text.is_null(0) {
                    None
                } else {
                    lenient_lookup(text.value(0), &path)
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(value)))
            }
            _ => {
                let rows = match &exact {
                    ColumnarValue::Array(a) => a.len(),
                    ColumnarValue::Scalar(_) => match &json {
                        ColumnarValue::Array(a) => a.len(),
                        ColumnarValue::Scalar(_) => 1,
                    },
                };
                let json = cast(&json.into_array(rows)?, &DataType::Utf8)?;
                let exact = cast(&exact.into_array(rows)?, &DataType::Utf8)?;
                Ok(ColumnarValue::Array(fill_misses(
                    json.as_string::<i32>(),
                    exact.as_string::<i32>(),
                    &path,
                )))
            }
        }
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        // A property of a column with a constant path can be computed right
        // at the scan, like `->>`.
        if args.len() >= 2
            && matches!(args[0], ExpressionPlacement::Column)
            && args[1..]
                .iter()
                .all(|a| matches!(a, ExpressionPlacement::Literal))
        {
            ExpressionPlacement::MoveTowardsLeafNodes
        } else {
            ExpressionPlacement::KeepInPlace
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
}

fn literal_path(args: &[ColumnarValue]) -> Option<Vec<Step>> {
    args.iter()
        .map(|arg| match arg {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)),
            ) => Some(Step::Key(s.clone())),
            ColumnarValue::Scalar(s) if s.data_type().is_integer() && !s.is_null() => {
                match s.cast_to(&DataType::Int64).ok()? {
                    ScalarValue::Int64(Some(i)) => Some(Step::Index(i)),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

fn fill_misses(json: &StringArray, exact: &StringArray, path: &[Step]) -> ArrayRef {
    if exact.null_count() == json.null_count() {
        // Every non-null document had the exact path.
        return Arc::new(exact.clone());
    }
    let mut out = StringBuilder::with_capacity(exact.len(), exact.value_data().len());
    for row in 0..exact.len() {
        if exact.is_valid(row) {
            out.append_value(exact.value(row));
        } else if json.is_valid(row) {
            out.append_option(lenient_lookup(json.value(row), path));
        } else {
            out.append_null();
        }
    }
    Arc::new(out.finish())
}

/// The lenient second look for `path` in one document.
fn lenient_lookup(json: &str, path: &[Step]) -> Option<String> {
    // Cheap test first: a document that cannot contain the first key, even
    // leniently, is not parsed.
    if let Some(Step::Key(first)) = path.first() {
        if !contains_normalized(json.as_bytes(), first.as_bytes()) {
            return None;
        }
    }
    let value: Value = serde_json::from_str(json).ok()?;
    let mut current = &value;
    for step in path {
        current = match (step, current) {
            (Step::Key(key), Value::Object(map)) => match map.get(key) {
                Some(v) => v,
                None => {
                    map.iter()
                        .find(|(k, _)| normalized_eq(k.as_bytes(), key.as_bytes()))?
                        .1
                }
            },
            (Step::Index(i), Value::Array(items)) => {
                let i = if *i < 0 { items.len() as i64 + i } else { *i };
                items.get(usize::try_from(i).ok()?)?
            }
            _ => return None,
        };
    }
    match current {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Whether `trail_prop(json, requested)` can answer with the value stored
/// under `stored`: the exact key, or one equal to it under the lenient rule.
/// Lets a rewrite know which keys a lookup can possibly reach.
pub(crate) fn key_may_match(stored: &str, requested: &str) -> bool {
    normalized_eq(stored.as_bytes(), requested.as_bytes())
}

fn normalize(b: u8) -> u8 {
    if b.is_ascii_alphanumeric() {
        b.to_ascii_lowercase()
    } else {
        b'_'
    }
}

fn normalized_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| normalize(*x) == normalize(*y))
}

fn contains_normalized(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| normalized_eq(window, needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{DictionaryArray, StringViewArray};
    use datafusion::arrow::datatypes::{Field, Int32Type};
    use datafusion::common::config::ConfigOptions;

    fn run(json: ArrayRef, path: Vec<ScalarValue>) -> Vec<Option<String>> {
        let rows = json.len();
        let mut args = vec![ColumnarValue::Array(json.clone())];
        let mut arg_fields = vec![Arc::new(Field::new("j", json.data_type().clone(), true))];
        for p in path {
            arg_fields.push(Arc::new(Field::new("p", p.data_type(), true)));
            args.push(ColumnarValue::Scalar(p));
        }
        let out = TrailProp::default()
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: rows,
                return_field: Arc::new(Field::new("r", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap()
            .into_array(rows)
            .unwrap();
        let out = out.as_string::<i32>();
        (0..rows)
            .map(|i| out.is_valid(i).then(|| out.value(i).to_string()))
            .collect()
    }

    fn docs() -> Vec<Option<&'static str>> {
        vec![
            Some(r#"{"plan_level":"Pro","MRR":5000,"ok":true,"n":null,"a":{"b":[1,{"c":"x"}]}}"#),
            Some(r#"{"Plan_Level":"Free"}"#),
            Some(r#"{"Plan Level":"Team"}"#),
            Some(r#"{"other":1}"#),
            Some("not json"),
            None,
        ]
    }

    fn key(s: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(s.to_string()))
    }

    #[test]
    fn looks_up_on_every_string_encoding() {
        let expected = vec![
            Some("Pro".to_string()),
            Some("Free".to_string()),
            Some("Team".to_string()),
            None,
            None,
            None,
        ];
        let utf8: ArrayRef = Arc::new(StringArray::from(docs()));
        let view: ArrayRef = Arc::new(StringViewArray::from(docs()));
        let dict: ArrayRef = Arc::new(docs().into_iter().collect::<DictionaryArray<Int32Type>>());
        for array in [utf8, view, dict] {
            assert_eq!(run(array, vec![key("plan_level")]), expected);
        }
    }

    #[test]
    fn scalars_are_json_text() {
        let json: ArrayRef = Arc::new(StringArray::from(docs()));
        assert_eq!(
            run(json.clone(), vec![key("MRR")])[0].as_deref(),
            Some("5000")
        );
        assert_eq!(
            run(json.clone(), vec![key("ok")])[0].as_deref(),
            Some("true")
        );
        assert_eq!(run(json.clone(), vec![key("n")])[0], None);
        assert_eq!(
            run(json.clone(), vec![key("a"), key("b")])[0].as_deref(),
            Some("[1,{\"c\":\"x\"}]")
        );
        assert_eq!(
            run(
                json,
                vec![key("a"), key("b"), ScalarValue::Int64(Some(1)), key("c")]
            )[0]
            .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn lenient_lookup_prefers_exact_keys() {
        let both = r#"{"plan":"lower","PLAN":"upper"}"#;
        assert_eq!(
            lenient_lookup(both, &[Step::Key("PLAN".into())]).as_deref(),
            Some("upper")
        );
        assert_eq!(
            lenient_lookup("[1,2,3]", &[Step::Index(-1)]).as_deref(),
            Some("3")
        );
        assert_eq!(lenient_lookup("{}", &[Step::Key("x".into())]), None);
    }
}

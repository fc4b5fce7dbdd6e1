//! `events.user_id` through the user merges, without a join.
//!
//! Once users were merged, `events.user_id` is the survivor of the stored id
//! (`users.merged_into`, chains already resolved when stored). Mapping it
//! with the users join costs a hash probe and a copy of every projected
//! column of every event row — a second of CPU for the conversion-paths
//! query at 10M events. Only the ids merged away map to anything else, and
//! they are few (6,833 of 119,462 users in the 10M benchmark set), so when a
//! query needs no user property the events view evaluates
//! `trail_canonical_user_id(user_id)` on the stored column instead: a lookup
//! in the map of merged-away ids, done once per run of equal ids (files are
//! sorted by user id), the input column returned untouched when no row of a
//! batch was merged away.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{make_view, Array, AsArray, StringViewArray};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;

use crate::id_runs::{as_views, PerRun};
use crate::snapshot::Snapshot;

/// Stored user id → surviving user id, for every user merged into another.
#[derive(Debug, Default)]
pub(crate) struct MergedIds {
    survivors: HashMap<String, String>,
}

impl MergedIds {
    /// The merged-away ids of the stored users table.
    pub(crate) async fn load(users: &deltalake::DeltaTable) -> Result<Self> {
        let ctx = SessionContext::new();
        users.update_datafusion_session(&ctx.state())?;
        ctx.register_table("u", users.table_provider().await?)?;
        let batches = ctx
            .sql(
                "SELECT arrow_cast(user_id, 'Utf8'), arrow_cast(merged_into, 'Utf8') \
                 FROM u WHERE merged_into IS NOT NULL",
            )
            .await?
            .collect()
            .await?;
        let mut survivors = HashMap::new();
        for batch in &batches {
            let ids = batch.column(0).as_string::<i32>();
            let into = batch.column(1).as_string::<i32>();
            for (id, into) in ids.iter().zip(into.iter()) {
                if let (Some(id), Some(into)) = (id, into) {
                    survivors.insert(id.to_owned(), into.to_owned());
                }
            }
        }
        Ok(Self { survivors })
    }

    /// Whether any user was merged into another.
    pub(crate) fn is_empty(&self) -> bool {
        self.survivors.is_empty()
    }

    /// `trail_canonical_user_id(stored_id)` over these merges.
    pub(crate) fn udf(self: &Arc<Self>) -> ScalarUDF {
        ScalarUDF::new_from_impl(CanonicalUserId {
            merged: Snapshot(Arc::clone(self)),
            signature: Signature::one_of(
                [DataType::Utf8View, DataType::Utf8, DataType::LargeUtf8]
                    .into_iter()
                    .map(|t| TypeSignature::Exact(vec![t]))
                    .collect(),
                Volatility::Immutable,
            ),
        })
    }

    /// `id`'s survivor: itself unless it was merged away.
    fn survivor<'a>(&'a self, id: &'a str) -> &'a str {
        self.survivors.get(id).map_or(id, String::as_str)
    }

    /// `ids` mapped to their survivors: the stored ids' views are kept and
    /// only merged-away ids get new ones (most batches of the events scan
    /// hold one, so this runs for nearly every batch). `None` when none was
    /// merged away.
    fn map_views(&self, ids: &StringViewArray) -> Result<Option<StringViewArray>> {
        let views = ids.views();
        let mut runs = PerRun::new(ids);
        let mut out: Option<Vec<u128>> = None;
        let mut extra: Vec<u8> = Vec::new();
        let extra_block = u32::try_from(ids.data_buffers().len()).map_err(|_| {
            datafusion::common::DataFusionError::Internal("too many buffers".into())
        })?;
        for i in 0..views.len() {
            if ids.is_null(i) {
                continue;
            }
            let survivor = runs.get(i, |id| self.survivors.get(id).map(String::as_str));
            let Some(survivor) = survivor else {
                continue;
            };
            let out = out.get_or_insert_with(|| views.to_vec());
            let offset = u32::try_from(extra.len()).map_err(|_| {
                datafusion::common::DataFusionError::Internal("survivor ids over 4 GiB".into())
            })?;
            out[i] = make_view(survivor.as_bytes(), extra_block, offset);
            if survivor.len() > 12 {
                extra.extend_from_slice(survivor.as_bytes());
            }
        }
        let Some(out) = out else {
            return Ok(None);
        };
        let mut buffers = ids.data_buffers().to_vec();
        if !extra.is_empty() {
            buffers.push(Buffer::from_vec(extra));
        }
        let array = StringViewArray::try_new(out.into(), buffers, ids.nulls().cloned())?;
        Ok(Some(array))
    }
}

/// `trail_canonical_user_id(user_id)` → the surviving user id.
///
/// Internal: the events view puts it in place of the users join when a
/// query reads `user_id` but no user property. Example: with `anon_7`
/// merged into `u_7`, `trail_canonical_user_id('anon_7')` is `'u_7'` and
/// `trail_canonical_user_id('u_9')` is `'u_9'`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CanonicalUserId {
    merged: Snapshot<MergedIds>,
    signature: Signature,
}

impl ScalarUDFImpl for CanonicalUserId {
    fn name(&self) -> &str {
        "trail_canonical_user_id"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    /// The input's type and nullability: a stored id maps to an id.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let input = &args.arg_fields[0];
        Ok(Arc::new(Field::new(
            self.name(),
            input.data_type().clone(),
            input.is_nullable(),
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let merged = &self.merged;
        let ids = match &args.args[0] {
            ColumnarValue::Scalar(value) => {
                let survivor = match value {
                    ScalarValue::Utf8View(Some(id))
                    | ScalarValue::Utf8(Some(id))
                    | ScalarValue::LargeUtf8(Some(id)) => Some(merged.survivor(id).to_owned()),
                    _ => None,
                };
                return Ok(ColumnarValue::Scalar(match value {
                    ScalarValue::Utf8View(_) => ScalarValue::Utf8View(survivor),
                    ScalarValue::LargeUtf8(_) => ScalarValue::LargeUtf8(survivor),
                    _ => ScalarValue::Utf8(survivor),
                }));
            }
            ColumnarValue::Array(ids) => ids,
        };
        // Stored ids are read as views; other string types (say, with
        // view types turned off) go through views and back.
        let views = as_views(ids, "trail_canonical_user_id")?;
        Ok(ColumnarValue::Array(
            match merged.map_views(views.as_string_view())? {
                Some(mapped) => cast(&mapped, ids.data_type())?,
                None => Arc::clone(ids),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged() -> Arc<MergedIds> {
        let survivors = [
            ("anon_1", "u_1"),
            ("anon_2", "a user id longer than twelve"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        Arc::new(MergedIds { survivors })
    }

    #[tokio::test]
    async fn maps_merged_ids_keeps_the_rest_and_nulls() {
        let ctx = SessionContext::new();
        ctx.register_udf(merged().udf());
        for cast in ["Utf8", "Utf8View", "LargeUtf8"] {
            let sql = format!(
                "SELECT trail_canonical_user_id(arrow_cast(column1, '{cast}')) FROM (VALUES \
                 ('anon_1'), ('anon_1'), ('u_3'), (NULL), ('anon_2'), ('anon_1'), ('u_1'))"
            );
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let column =
                datafusion::arrow::compute::cast(batches[0].column(0), &DataType::Utf8).unwrap();
            let got: Vec<Option<&str>> = column.as_string::<i32>().iter().collect();
            assert_eq!(
                got,
                [
                    Some("u_1"),
                    Some("u_1"),
                    Some("u_3"),
                    None,
                    Some("a user id longer than twelve"),
                    Some("u_1"),
                    Some("u_1")
                ],
                "{cast}"
            );
            assert_eq!(batches[0].column(0).data_type().to_string(), cast);
        }
    }

    /// Views of long and short stored ids are kept; merged-away ids get
    /// inline views or views into one added buffer.
    #[test]
    fn views_of_kept_ids_stay_and_merged_ids_get_new_ones() {
        let merged = merged();
        let long_kept = "a stored id longer than twelve bytes";
        let ids = StringViewArray::from(vec![
            Some(long_kept),
            Some("anon_2"),
            None,
            Some("anon_1"),
            Some(long_kept),
            Some("anon_2"),
        ]);
        let mapped = merged
            .map_views(&ids)
            .unwrap()
            .expect("two ids merged away");
        let got: Vec<Option<&str>> = mapped.iter().collect();
        let long_survivor = Some("a user id longer than twelve");
        assert_eq!(
            got,
            [
                Some(long_kept),
                long_survivor,
                None,
                Some("u_1"),
                Some(long_kept),
                long_survivor
            ]
        );
        assert_eq!(
            mapped.views()[0],
            ids.views()[0],
            "a kept id keeps its view"
        );
        assert_eq!(mapped.data_buffers().len(), ids.data_buffers().len() + 1);
        let unmerged = StringViewArray::from(vec![Some(long_kept), None, Some("u_9")]);
        assert!(merged.map_views(&unmerged).unwrap().is_none());
    }

    #[test]
    fn a_batch_without_merged_ids_is_returned_as_is() {
        let ids = StringViewArray::from(vec![Some("u_1"), None, Some("u_2")]);
        let merged = merged();
        assert!(merged.map_views(&ids).unwrap().is_none());
        let ids = StringViewArray::from(vec![Some("u_1"), Some("u_1"), Some("anon_1")]);
        let mapped = merged
            .map_views(&ids)
            .unwrap()
            .expect("anon_1 was merged away");
        let mapped: Vec<Option<&str>> = mapped.iter().collect();
        assert_eq!(mapped, [Some("u_1"), Some("u_1"), Some("u_1")]);
    }
}

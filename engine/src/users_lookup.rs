//! User properties on event rows without a hash join.
//!
//! A query reading `user_properties` needs, on each event row, columns of
//! the event's (surviving) user. As a join, every event row is hashed and
//! probed against the users — 375 ms of CPU for the 3.4M feature events of
//! the documented feature-adoption query at 10M events. The events view
//! instead evaluates the users side once when the query is planned (one row
//! per stored user id: [`UserRows`]) and reads it on the event rows with
//! two functions:
//!
//! - `trail_user_row(user_id)` → the row of that id (`UInt32`, NULL if no
//!   user has it), looked up once per run of equal ids. Event files are
//!   sorted by user id, so a batch's ids ascend: each is searched in the
//!   users' ids (kept in byte order, [`SortedIds`]) forward from where the
//!   previous one was found, a few comparisons of neighbouring ids instead
//!   of a hash probe into memory all over a table of every user;
//! - `trail_user_column(row)` → one column of the users side at those rows
//!   (an Arrow `take`), one function instance per column;
//! - `trail_user_key(row)` → the surviving user of that row as a number
//!   (`UInt32`): equal for ids merged into one user, different between
//!   users, so `COUNT(DISTINCT user_id)` can count numbers
//!   ([`crate::distinct_user`]).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use crate::id_runs::{as_views, PerRun};
use crate::snapshot::Snapshot;

/// The users side of one query: its rows, and each stored user id's row.
#[derive(Debug)]
pub(crate) struct UserRows {
    rows: RecordBatch,
    /// Each stored user id's row.
    by_id: SortedIds,
    /// What each column is, by name, for plan displays: a column reads as
    /// `trail_user_column[<its expression>](row)` in EXPLAIN.
    described: HashMap<String, String>,
    /// Each row's surviving user, numbered densely (when asked for).
    keys: Vec<u32>,
}

impl UserRows {
    /// Runs `plan` (one row per stored user id; the id in column
    /// `id_column`, the surviving user's id in `__canonical` where the plan
    /// has it). `described` says what its columns are, by name; `keyed`:
    /// number the surviving users for [`Self::key`].
    pub(crate) async fn load(
        state: &dyn Session,
        plan: &LogicalPlan,
        id_column: &str,
        described: HashMap<String, String>,
        keyed: bool,
    ) -> Result<Arc<Self>> {
        let physical = state.create_physical_plan(plan).await?;
        let schema = physical.schema();
        let batches = datafusion::physical_plan::collect(physical, state.task_ctx()).await?;
        let rows = concat_batches(&schema, &batches)?;
        let ids = cast(
            rows.column_by_name(id_column).ok_or_else(|| {
                datafusion::common::DataFusionError::Internal(format!("no {id_column} column"))
            })?,
            &DataType::Utf8,
        )?;
        let by_id = SortedIds::new(ids.as_string::<i32>())?;
        let keys = if keyed {
            let survivors = rows
                .column_by_name("__canonical")
                .map(|canonical| cast(canonical, &DataType::Utf8))
                .transpose()?;
            survivor_keys(
                ids.as_string::<i32>(),
                survivors.as_ref().map(|s| s.as_string::<i32>()),
            )
        } else {
            Vec::new()
        };
        Ok(Arc::new(Self {
            rows,
            by_id,
            described,
            keys,
        }))
    }

    /// No users, with the columns of `schema`: what a plan needs to know
    /// the types of the user columns before any query runs.
    pub(crate) fn empty(schema: datafusion::arrow::datatypes::SchemaRef) -> Arc<Self> {
        Arc::new(Self {
            rows: RecordBatch::new_empty(schema),
            by_id: SortedIds {
                ids: StringArray::from(Vec::<&str>::new()),
                rows: Vec::new(),
            },
            described: HashMap::new(),
            keys: Vec::new(),
        })
    }

    /// `trail_user_row(user_id)` over these users.
    pub(crate) fn row_udf(self: &Arc<Self>) -> ScalarUDF {
        ScalarUDF::new_from_impl(UserRow {
            users: Snapshot(Arc::clone(self)),
            signature: Signature::any(1, Volatility::Immutable),
        })
    }

    /// `trail_user_column(row)` reading column `name` of these users, or
    /// `None` if the users side has no such column.
    pub(crate) fn column(self: &Arc<Self>, name: &str, row: Expr) -> Option<Expr> {
        let index = self.rows.schema().index_of(name).ok()?;
        let what = self.described.get(name).map_or(name, String::as_str);
        Some(
            ScalarUDF::new_from_impl(UserColumn {
                users: Snapshot(Arc::clone(self)),
                index,
                name: format!("trail_user_column[{what}]"),
                signature: Signature::exact(vec![DataType::UInt32], Volatility::Immutable),
            })
            .call(vec![row]),
        )
    }

    /// `trail_user_key(row)`: the surviving user at `row` as a number. The
    /// rows must have been loaded `keyed`.
    pub(crate) fn key(self: &Arc<Self>, row: Expr) -> Expr {
        ScalarUDF::new_from_impl(UserKey {
            users: Snapshot(Arc::clone(self)),
            signature: Signature::exact(vec![DataType::UInt32], Volatility::Immutable),
        })
        .call(vec![row])
    }

    /// The rows of `ids`, each id looked up once per run of equal ids.
    fn rows_of(&self, ids: &ArrayRef) -> Result<UInt32Array> {
        let views = as_views(ids, "trail_user_row")?;
        let ids = views.as_string_view();
        let mut runs = PerRun::new(ids);
        let mut from = 0;
        let rows = (0..ids.len()).map(|i| {
            if ids.is_null(i) {
                return None;
            }
            runs.get(i, |id| self.by_id.find(id, &mut from))
        });
        Ok(rows.collect())
    }
}

/// Each row's surviving user (`survivors`, where not NULL; else the row's
/// own id) numbered densely in order of first appearance.
fn survivor_keys(ids: &StringArray, survivors: Option<&StringArray>) -> Vec<u32> {
    let mut numbers: hashbrown::HashMap<&str, u32> = hashbrown::HashMap::new();
    (0..ids.len())
        .map(|row| {
            let survivor = survivors
                .filter(|s| s.is_valid(row))
                .map_or_else(|| ids.value(row), |s| s.value(row));
            let next = numbers.len() as u32;
            *numbers.entry(survivor).or_insert(next)
        })
        .collect()
}

/// Ids in byte order with the row of each, searched forward from the last
/// find: for ascending ids each search looks at a few neighbours of the
/// previous one (exponential steps, then bisection), in memory read in
/// order; an id below the previous one is bisected from the start.
#[derive(Debug)]
struct SortedIds {
    ids: StringArray,
    rows: Vec<u32>,
}

impl SortedIds {
    /// `ids[row]` is the id at `row` (NULL: no id there).
    fn new(ids: &StringArray) -> Result<Self> {
        let mut pairs = Vec::with_capacity(ids.len());
        for (row, id) in ids.iter().enumerate() {
            if let Some(id) = id {
                let row = u32::try_from(row).map_err(|_| {
                    datafusion::common::DataFusionError::Execution(
                        "over 2^32 users in one query".into(),
                    )
                })?;
                pairs.push((id, row));
            }
        }
        pairs.sort_unstable();
        Ok(Self {
            ids: pairs.iter().map(|(id, _)| Some(*id)).collect(),
            rows: pairs.iter().map(|(_, row)| *row).collect(),
        })
    }

    /// The row of `id`, if any. `from` is where the previous search ended;
    /// it is left where this one ended.
    fn find(&self, id: &str, from: &mut usize) -> Option<u32> {
        let n = self.ids.len();
        let below = |k: usize| self.ids.value(k) < id;
        // The first position whose id is not below `id`, in lo..=hi.
        let (mut lo, mut hi) = if *from < n && below(*from) {
            let mut lo = *from + 1;
            let mut step = 1;
            while lo + step < n && below(lo + step) {
                lo += step + 1;
                step *= 2;
            }
            (lo, (lo + step).min(n))
        } else if *from < n && (*from == 0 || below(*from - 1)) {
            (*from, *from)
        } else {
            (0, (*from).min(n))
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        *from = lo;
        (lo < n && self.ids.value(lo) == id).then(|| self.rows[lo])
    }
}

/// `trail_user_row(user_id) → UInt32`: the users side's row of a stored
/// user id, NULL if there is none. Internal to the events view.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UserRow {
    users: Snapshot<UserRows>,
    signature: Signature,
}

/// `trail_user_column(row) → T`: one column of the users side at `row`
/// (NULL at a NULL row). Internal to the events view.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UserColumn {
    users: Snapshot<UserRows>,
    index: usize,
    /// `trail_user_column[<what the column is>]`.
    name: String,
    signature: Signature,
}

/// `trail_user_key(row) → UInt32`: the surviving user at `row` as a
/// number. Internal to the events view: it stands for the event's
/// `user_id` in a distinct count, so an event without a stored user (which
/// the import never writes) is an error, not a NULL the count would skip.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UserKey {
    users: Snapshot<UserRows>,
    signature: Signature,
}

impl ScalarUDFImpl for UserKey {
    fn name(&self) -> &str {
        "trail_user_key"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.args[0].to_array(args.number_rows)?;
        let rows = rows.as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
        let keys = &self.users.keys;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            match row.and_then(|r| keys.get(r as usize)) {
                Some(key) => out.push(*key),
                None => {
                    return datafusion::common::exec_err!(
                        "an event's user_id has no row in the users table; \
                         the users table does not match the events"
                    )
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(UInt32Array::from(out))))
    }
}

impl ScalarUDFImpl for UserRow {
    fn name(&self) -> &str {
        "trail_user_row"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ids = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(self.users.rows_of(&ids)?)))
    }
}

impl ScalarUDFImpl for UserColumn {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self
            .users
            .rows
            .schema()
            .field(self.index)
            .data_type()
            .clone())
    }

    /// Nullable: an event whose user is not stored reads NULL.
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = self.users.rows.schema().field(self.index).clone();
        Ok(Arc::new(
            Field::new(self.name(), field.data_type().clone(), true)
                .with_metadata(field.metadata().clone()),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let column = self.users.rows.column(self.index);
        match &args.args[0] {
            ColumnarValue::Array(rows) => Ok(ColumnarValue::Array(take(
                column,
                rows.as_primitive::<datafusion::arrow::datatypes::UInt32Type>(),
                None,
            )?)),
            ColumnarValue::Scalar(ScalarValue::UInt32(Some(row))) => Ok(ColumnarValue::Scalar(
                ScalarValue::try_from_array(column, *row as usize)?,
            )),
            ColumnarValue::Scalar(_) => Ok(ColumnarValue::Scalar(ScalarValue::try_from(
                column.data_type(),
            )?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// Every search order (ascending as in event files, descending,
    /// scattered, repeats, ids absent, below the first and above the last)
    /// finds what a hash map of the same ids finds.
    #[test]
    fn sorted_ids_find_what_a_map_finds() {
        let stored: Vec<Option<String>> = (0..500)
            .map(|i| (i % 7 != 3).then(|| format!("u{}", i * 2)))
            .collect();
        let map: std::collections::HashMap<&str, u32> = stored
            .iter()
            .enumerate()
            .filter_map(|(row, id)| Some((id.as_deref()?, row as u32)))
            .collect();
        let sorted = SortedIds::new(&StringArray::from(stored.clone())).unwrap();
        let mut ascending: Vec<String> = (0..1100).map(|i| format!("u{i}")).collect();
        ascending.sort();
        let mut queries = vec![String::new(), "a".into(), "zz".into(), "u".into()];
        queries.extend(ascending.iter().cloned());
        queries.extend(ascending.iter().rev().cloned());
        let mut x = 12345u64;
        for _ in 0..3000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = &ascending[(x >> 33) as usize % ascending.len()];
            queries.push(id.clone());
            if x.is_multiple_of(5) {
                queries.push(id.clone());
            }
        }
        let mut from = 0;
        for id in &queries {
            assert_eq!(
                sorted.find(id, &mut from),
                map.get(id.as_str()).copied(),
                "{id}"
            );
        }
    }

    /// Ids merged into one survivor share its key, the survivor's own row
    /// included; every other user has a key of its own; and an event row
    /// without a user is an error, not a NULL a distinct count would skip.
    #[tokio::test]
    async fn keys_are_one_number_per_surviving_user() {
        let ctx = SessionContext::new();
        let users = ctx
            .sql(
                "SELECT * FROM (VALUES ('u3', 'u1'), ('u1', 'u1'), ('u2', NULL), ('u5', 'u1'), \
                 ('u4', 'u4')) AS u(__uid, __canonical)",
            )
            .await
            .unwrap()
            .into_unoptimized_plan();
        let rows = UserRows::load(&ctx.state(), &users, "__uid", HashMap::new(), true)
            .await
            .unwrap();
        assert_eq!(rows.keys, [0, 0, 1, 0, 2]);
        ctx.register_udf(rows.row_udf());
        let keys = |ids: &str| {
            let ctx = ctx.clone();
            let key = rows.key(datafusion::prelude::col("r")).alias("k");
            let sql = format!("SELECT trail_user_row(column1) AS r FROM (VALUES {ids})");
            async move {
                let batches = ctx.sql(&sql).await?.select(vec![key])?.collect().await?;
                let keys: Vec<u32> = batches
                    .iter()
                    .flat_map(|b| {
                        b.column(0)
                            .as_primitive::<datafusion::arrow::datatypes::UInt32Type>()
                            .values()
                            .to_vec()
                    })
                    .collect();
                Ok::<_, datafusion::error::DataFusionError>(keys)
            }
        };
        assert_eq!(
            keys("('u5'), ('u1'), ('u4'), ('u3'), ('u2')")
                .await
                .unwrap(),
            [0, 0, 2, 0, 1]
        );
        let missing = keys("('u1'), ('nobody')").await.unwrap_err().to_string();
        assert!(
            missing.contains("has no row in the users table"),
            "{missing}"
        );
    }

    #[tokio::test]
    async fn reads_each_event_users_columns_by_id() {
        let ctx = SessionContext::new();
        let users = ctx
            .sql(
                "SELECT * FROM (VALUES ('u_1', 'pro', 3), ('a user id longer than twelve', 'free', NULL), \
                 ('twelve bytes', 'team', 12), ('thirteen byte', 'solo', 13)) \
                 AS u(__uid, plan, n)",
            )
            .await
            .unwrap()
            .into_unoptimized_plan();
        let described = [("plan".to_string(), "the plan".to_string())].into();
        let rows = UserRows::load(&ctx.state(), &users, "__uid", described, false)
            .await
            .unwrap();
        ctx.register_udf(rows.row_udf());
        let row = datafusion::prelude::col("r");
        let plan = rows.column("plan", row.clone()).unwrap();
        assert_eq!(
            plan.schema_name().to_string(),
            "trail_user_column[the plan](r)"
        );
        let plan = plan.alias("plan");
        let n = rows.column("n", row).unwrap().alias("n");
        assert!(rows
            .column("missing", datafusion::prelude::col("r"))
            .is_none());
        for cast in ["Utf8", "Utf8View", "LargeUtf8"] {
            let df = ctx
                .sql(&format!(
                    "SELECT trail_user_row(arrow_cast(column1, '{cast}')) AS r FROM (VALUES \
                     ('u_1'), ('u_1'), (NULL), ('a user id longer than twelve'), ('nobody'), ('u_1'), \
                     ('twelve bytes'), ('thirteen byte'), ('twelve byte'), ('thirteen bytes'))"
                ))
                .await
                .unwrap()
                .select(vec![plan.clone(), n.clone()])
                .unwrap();
            let batches = df.collect().await.unwrap();
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string();
            let expected = "\
+------+----+
| plan | n  |
+------+----+
| pro  | 3  |
| pro  | 3  |
|      |    |
| free |    |
|      |    |
| pro  | 3  |
| team | 12 |
| solo | 13 |
|      |    |
|      |    |
+------+----+";
            assert_eq!(text, expected, "{cast}");
        }
    }
}

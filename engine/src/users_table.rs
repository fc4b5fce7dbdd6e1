//! The stored users table: [`UserRecord`]s to batches and back.
//!
//! Stored columns: `user_id, identity, joindate, last_seen, merged_into,
//! merged_at, last_session_id, last_event_time`, the promoted user properties
//! (`up__<key>`, chosen afresh from all users at every write) and
//! `user_properties_rest`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::event_batch::timestamp_type;
use crate::identity::{UserRecord, Users};
use crate::layout::{PropertyLayout, USER_PREFIX};
use crate::properties::Properties;

/// The residual JSON column of user properties.
pub(crate) const USER_REST: &str = "user_properties_rest";

/// The users as one batch (its schema carries the chosen property layout).
pub(crate) fn users_batch(users: &Users) -> Result<RecordBatch> {
    let mut records: Vec<&UserRecord> = users.records().collect();
    records.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    // A merged user points at the final survivor, so one lookup maps any old id.
    let survivors: Vec<Option<String>> = records
        .iter()
        .map(|r| r.merged_into.as_ref().map(|_| users.canonical(&r.user_id)))
        .collect();
    let layout = PropertyLayout::choose(
        USER_PREFIX,
        records
            .iter()
            .filter(|r| r.merged_into.is_none())
            .map(|r| r.properties.to_map()),
    );
    let n = records.len();
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("identity", DataType::Utf8, true),
        Field::new("joindate", timestamp_type(), true),
        Field::new("last_seen", timestamp_type(), true),
        Field::new("merged_into", DataType::Utf8, true),
        Field::new("merged_at", timestamp_type(), true),
        Field::new("last_session_id", DataType::Utf8, true),
        Field::new("last_event_time", timestamp_type(), true),
    ];
    fields.extend(layout.fields());
    fields.push(Field::new(USER_REST, DataType::Utf8, true));

    let strings = |f: fn(&UserRecord) -> Option<&str>| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 12);
        records.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let times = |f: fn(&UserRecord) -> Option<i64>| -> ArrayRef {
        let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        records.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let mut columns = vec![
        strings(|r| Some(&r.user_id)),
        strings(|r| r.identity.as_deref()),
        times(|r| r.joindate),
        times(|r| r.last_seen),
        {
            let mut b = StringBuilder::with_capacity(n, n * 12);
            survivors.iter().for_each(|s| b.append_option(s.as_deref()));
            Arc::new(b.finish())
        },
        times(|r| r.merged_at),
        strings(|r| r.last_session_id.as_deref()),
        times(|r| r.last_event_time),
    ];
    let mut props = layout.builders(n);
    // From the text: the layout above parsed each object already.
    records
        .iter()
        .for_each(|r| props.append_sorted(&r.properties.sorted_fields()));
    let (promoted, rest) = props.finish();
    columns.extend(promoted);
    columns.push(rest);
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Reads every stored user back (merged users included).
pub(crate) async fn read_users(table: &deltalake::DeltaTable) -> Result<Users> {
    let provider = table.table_provider().await?;
    let layout = PropertyLayout::from_schema(USER_PREFIX, &provider.schema());
    let ctx = SessionContext::new();
    table.update_datafusion_session(&ctx.state())?;
    ctx.register_udf(crate::json_object::JsonObject::udf());
    ctx.register_table("stored_users", provider)?;
    let props = crate::catalog::json_object_sql("", USER_REST, &layout);
    let batches = ctx
        .sql(&format!(
            "SELECT user_id, identity, joindate, last_seen, merged_into, merged_at, \
             last_session_id, last_event_time, {props} AS properties FROM stored_users"
        ))
        .await?
        .collect()
        .await?;
    let mut records = Vec::new();
    for batch in batches {
        let col = |i: usize, dt: &DataType| cast(batch.column(i), dt);
        let utf8: Vec<ArrayRef> = [0, 1, 4, 6, 8]
            .iter()
            .map(|i| col(*i, &DataType::Utf8))
            .collect::<Result<_, _>>()?;
        let ts: Vec<ArrayRef> = [2, 3, 5, 7]
            .iter()
            .map(|i| col(*i, &timestamp_type()))
            .collect::<Result<_, _>>()?;
        let s = |a: usize, row: usize| {
            let a = utf8[a].as_string::<i32>();
            a.is_valid(row).then(|| a.value(row).to_string())
        };
        let t = |a: usize, row: usize| {
            let a = ts[a].as_primitive::<TimestampMicrosecondType>();
            a.is_valid(row).then(|| a.value(row))
        };
        for row in 0..batch.num_rows() {
            // `json_object` writes a valid object; `{}` is kept as empty.
            let properties = s(4, row)
                .filter(|j| j != "{}")
                .map(|j| Properties::from_object_text(&j))
                .unwrap_or_default();
            records.push(UserRecord {
                user_id: s(0, row).unwrap_or_default(),
                identity: s(1, row),
                joindate: t(0, row),
                last_seen: t(1, row),
                merged_into: s(2, row),
                merged_at: t(2, row),
                last_session_id: s(3, row),
                last_event_time: t(3, row),
                properties,
            });
        }
    }
    Ok(Users::from_records(records))
}

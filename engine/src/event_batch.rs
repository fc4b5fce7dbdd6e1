//! The stored events table: its schema and the order of its files
//! (batches are gathered by [`crate::track_columns::build_date_batch`]).
//!
//! Stored columns, in order: `event_id, session_id, user_id, time, event_type`,
//! the promoted event properties (`ep__<key>`), `event_properties_rest`, the
//! page/device/location columns, and the partition column `event_date`.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::layout::PropertyLayout;
use crate::store::PARTITION_COLUMN;

/// The page, device and location columns, in table order.
pub(crate) const CONTEXT_COLUMNS: [&str; 9] = [
    "page_url",
    "page_title",
    "referrer",
    "device_type",
    "browser",
    "platform",
    "country",
    "region",
    "city",
];

/// The residual JSON column of event properties.
pub(crate) const EVENT_REST: &str = "event_properties_rest";

/// Timestamps are microseconds in UTC everywhere.
pub(crate) fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The stored schema for a given property layout.
pub(crate) fn stored_schema(layout: &PropertyLayout) -> SchemaRef {
    let mut fields = vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("session_id", DataType::Utf8, true),
        Field::new("user_id", DataType::Utf8, false),
        Field::new("time", timestamp_type(), false),
        Field::new("event_type", DataType::Utf8, false),
    ];
    fields.extend(layout.fields());
    fields.push(Field::new(EVENT_REST, DataType::Utf8, true));
    fields.extend(
        CONTEXT_COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true)),
    );
    fields.push(Field::new(PARTITION_COLUMN, DataType::Date32, false));
    Arc::new(Schema::new(fields))
}

/// Concatenates one partition's batches and sorts them by
/// `(user_id, time, event_id)`: the order every stored file keeps, which makes
/// per-user scans and funnels read runs instead of scattered rows.
///
/// The users are ranked once (a file holds far fewer users than rows), so
/// the sort compares integers and reaches the event id's text only on a tie
/// of user and time; a lexicographic sort over the string columns compared
/// user ids on every step.
pub(crate) fn sort_for_file(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> datafusion::error::Result<RecordBatch> {
    use datafusion::arrow::array::{Array, AsArray, UInt32Array};
    use datafusion::arrow::compute::{concat_batches, take_record_batch};
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    // A date seen in one chunk only has one batch: no copy to concatenate it.
    let batch = match batches {
        [one] => one.clone(),
        _ => concat_batches(schema, batches)?,
    };
    let column = |name: &str| -> datafusion::error::Result<&ArrayRef> {
        Ok(batch.column(schema.index_of(name)?))
    };
    // All three are non-null columns of the stored schema.
    let users = column("user_id")?.as_string::<i32>();
    let times = column("time")?.as_primitive::<TimestampMicrosecondType>();
    let event_ids = column("event_id")?.as_string::<i32>();
    debug_assert_eq!(users.null_count() + event_ids.null_count(), 0);

    let mut rank_of: hashbrown::HashMap<&str, u32> = hashbrown::HashMap::new();
    let user_of_row: Vec<u32> = users
        .iter()
        .map(|u| {
            let next = rank_of.len() as u32;
            *rank_of.entry(u.unwrap_or_default()).or_insert(next)
        })
        .collect();
    let mut by_name: Vec<(&str, u32)> = rank_of.into_iter().collect();
    by_name.sort_unstable();
    let mut rank = vec![0u32; by_name.len()];
    for (sorted, (_, first_seen)) in by_name.iter().enumerate() {
        rank[*first_seen as usize] = sorted as u32;
    }

    let mut keys: Vec<(u32, i64, u32)> = (0..batch.num_rows())
        .map(|row| {
            (
                rank[user_of_row[row] as usize],
                times.value(row),
                row as u32,
            )
        })
        .collect();
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| {
            event_ids
                .value(a.2 as usize)
                .cmp(event_ids.value(b.2 as usize))
        })
    });
    let indices = UInt32Array::from_iter_values(keys.into_iter().map(|(_, _, row)| row));
    Ok(take_record_batch(&batch, &indices)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array, StringArray, TimestampMicrosecondArray};

    /// The order is `(user_id, time, event_id)` by bytes, across batches,
    /// whatever order the users first appear in.
    #[test]
    fn sorts_by_user_time_and_event_id() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("user_id", DataType::Utf8, false),
            Field::new("time", timestamp_type(), false),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = |ids: &[&str], users: &[&str], times: &[i64], n: &[i64]| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids.to_vec())),
                    Arc::new(StringArray::from(users.to_vec())),
                    Arc::new(TimestampMicrosecondArray::from(times.to_vec()).with_timezone("UTC")),
                    Arc::new(Int64Array::from(n.to_vec())),
                ],
            )
            .unwrap()
        };
        let sorted = sort_for_file(
            &schema,
            &[
                batch(
                    &["e2", "e1", "e9"],
                    &["zed", "b", "zed"],
                    &[5, 7, 5],
                    &[0, 1, 2],
                ),
                batch(
                    &["e0", "e5", "e3"],
                    &["b", "a", "b"],
                    &[7, 9, 3],
                    &[3, 4, 5],
                ),
            ],
        )
        .unwrap();
        let n: Vec<i64> = sorted
            .column(3)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .values()
            .to_vec();
        // a@9; b@3, b@7 e0, b@7 e1; zed@5 e2, zed@5 e9
        assert_eq!(n, vec![4, 5, 3, 1, 0, 2]);
    }
}

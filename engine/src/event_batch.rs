//! The stored events table's schema (its files' batches are built, in
//! their sorted order, by [`crate::track_columns::build_file_batch`]).
//!
//! Stored columns, in order: `event_id, session_id, user_id, time, event_type`,
//! the promoted event properties (`ep__<key>`), `event_properties_rest`, the
//! page/device/location columns, and the partition column `event_date`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

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

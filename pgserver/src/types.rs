//! Arrow ⇄ PostgreSQL: type OIDs for RowDescription, DataRow encoding in
//! text and binary formats, and decoding of bound parameters.
//!
//! Every column is first cast to one canonical Arrow type per PostgreSQL type
//! (all strings to `Utf8`, all timestamps to microseconds, dictionaries
//! unpacked, …), so the per-value encoder only knows a dozen array types.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, ListArray, StringArray,
    Time64MicrosecondArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions as ArrowFormat};
use datafusion::common::ScalarValue;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyEncoder, DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::CopyData;
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::{FromSql, ToSql};
use rust_decimal::Decimal;

use crate::error::{sqlstate, user_error};

/// Field metadata key that forces a PostgreSQL type: `json`, `oid`, `name`, `char`.
pub const PG_TYPE_METADATA: &str = "pg_type";

/// Column names the engine stores as JSON text.
const JSON_COLUMNS: &[&str] = &["event_properties", "user_properties"];

/// The PostgreSQL type a column is sent as.
pub(crate) fn pg_type(field: &Field) -> Type {
    if let Some(forced) = field.metadata().get(PG_TYPE_METADATA) {
        match forced.as_str() {
            "json" => return Type::JSON,
            "oid" => return Type::OID,
            "name" => return Type::NAME,
            "char" => return Type::CHAR,
            "regproc" => return Type::REGPROC,
            _ => {}
        }
    }
    let is_json_name = JSON_COLUMNS.contains(&field.name().as_str())
        || field
            .metadata()
            .get("ARROW:extension:name")
            .map(String::as_str)
            == Some("arrow.json");
    let base = pg_type_of(field.data_type());
    if is_json_name {
        match base {
            Type::TEXT => return Type::JSON,
            Type::TEXT_ARRAY => return Type::JSON_ARRAY,
            _ => {}
        }
    }
    base
}

/// The PostgreSQL type for an Arrow type (no field context).
pub(crate) fn pg_type_of(dt: &DataType) -> Type {
    match dt {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        // All times are UTC instants (design: "stored and shown in UTC").
        DataType::Timestamp(_, _) => Type::TIMESTAMPTZ,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Dictionary(_, value) => pg_type_of(value),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => match pg_type_of(f.data_type()) {
            Type::BOOL => Type::BOOL_ARRAY,
            Type::INT2 => Type::INT2_ARRAY,
            Type::INT4 => Type::INT4_ARRAY,
            Type::INT8 => Type::INT8_ARRAY,
            Type::FLOAT4 => Type::FLOAT4_ARRAY,
            Type::FLOAT8 => Type::FLOAT8_ARRAY,
            Type::NUMERIC => Type::NUMERIC_ARRAY,
            Type::TEXT => Type::TEXT_ARRAY,
            Type::DATE => Type::DATE_ARRAY,
            Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
            Type::BYTEA => Type::BYTEA_ARRAY,
            _ => Type::TEXT,
        },
        _ => Type::TEXT,
    }
}

/// The canonical Arrow type a column of PostgreSQL type `ty` is cast to.
fn canonical(ty: &Type, dt: &DataType) -> Option<DataType> {
    Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 | Type::OID | Type::REGPROC => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::NUMERIC => match dt {
            DataType::Decimal128(p, s) => DataType::Decimal128(*p, *s),
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => DataType::Decimal128(*p, *s),
            _ => return None,
        },
        Type::TEXT | Type::JSON | Type::NAME | Type::CHAR => DataType::Utf8,
        Type::BYTEA => DataType::Binary,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMPTZ => {
            let tz = match dt {
                DataType::Timestamp(_, tz) => tz.clone(),
                _ => None,
            };
            DataType::Timestamp(TimeUnit::Microsecond, tz)
        }
        Type::TIME => DataType::Time64(TimeUnit::Microsecond),
        _ => {
            let element = array_element(ty)?;
            let child = match dt {
                DataType::List(f)
                | DataType::LargeList(f)
                | DataType::ListView(f)
                | DataType::LargeListView(f)
                | DataType::FixedSizeList(f, _) => f.data_type().clone(),
                _ => return None,
            };
            let child = canonical(&element, &child)?;
            DataType::List(Arc::new(Field::new("item", child, true)))
        }
    })
}

fn array_element(ty: &Type) -> Option<Type> {
    Some(match *ty {
        Type::BOOL_ARRAY => Type::BOOL,
        Type::INT2_ARRAY => Type::INT2,
        Type::INT4_ARRAY => Type::INT4,
        Type::INT8_ARRAY => Type::INT8,
        Type::FLOAT4_ARRAY => Type::FLOAT4,
        Type::FLOAT8_ARRAY => Type::FLOAT8,
        Type::NUMERIC_ARRAY => Type::NUMERIC,
        Type::TEXT_ARRAY => Type::TEXT,
        Type::JSON_ARRAY => Type::JSON,
        Type::DATE_ARRAY => Type::DATE,
        Type::TIMESTAMPTZ_ARRAY => Type::TIMESTAMPTZ,
        Type::BYTEA_ARRAY => Type::BYTEA,
        _ => return None,
    })
}

/// `pg_type.typlen` for RowDescription.
fn type_size(ty: &Type) -> i16 {
    match *ty {
        Type::BOOL | Type::CHAR => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE | Type::OID | Type::REGPROC => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMPTZ | Type::TIMESTAMP | Type::TIME => 8,
        Type::NAME => 64,
        _ => -1,
    }
}

/// Where a result column comes from: table OID and attribute number.
pub(crate) type Origin = Option<(i32, i16)>;

/// RowDescription fields for `fields` with result formats `format`.
pub(crate) fn field_infos(
    fields: &[Arc<Field>],
    origins: &[Origin],
    format: Option<&Format>,
) -> Vec<FieldInfo> {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ty = pg_type(f);
            let fmt = format.map(|f| f.format_for(i)).unwrap_or(FieldFormat::Text);
            let (table, column) = match origins.get(i).copied().flatten() {
                Some((t, c)) => (Some(t), Some(c)),
                None => (None, None),
            };
            let size = type_size(&ty);
            FieldInfo::new(f.name().clone(), table, column, ty, fmt).with_type_size(size)
        })
        .collect()
}

/// One column, cast to its canonical type, ready to encode value by value.
enum Column {
    Bool(BooleanArray),
    I16(Int16Array),
    I32(Int32Array),
    I64(Int64Array),
    Oid(Int64Array),
    F32(Float32Array),
    F64(Float64Array),
    Decimal(Decimal128Array, u32),
    Str(StringArray),
    Bytes(BinaryArray),
    Date(Date32Array),
    Timestamp(TimestampMicrosecondArray),
    Time(Time64MicrosecondArray),
    List(ListArray),
    /// Anything else, already rendered as text.
    Text(Vec<Option<String>>),
}

fn cast(array: &ArrayRef, to: &DataType) -> PgWireResult<ArrayRef> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    cast_with_options(array, to, &CastOptions::default()).map_err(|e| {
        user_error(
            sqlstate::DATA_EXCEPTION,
            format!("cannot encode column: {e}"),
        )
    })
}

fn render_text(array: &ArrayRef) -> PgWireResult<Vec<Option<String>>> {
    let opts = ArrowFormat::default();
    let formatter = ArrayFormatter::try_new(array.as_ref(), &opts)
        .map_err(|e| user_error(sqlstate::DATA_EXCEPTION, e.to_string()))?;
    Ok((0..array.len())
        .map(|i| array.is_valid(i).then(|| formatter.value(i).to_string()))
        .collect())
}

fn prepare(array: &ArrayRef, ty: &Type) -> PgWireResult<Column> {
    let Some(target) = canonical(ty, array.data_type()) else {
        return Ok(Column::Text(render_text(array)?));
    };
    let a = cast(array, &target)?;
    Ok(match (ty, a.data_type()) {
        (&Type::OID, _) | (&Type::REGPROC, _) => Column::Oid(a.as_primitive().clone()),
        (_, DataType::Boolean) => Column::Bool(a.as_boolean().clone()),
        (_, DataType::Int16) => Column::I16(a.as_primitive().clone()),
        (_, DataType::Int32) => Column::I32(a.as_primitive().clone()),
        (_, DataType::Int64) => Column::I64(a.as_primitive().clone()),
        (_, DataType::Float32) => Column::F32(a.as_primitive().clone()),
        (_, DataType::Float64) => Column::F64(a.as_primitive().clone()),
        (_, DataType::Decimal128(_, s)) => {
            let scale = (*s).max(0) as u32;
            Column::Decimal(a.as_primitive().clone(), scale)
        }
        (_, DataType::Utf8) => Column::Str(a.as_string::<i32>().clone()),
        (_, DataType::Binary) => Column::Bytes(a.as_binary::<i32>().clone()),
        (_, DataType::Date32) => Column::Date(a.as_primitive().clone()),
        (_, DataType::Timestamp(_, _)) => Column::Timestamp(a.as_primitive().clone()),
        (_, DataType::Time64(_)) => Column::Time(a.as_primitive().clone()),
        (_, DataType::List(_)) => Column::List(a.as_list::<i32>().clone()),
        _ => Column::Text(render_text(&a)?),
    })
}

fn date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + 719_163).unwrap_or_default()
}

fn timestamp(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn time(micros: i64) -> NaiveTime {
    NaiveTime::from_num_seconds_from_midnight_opt(
        (micros / 1_000_000) as u32,
        ((micros % 1_000_000) * 1000) as u32,
    )
    .unwrap_or_default()
}

fn decimal(v: i128, scale: u32) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(v, scale).ok()
}

fn decimal_text(v: i128, scale: u32) -> String {
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let body = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Where encoded values go: a DataRow or a COPY line.
pub(crate) trait FieldSink {
    /// Appends one value of `field`.
    fn put_field<T: ToSql + ToSqlText + Sized>(
        &mut self,
        v: &T,
        field: &FieldInfo,
    ) -> PgWireResult<()>;
}

impl FieldSink for DataRowEncoder {
    fn put_field<T: ToSql + ToSqlText + Sized>(
        &mut self,
        v: &T,
        field: &FieldInfo,
    ) -> PgWireResult<()> {
        self.encode_field_with_type_and_format(
            v,
            field.datatype(),
            field.format(),
            field.format_options(),
        )
    }
}

impl FieldSink for CopyEncoder {
    fn put_field<T: ToSql + ToSqlText + Sized>(
        &mut self,
        v: &T,
        _field: &FieldInfo,
    ) -> PgWireResult<()> {
        self.encode_field(v)
    }
}

fn put<S: FieldSink, T: ToSql + ToSqlText + Sized>(
    enc: &mut S,
    v: &T,
    field: &FieldInfo,
) -> PgWireResult<()> {
    enc.put_field(v, field)
}

fn list_values<T>(child: &ArrayRef, get: impl Fn(&ArrayRef, usize) -> T) -> Vec<Option<T>> {
    (0..child.len())
        .map(|i| child.is_valid(i).then(|| get(child, i)))
        .collect()
}

fn put_list<S: FieldSink>(enc: &mut S, child: ArrayRef, field: &FieldInfo) -> PgWireResult<()> {
    match child.data_type() {
        DataType::Boolean => put(
            enc,
            &list_values(&child, |a, i| a.as_boolean().value(i)),
            field,
        ),
        DataType::Int16 => put(
            enc,
            &list_values(&child, |a, i| {
                a.as_primitive::<datafusion::arrow::datatypes::Int16Type>()
                    .value(i)
            }),
            field,
        ),
        DataType::Int32 => put(
            enc,
            &list_values(&child, |a, i| {
                a.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                    .value(i)
            }),
            field,
        ),
        DataType::Int64 => put(
            enc,
            &list_values(&child, |a, i| {
                a.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .value(i)
            }),
            field,
        ),
        DataType::Float32 => put(
            enc,
            &list_values(&child, |a, i| {
                a.as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                    .value(i)
            }),
            field,
        ),
        DataType::Float64 => put(
            enc,
            &list_values(&child, |a, i| {
                a.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                    .value(i)
            }),
            field,
        ),
        DataType::Utf8 => put(
            enc,
            &list_values(&child, |a, i| a.as_string::<i32>().value(i).to_owned()),
            field,
        ),
        DataType::Binary => put(
            enc,
            &list_values(&child, |a, i| a.as_binary::<i32>().value(i).to_vec()),
            field,
        ),
        DataType::Date32 => put(
            enc,
            &list_values(&child, |a, i| {
                date(
                    a.as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                        .value(i),
                )
            }),
            field,
        ),
        DataType::Timestamp(_, _) => put(
            enc,
            &list_values(&child, |a, i| {
                timestamp(
                    a.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                        .value(i),
                )
            }),
            field,
        ),
        DataType::Decimal128(_, s) => {
            let scale = (*s).max(0) as u32;
            let values = list_values(&child, |a, i| {
                decimal(
                    a.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
                        .value(i),
                    scale,
                )
                .unwrap_or_default()
            });
            put(enc, &values, field)
        }
        other => Err(user_error(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("cannot send arrays of {other}"),
        )),
    }
}

/// Encodes every row of `batch` as a DataRow described by `fields`.
pub(crate) fn encode_batch(
    batch: &RecordBatch,
    fields: &Arc<Vec<FieldInfo>>,
) -> PgWireResult<Vec<DataRow>> {
    let columns = batch
        .columns()
        .iter()
        .zip(fields.iter())
        .map(|(a, f)| prepare(a, f.datatype()))
        .collect::<PgWireResult<Vec<_>>>()?;
    let mut enc = DataRowEncoder::new(fields.clone());
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (col, field) in columns.iter().zip(fields.iter()) {
            encode_value(&mut enc, col, row, field)?;
        }
        rows.push(enc.take_row());
    }
    Ok(rows)
}

/// Encodes every row of `batch` as COPY lines (one CopyData a row).
pub(crate) fn encode_copy(
    batch: &RecordBatch,
    fields: &Arc<Vec<FieldInfo>>,
    enc: &mut CopyEncoder,
) -> PgWireResult<Vec<CopyData>> {
    let columns = batch
        .columns()
        .iter()
        .zip(fields.iter())
        .map(|(a, f)| prepare(a, f.datatype()))
        .collect::<PgWireResult<Vec<_>>>()?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (col, field) in columns.iter().zip(fields.iter()) {
            encode_value(enc, col, row, field)?;
        }
        out.push(enc.take_copy());
    }
    Ok(out)
}

fn opt<A: Array, T>(a: &A, row: usize, get: impl Fn(&A, usize) -> T) -> Option<T> {
    a.is_valid(row).then(|| get(a, row))
}

fn encode_value<S: FieldSink>(
    enc: &mut S,
    col: &Column,
    row: usize,
    field: &FieldInfo,
) -> PgWireResult<()> {
    match col {
        Column::Bool(a) => put(enc, &opt(a, row, |a, i| a.value(i)), field),
        Column::I16(a) => put(enc, &opt(a, row, |a, i| a.value(i)), field),
        Column::I32(a) => put(enc, &opt(a, row, |a, i| a.value(i)), field),
        Column::I64(a) => put(enc, &opt(a, row, |a, i| a.value(i)), field),
        Column::Oid(a) => put(enc, &opt(a, row, |a, i| a.value(i) as u32), field),
        Column::F32(a) => put(enc, &opt(a, row, |a, i| a.value(i)), field),
        Column::F64(a) => put(enc, &opt(a, row, |a, i| a.value(i)), field),
        Column::Decimal(a, scale) => {
            if !a.is_valid(row) {
                return put(enc, &None::<Decimal>, field);
            }
            let v = a.value(row);
            match decimal(v, *scale) {
                Some(d) => put(enc, &d, field),
                None if field.format() == FieldFormat::Text => {
                    put(enc, &decimal_text(v, *scale), field)
                }
                None => Err(user_error(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "numeric value too wide for binary format",
                )),
            }
        }
        Column::Str(a) => put(enc, &a.is_valid(row).then(|| a.value(row)), field),
        Column::Bytes(a) => put(enc, &a.is_valid(row).then(|| a.value(row)), field),
        Column::Date(a) => put(enc, &opt(a, row, |a, i| date(a.value(i))), field),
        Column::Timestamp(a) if field.format() == FieldFormat::Text => put(
            enc,
            &opt(a, row, |a, i| {
                timestamp(a.value(i))
                    .format("%Y-%m-%d %H:%M:%S%.f+00")
                    .to_string()
            }),
            field,
        ),
        Column::Timestamp(a) => put(enc, &opt(a, row, |a, i| timestamp(a.value(i))), field),
        Column::Time(a) => put(enc, &opt(a, row, |a, i| time(a.value(i))), field),
        Column::List(a) => {
            if !a.is_valid(row) {
                return put(enc, &None::<Vec<Option<String>>>, field);
            }
            put_list(enc, a.value(row), field)
        }
        Column::Text(values) => put(enc, &values[row].as_deref(), field),
    }
}

/// The Arrow type a parameter of PostgreSQL type `ty` decodes to.
pub(crate) fn arrow_type_of(ty: &Type) -> Option<DataType> {
    Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 | Type::OID => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::NUMERIC => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::JSONB => {
            DataType::Utf8
        }
        Type::BYTEA => DataType::Binary,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => return None,
    })
}

fn bad_param(idx: usize, e: impl std::fmt::Display) -> PgWireError {
    user_error(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid value for parameter ${}: {e}", idx + 1),
    )
}

/// Decodes one bound parameter to a scalar of type `target` (when known).
///
/// `ty` is the type the client declared (or the server inferred); text
/// parameters are parsed by Arrow's cast, binary ones by `postgres-types`.
pub(crate) fn decode_param(
    idx: usize,
    raw: Option<&[u8]>,
    binary: bool,
    ty: &Type,
    target: Option<&DataType>,
) -> PgWireResult<ScalarValue> {
    let target = target.cloned().or_else(|| arrow_type_of(ty));
    let Some(raw) = raw else {
        return Ok(match &target {
            Some(t) => ScalarValue::try_from(t).unwrap_or(ScalarValue::Null),
            None => ScalarValue::Utf8(None),
        });
    };
    let value = if binary {
        fn get<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8], idx: usize) -> PgWireResult<T> {
            T::from_sql(ty, raw).map_err(|e| bad_param(idx, e))
        }
        match *ty {
            Type::BOOL => ScalarValue::Boolean(Some(get(ty, raw, idx)?)),
            Type::INT2 => ScalarValue::Int16(Some(get(ty, raw, idx)?)),
            Type::INT4 => ScalarValue::Int32(Some(get(ty, raw, idx)?)),
            Type::INT8 => ScalarValue::Int64(Some(get(ty, raw, idx)?)),
            Type::OID => ScalarValue::Int64(Some(get::<u32>(ty, raw, idx)? as i64)),
            Type::FLOAT4 => ScalarValue::Float32(Some(get(ty, raw, idx)?)),
            Type::FLOAT8 => ScalarValue::Float64(Some(get(ty, raw, idx)?)),
            Type::NUMERIC => ScalarValue::Utf8(Some(get::<Decimal>(ty, raw, idx)?.to_string())),
            Type::DATE => {
                let d: NaiveDate = get(ty, raw, idx)?;
                ScalarValue::Date32(Some(d.signed_duration_since(date(0)).num_days() as i32))
            }
            Type::TIMESTAMP => {
                let t: NaiveDateTime = get(ty, raw, idx)?;
                ScalarValue::TimestampMicrosecond(Some(t.and_utc().timestamp_micros()), None)
            }
            Type::TIMESTAMPTZ => {
                let t: DateTime<Utc> = get(ty, raw, idx)?;
                ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), Some("UTC".into()))
            }
            Type::BYTEA => ScalarValue::Binary(Some(raw.to_vec())),
            _ => ScalarValue::Utf8(Some(
                std::str::from_utf8(raw)
                    .map_err(|e| bad_param(idx, e))?
                    .to_owned(),
            )),
        }
    } else {
        let text = std::str::from_utf8(raw).map_err(|e| bad_param(idx, e))?;
        match (ty, &target) {
            (_, Some(DataType::Boolean)) => {
                ScalarValue::Boolean(Some(parse_bool(text).ok_or_else(|| {
                    bad_param(
                        idx,
                        format!("invalid input syntax for type boolean: {text:?}"),
                    )
                })?))
            }
            _ => ScalarValue::Utf8(Some(text.to_owned())),
        }
    };
    match target {
        Some(t) if value.data_type() != t => value.cast_to(&t).map_err(|e| bad_param(idx, e)),
        _ => Ok(value),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "yes" | "y" | "on" | "1" => Some(true),
        "f" | "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_places_the_point() {
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(7, 0), "7");
    }

    #[test]
    fn json_columns_by_name_and_metadata() {
        let f = Field::new("event_properties", DataType::Utf8View, true);
        assert_eq!(pg_type(&f), Type::JSON);
        let f = Field::new("x", DataType::Utf8, true)
            .with_metadata([(PG_TYPE_METADATA.to_owned(), "json".to_owned())].into());
        assert_eq!(pg_type(&f), Type::JSON);
        let f = Field::new(
            "path",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        );
        assert_eq!(pg_type(&f), Type::TEXT_ARRAY);
    }

    #[test]
    fn text_params_cast_to_the_inferred_type() {
        let v = decode_param(
            0,
            Some(b"42"),
            false,
            &Type::UNKNOWN,
            Some(&DataType::Int64),
        )
        .unwrap();
        assert_eq!(v, ScalarValue::Int64(Some(42)));
        let v = decode_param(
            0,
            Some(&7i32.to_be_bytes()),
            true,
            &Type::INT4,
            Some(&DataType::Int64),
        )
        .unwrap();
        assert_eq!(v, ScalarValue::Int64(Some(7)));
    }
}

//! Text values from Arrow arrays, for the CSV and JSON Lines encoders'
//! `write_batch` (a decoded batch, `crate::decode`): one cell at a time,
//! written exactly as the `Value`-record path writes the same cell (see
//! `encoder::write_cell_json` and `csv.rs`): JSON text for JSON Lines; for
//! CSV strings raw, numbers and lists as JSON, dates and timestamps in
//! their text forms, a `json` column's JSON text, null as an empty field.
//! It does not convert types: the batch already holds typed values.

use std::io::{self, Write};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef};

use crate::schema::{ColumnType, format_date, format_timestamp};

/// Writes row `row` of `array` (a column of type `kind`) as JSON.
pub(crate) fn write_json_at<W: Write>(out: &mut W, kind: ColumnType, array: &dyn Array, row: usize) -> io::Result<()> {
    if array.is_null(row) {
        return out.write_all(b"null");
    }
    match kind {
        ColumnType::String => serde_json::to_writer(out, array.as_string::<i32>().value(row)).map_err(io::Error::from),
        ColumnType::Json => out.write_all(array.as_string::<i32>().value(row).as_bytes()),
        ColumnType::Int64 => write!(out, "{}", array.as_primitive::<Int64Type>().value(row)),
        ColumnType::Float64 => {
            serde_json::to_writer(out, &array.as_primitive::<Float64Type>().value(row)).map_err(io::Error::from)
        }
        ColumnType::Bool => out.write_all(if array.as_boolean().value(row) {
            b"true"
        } else {
            b"false"
        }),
        ColumnType::Date => write!(
            out,
            "\"{}\"",
            format_date(array.as_primitive::<Date32Type>().value(row))
        ),
        ColumnType::Timestamp => write!(
            out,
            "\"{}\"",
            format_timestamp(array.as_primitive::<TimestampMicrosecondType>().value(row))
        ),
        ColumnType::ListString | ColumnType::ListInt64 | ColumnType::ListFloat64 => {
            let items: ArrayRef = array.as_list::<i32>().value(row);
            let item_kind = match kind {
                ColumnType::ListString => ColumnType::String,
                ColumnType::ListInt64 => ColumnType::Int64,
                _ => ColumnType::Float64,
            };
            out.write_all(b"[")?;
            for i in 0..items.len() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_json_at(out, item_kind, items.as_ref(), i)?;
            }
            out.write_all(b"]")
        }
    }
}

/// Row `row` of `array` as one CSV field's bytes (not yet quoted), in
/// `scratch` when it has to be formatted.
pub(crate) fn csv_field_at<'a>(
    scratch: &'a mut Vec<u8>,
    kind: ColumnType,
    array: &'a dyn Array,
    row: usize,
) -> io::Result<&'a [u8]> {
    if array.is_null(row) {
        return Ok(b"");
    }
    match kind {
        ColumnType::String | ColumnType::Json => Ok(array.as_string::<i32>().value(row).as_bytes()),
        ColumnType::Bool => Ok(if array.as_boolean().value(row) {
            b"true"
        } else {
            b"false"
        }),
        ColumnType::Date => {
            scratch.clear();
            scratch.extend_from_slice(format_date(array.as_primitive::<Date32Type>().value(row)).as_bytes());
            Ok(scratch)
        }
        ColumnType::Timestamp => {
            scratch.clear();
            let t = array.as_primitive::<TimestampMicrosecondType>().value(row);
            scratch.extend_from_slice(format_timestamp(t).as_bytes());
            Ok(scratch)
        }
        _ => {
            scratch.clear();
            write_json_at(scratch, kind, array, row)?;
            Ok(scratch)
        }
    }
}

//! Output columns: names, paths into records and types; schema files
//! (loading, validation, inference, printing); typed conversion of JSON
//! values, and JSON -> Arrow batches. This file only declares and re-exports.

mod arrow;
mod column;
mod convert;
mod error;
mod file;
mod infer;
mod time;

pub(crate) use arrow::Builder;
pub(crate) use arrow::Room;
pub use arrow::{BatchBuilder, TIMESTAMP_ZONE, arrow_schema, arrow_type};
pub(crate) use column::extract_at;
pub use column::{Column, ColumnType, Extracted, FieldPath};
pub use convert::{Cell, Scalar, TypeErrors, convert, scalar_cell, value_text};
pub(crate) use convert::{date_days, timestamp_micros};
pub use error::{SchemaError, SchemaProblem, TypeMismatch};
pub use file::{OnTypeError, Schema, load_schema, parse_schema};
pub use infer::{TypeSource, infer, infer_with, to_toml};
pub use time::{format_date, format_timestamp, parse_date, parse_timestamp};

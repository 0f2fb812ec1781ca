//! Output columns: names, paths into records, and types.

mod column;

pub use column::{Column, ColumnType, Extracted, FieldPath};

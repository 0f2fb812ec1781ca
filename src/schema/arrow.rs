//! JSON records -> Arrow: the Arrow schema of a column list, and
//! [`BatchBuilder`], one growable Arrow array builder per column that takes
//! records (converted through `convert.rs` under the `on_type_error`
//! policy) and hands out a `RecordBatch`. Arrow types: string and json ->
//! Utf8, int64 -> Int64, float64 -> Float64, bool -> Boolean, date ->
//! Date32, timestamp -> Timestamp(Microsecond, "UTC"), list<T> -> List of
//! nullable T (item field "item"). It does not write files.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;

use super::column::{Column, ColumnType, Walk, walk_from};
use super::convert::{Cell, TypeErrors, int64};
use super::error::TypeMismatch;

/// The zone every timestamp column carries.
pub const TIMESTAMP_ZONE: &str = "UTC";

/// The Arrow type of a column type.
pub fn arrow_type(kind: ColumnType) -> DataType {
    let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
    match kind {
        ColumnType::String | ColumnType::Json => DataType::Utf8,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMP_ZONE.into())),
        ColumnType::ListString => list(DataType::Utf8),
        ColumnType::ListInt64 => list(DataType::Int64),
        ColumnType::ListFloat64 => list(DataType::Float64),
    }
}

/// The Arrow schema of `columns`: one field per column, in order.
pub fn arrow_schema(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.kind), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// One typed Arrow builder per column (the Arrow types of [`arrow_type`]);
/// the Value path here and the page decoder (`decode/`) both append to it.
pub(crate) enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    ListStr(ListBuilder<StringBuilder>),
    ListInt(ListBuilder<Int64Builder>),
    ListFloat(ListBuilder<Float64Builder>),
}

/// What a column's builder held (list items, text bytes): the room the
/// decoder makes in the next batch's builder of the same column, so a
/// page's strings do not grow their buffer four times over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Room {
    /// List items (values of a list column's child builder).
    pub items: usize,
    /// Bytes of text (a string column's, or a list of strings' items').
    pub bytes: usize,
}

/// Most text bytes a [`Room`] asks for up front (the buffer grows past it).
const ROOM_BYTES_MAX: usize = 64 << 20;

impl Builder {
    /// A builder with room for `rows` values (a page's worth: the defaults,
    /// 1024 values, are ten times a page and cost memory churn per page),
    /// and for `room` (what the same column held last time) and a quarter
    /// more: pages differ, and a page a little bigger than the one before
    /// would otherwise copy its buffers to twice their size (about one
    /// builder in ten did, `make bench`'s job).
    pub(crate) fn with_room(kind: ColumnType, rows: usize, room: Room) -> Builder {
        let slack = |n: usize| n.saturating_add(n / 4);
        let items = rows.max(slack(room.items));
        let bytes = slack(room.bytes).min(ROOM_BYTES_MAX).max(rows.saturating_mul(16));
        let text = |n: usize| StringBuilder::with_capacity(n, bytes);
        match kind {
            ColumnType::String | ColumnType::Json => Builder::Str(text(rows)),
            ColumnType::Int64 => Builder::Int(Int64Builder::with_capacity(rows)),
            ColumnType::Float64 => Builder::Float(Float64Builder::with_capacity(rows)),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            ColumnType::Date => Builder::Date(Date32Builder::with_capacity(rows)),
            ColumnType::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(rows).with_timezone(TIMESTAMP_ZONE))
            }
            ColumnType::ListString => Builder::ListStr(ListBuilder::with_capacity(text(items), rows)),
            ColumnType::ListInt64 => {
                Builder::ListInt(ListBuilder::with_capacity(Int64Builder::with_capacity(items), rows))
            }
            ColumnType::ListFloat64 => {
                Builder::ListFloat(ListBuilder::with_capacity(Float64Builder::with_capacity(items), rows))
            }
        }
    }

    pub(crate) fn new(kind: ColumnType) -> Builder {
        match kind {
            ColumnType::String | ColumnType::Json => Builder::Str(StringBuilder::new()),
            ColumnType::Int64 => Builder::Int(Int64Builder::new()),
            ColumnType::Float64 => Builder::Float(Float64Builder::new()),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::new()),
            ColumnType::Date => Builder::Date(Date32Builder::new()),
            ColumnType::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone(TIMESTAMP_ZONE))
            }
            ColumnType::ListString => Builder::ListStr(ListBuilder::new(StringBuilder::new())),
            ColumnType::ListInt64 => Builder::ListInt(ListBuilder::new(Int64Builder::new())),
            ColumnType::ListFloat64 => Builder::ListFloat(ListBuilder::new(Float64Builder::new())),
        }
    }

    /// Appends `cell`; a cell of another type (which `convert` never
    /// produces for this column) is appended as null.
    fn append(&mut self, cell: Cell<'_>, scratch: &mut Vec<u8>) {
        match (self, cell) {
            (Builder::Str(b), Cell::Str(s)) => b.append_value(s),
            (Builder::Str(b), Cell::Json(v)) => {
                scratch.clear();
                match v.write_json(scratch).map(|_| std::str::from_utf8(scratch)) {
                    Ok(Ok(text)) => b.append_value(text),
                    _ => b.append_null(),
                }
            }
            (Builder::Int(b), Cell::Int(i)) => b.append_value(i),
            (Builder::Float(b), Cell::Float(f)) => b.append_value(f),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::Date(b), Cell::Date(d)) => b.append_value(d),
            (Builder::Timestamp(b), Cell::Timestamp(t)) => b.append_value(t),
            (Builder::ListStr(b), Cell::List(items)) => {
                for item in items {
                    match item {
                        Cell::Str(s) => b.values().append_value(s),
                        _ => b.values().append_null(),
                    }
                }
                b.append(true);
            }
            (Builder::ListInt(b), Cell::List(items)) => {
                for item in items {
                    match item {
                        Cell::Int(i) => b.values().append_value(i),
                        _ => b.values().append_null(),
                    }
                }
                b.append(true);
            }
            (Builder::ListFloat(b), Cell::List(items)) => {
                for item in items {
                    match item {
                        Cell::Float(f) => b.values().append_value(f),
                        _ => b.values().append_null(),
                    }
                }
                b.append(true);
            }
            (b, _) => b.append_null(),
        }
    }

    /// Appends a list column's value straight from the record, without
    /// building `Extracted::Many` and `Cell::List` vectors (two allocations
    /// a row per list column otherwise). Only when every item fits its type
    /// without conversion; `false` (nothing appended) sends the value down
    /// the general path, which also owns nulls, errors and the policy.
    fn append_list_direct(&mut self, column: &Column, record: &Value) -> bool {
        let walked = column.path.walk(record);
        let fits = |v: &Value| match self {
            Builder::ListStr(_) => v.is_null() || v.is_string(),
            Builder::ListInt(_) => v.is_null() || int64(v).is_some(),
            Builder::ListFloat(_) => v.is_null() || v.is_number(),
            _ => false,
        };
        // Pass one: check; nothing is appended unless everything fits.
        let ok = match walked {
            Walk::One(Value::Array(items)) => items.iter().all(fits),
            Walk::Fan { items, rest } => items.iter().all(|item| match walk_from(item, rest) {
                Walk::Missing => true,
                Walk::One(v) => fits(v),
                Walk::Fan { .. } => false,
            }),
            _ => false,
        };
        if !ok {
            return false;
        }
        // Pass two: append.
        let mut push = |v: Option<&Value>| match (&mut *self, v) {
            (Builder::ListStr(b), Some(Value::String(s))) => b.values().append_value(s),
            (Builder::ListInt(b), Some(v)) if !v.is_null() => b.values().append_option(int64(v)),
            (Builder::ListFloat(b), Some(v)) if !v.is_null() => b.values().append_option(v.as_f64()),
            (Builder::ListStr(b), _) => b.values().append_null(),
            (Builder::ListInt(b), _) => b.values().append_null(),
            (Builder::ListFloat(b), _) => b.values().append_null(),
            _ => {}
        };
        match walked {
            Walk::One(Value::Array(items)) => items.iter().for_each(|v| push(Some(v))),
            Walk::Fan { items, rest } => {
                for item in items {
                    match walk_from(item, rest) {
                        Walk::One(v) => push(Some(v)),
                        _ => push(None),
                    }
                }
            }
            _ => {}
        }
        match self {
            Builder::ListStr(b) => b.append(true),
            Builder::ListInt(b) => b.append(true),
            Builder::ListFloat(b) => b.append(true),
            _ => {}
        }
        true
    }

    fn is_list(&self) -> bool {
        matches!(self, Builder::ListStr(_) | Builder::ListInt(_) | Builder::ListFloat(_))
    }

    pub(crate) fn append_null(&mut self) {
        match self {
            Builder::Str(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::ListStr(b) => b.append_null(),
            Builder::ListInt(b) => b.append_null(),
            Builder::ListFloat(b) => b.append_null(),
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::ListStr(b) => Arc::new(b.finish()),
            Builder::ListInt(b) => Arc::new(b.finish()),
            Builder::ListFloat(b) => Arc::new(b.finish()),
        }
    }

    /// What this builder holds now, for [`Self::with_room`].
    pub(crate) fn room(&self) -> Room {
        match self {
            Builder::Str(b) => Room {
                items: 0,
                bytes: b.values_slice().len(),
            },
            Builder::ListStr(b) => Room {
                items: b.values_ref().len(),
                bytes: b.values_ref().values_slice().len(),
            },
            Builder::ListInt(b) => Room {
                items: b.values_ref().len(),
                bytes: 0,
            },
            Builder::ListFloat(b) => Room {
                items: b.values_ref().len(),
                bytes: 0,
            },
            _ => Room::default(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Builder::Str(b) => b.len(),
            Builder::Int(b) => b.len(),
            Builder::Float(b) => b.len(),
            Builder::Bool(b) => b.len(),
            Builder::Date(b) => b.len(),
            Builder::Timestamp(b) => b.len(),
            Builder::ListStr(b) => b.len(),
            Builder::ListInt(b) => b.len(),
            Builder::ListFloat(b) => b.len(),
        }
    }
}

/// Builds one `RecordBatch` at a time from JSON records.
pub struct BatchBuilder {
    columns: Vec<Column>,
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    /// Reused for json columns' text.
    scratch: Vec<u8>,
}

impl BatchBuilder {
    pub fn new(columns: &[Column]) -> BatchBuilder {
        BatchBuilder {
            columns: columns.to_vec(),
            schema: arrow_schema(columns),
            builders: columns.iter().map(|c| Builder::new(c.kind)).collect(),
            rows: 0,
            scratch: Vec::with_capacity(256),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one record; `index` is its number in the snapshot (for
    /// errors). After an error the builder holds a partial row: drop it.
    pub fn append(&mut self, record: &Value, index: u64, errors: &mut TypeErrors) -> Result<(), TypeMismatch> {
        for (column, builder) in self.columns.iter().zip(&mut self.builders) {
            if builder.is_list() && builder.append_list_direct(column, record) {
                continue;
            }
            let value = column.path.extract(record);
            let cell = errors.convert(column, &value, index)?;
            match cell {
                Cell::Null => builder.append_null(),
                cell => builder.append(cell, &mut self.scratch),
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows appended so far as one batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = self.rows;
        self.rows = 0;
        debug_assert!(self.builders.iter().all(|b| b.len() == rows));
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::OnTypeError;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::{Array, Date32Array, TimestampMicrosecondArray};
    use serde_json::json;

    fn col(name: &str, path: &str, kind: ColumnType) -> Column {
        Column {
            name: name.into(),
            path: crate::schema::FieldPath::parse(path),
            kind,
            nullable: true,
        }
    }

    #[test]
    fn builds_every_type() {
        let columns = vec![
            col("s", "s", ColumnType::String),
            col("i", "i", ColumnType::Int64),
            col("f", "f", ColumnType::Float64),
            col("b", "b", ColumnType::Bool),
            col("d", "d", ColumnType::Date),
            col("t", "t", ColumnType::Timestamp),
            col("ls", "ind.code", ColumnType::ListString),
            col("li", "li", ColumnType::ListInt64),
            col("lf", "lf", ColumnType::ListFloat64),
            col("j", "ind", ColumnType::Json),
        ];
        let records = [
            json!({"s": "Äö", "i": 7, "f": 1.5, "b": true, "d": "2023-01-31",
                   "t": "2023-01-31T09:24:30.201000", "ind": [{"code": "62"}, {}],
                   "li": [1, null], "lf": [1, 2.5]}),
            json!({}),
        ];
        let mut b = BatchBuilder::new(&columns);
        let mut errors = TypeErrors::new(OnTypeError::Fail);
        for (i, r) in records.iter().enumerate() {
            b.append(r, i as u64, &mut errors).unwrap();
        }
        assert_eq!(b.len(), 2);
        let batch = b.finish().unwrap();
        assert!(b.is_empty());
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), arrow_schema(&columns));
        assert_eq!(batch.column(0).as_string::<i32>().value(0), "Äö");
        assert_eq!(batch.column(1).as_primitive::<Int64Type>().value(0), 7);
        assert_eq!(batch.column(2).as_primitive::<Float64Type>().value(0), 1.5);
        assert!(batch.column(3).as_boolean().value(0));
        let d = batch.column(4).as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(d.value(0), 19_388);
        let t = batch
            .column(5)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(t.value(0), 1_675_157_070_201_000);
        let ls = batch.column(6).as_list::<i32>().value(0);
        let ls = ls.as_string::<i32>();
        assert_eq!((ls.len(), ls.value(0), ls.is_null(1)), (2, "62", true));
        let li = batch.column(7).as_list::<i32>().value(0);
        assert_eq!(li.as_primitive::<Int64Type>().value(0), 1);
        assert!(li.is_null(1));
        let lf = batch.column(8).as_list::<i32>().value(0);
        assert_eq!(lf.as_primitive::<Float64Type>().values().to_vec(), vec![1.0, 2.5]);
        assert_eq!(batch.column(9).as_string::<i32>().value(0), r#"[{"code":"62"},{}]"#);
        for c in 0..columns.len() {
            assert!(batch.column(c).is_null(1), "column {c} of the empty record");
        }
    }

    /// List values the direct path does not take (numbers in list<string>,
    /// a string in list<int64>, lists in lists) still go through `convert`:
    /// converted, or refused naming the column.
    #[test]
    fn list_values_off_the_direct_path_convert_or_fail() {
        let columns = vec![
            col("ls", "ls", ColumnType::ListString),
            col("li", "li", ColumnType::ListInt64),
            col("deep", "a.b", ColumnType::ListInt64),
        ];
        let mut b = BatchBuilder::new(&columns);
        let mut errors = TypeErrors::new(OnTypeError::Fail);
        let good = json!({"ls": [12, true, null], "li": [1.0, 2], "a": [{"b": 3}, {"b": null}]});
        b.append(&good, 0, &mut errors).unwrap();
        let batch = b.finish().unwrap();
        let ls = batch.column(0).as_list::<i32>().value(0);
        let ls = ls.as_string::<i32>();
        assert_eq!((ls.value(0), ls.value(1), ls.is_null(2)), ("12", "true", true));
        let li = batch.column(1).as_list::<i32>().value(0);
        assert_eq!(li.as_primitive::<Int64Type>().values().to_vec(), vec![1, 2]);
        let deep = batch.column(2).as_list::<i32>().value(0);
        assert_eq!((deep.len(), deep.is_null(1)), (2, true));
        for (bad, column) in [(json!({"li": [1, "2"]}), "li"), (json!({"a": [{"b": [1]}]}), "deep")] {
            let err = b.append(&bad, 7, &mut errors).unwrap_err();
            assert_eq!((err.record, err.column.as_str()), (7, column), "{bad}");
            b = BatchBuilder::new(&columns);
        }
    }
}

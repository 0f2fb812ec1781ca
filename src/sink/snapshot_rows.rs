//! [`SnapshotWriter::write_rows`] and what both writers use for decoded rows
//! (`crate::decode`): a batch's slice for one part, each column's nulls
//! counted from the Arrow arrays for the manifest's `null_count`, and the
//! per-column null totals. The rows are already typed and de-duplicated: no
//! conversion and no type errors here. Cutting a batch across parts is
//! `rotation.rs`'s.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;

use super::SnapshotWriter;
use crate::decode::DecodedBatch;
use crate::schema::Column;
use crate::sink::SinkError;
use crate::sink::rotation;

impl SnapshotWriter {
    /// Appends the rows of `decoded` (in order) to the current part file,
    /// starting a new part every `rows_per_file` records.
    pub fn write_rows(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        rotation::write_rows(self, decoded)
    }
}

/// Rows `start..start + take` of `decoded`, for one part (shared with the
/// bucket writer, `sink::object`).
pub(crate) fn piece(decoded: &DecodedBatch, start: usize, take: usize) -> DecodedBatch {
    DecodedBatch {
        batch: decoded.rows(start, take),
        key_hashes: None,
        first_offset: decoded.offset(start),
        count: None,
        path: decoded.path,
    }
}

/// Adds each column's nulls in `batch` to `row_nulls` (one count a column).
pub(crate) fn count_nulls(row_nulls: &mut Vec<u64>, batch: &RecordBatch) {
    if row_nulls.len() != batch.num_columns() {
        row_nulls.resize(batch.num_columns(), 0);
    }
    for (n, column) in row_nulls.iter_mut().zip(batch.columns()) {
        *n = n.saturating_add(column.null_count() as u64);
    }
}

/// Cells written as null per column name: every column (zeros included),
/// plus the counts of earlier parts, of records typed the `Value` way
/// (`typed`) and of decoded rows (`row_nulls`, in column order).
pub(crate) fn null_counts<'a>(
    columns: &[Column],
    earlier: impl IntoIterator<Item = (&'a String, &'a u64)>,
    row_nulls: &[u64],
) -> BTreeMap<String, u64> {
    let mut all: BTreeMap<String, u64> = columns.iter().map(|c| (c.name.clone(), 0)).collect();
    for (column, n) in earlier {
        let total = all.entry(column.clone()).or_insert(0);
        *total = total.saturating_add(*n);
    }
    for (column, n) in columns.iter().zip(row_nulls) {
        let total = all.entry(column.name.clone()).or_insert(0);
        *total = total.saturating_add(*n);
    }
    all
}

//! [`SnapshotWriter::write_rows`]: decoded rows (`crate::decode`) into the
//! snapshot's parts, cut at `rows_per_file` exactly like records are, with
//! each column's nulls counted from the Arrow arrays for the manifest's
//! `null_count`. The rows are already typed and de-duplicated: no
//! conversion and no type errors here.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;

use super::SnapshotWriter;
use crate::decode::DecodedBatch;
use crate::schema::Column;
use crate::sink::SinkError;

impl SnapshotWriter {
    /// Appends the rows of `decoded` (in order) to the current part file,
    /// starting a new part every `rows_per_file` records.
    pub fn write_rows(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        let total = decoded.batch.num_rows();
        let mut start = 0;
        while start < total {
            let rows_per_file = self.opts.rows_per_file;
            let part = self.part_with_room()?;
            let room = rows_per_file.saturating_sub(part.records);
            let take = usize::try_from(room).map_or(total - start, |room| room.min(total - start));
            let piece = piece(decoded, start, take);
            part.encoder.write_batch(&piece)?;
            part.records = part.records.saturating_add(take as u64);
            count_nulls(&mut self.row_nulls, &piece.batch);
            self.records = self.records.saturating_add(take as u64);
            start += take;
        }
        Ok(())
    }
}

/// Rows `start..start + take` of `decoded`, for one part (shared with the
/// bucket writer, `sink::object`).
pub(crate) fn piece(decoded: &DecodedBatch, start: usize, take: usize) -> DecodedBatch {
    DecodedBatch {
        batch: decoded.batch.slice(start, take),
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

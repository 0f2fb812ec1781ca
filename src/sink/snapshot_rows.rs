//! [`SnapshotWriter::write_rows`]: decoded rows (`crate::decode`) into the
//! snapshot's parts, cut at `rows_per_file` exactly like records are, with
//! each column's nulls counted from the Arrow arrays for the manifest's
//! `null_count`. The rows are already typed and de-duplicated: no
//! conversion and no type errors here.

use super::SnapshotWriter;
use crate::decode::DecodedBatch;
use crate::sink::SinkError;

impl SnapshotWriter {
    /// Appends the rows of `decoded` (in order) to the current part file,
    /// starting a new part every `rows_per_file` records.
    pub fn write_rows(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        let total = decoded.batch.num_rows();
        if self.row_nulls.len() != decoded.batch.num_columns() {
            self.row_nulls.resize(decoded.batch.num_columns(), 0);
        }
        let mut start = 0;
        while start < total {
            let rows_per_file = self.opts.rows_per_file;
            let part = self.part_with_room()?;
            let room = rows_per_file.saturating_sub(part.records);
            let take = usize::try_from(room).map_or(total - start, |room| room.min(total - start));
            let piece = DecodedBatch {
                batch: decoded.batch.slice(start, take),
                key_hashes: None,
                first_offset: decoded.offset(start),
                count: None,
                path: decoded.path,
            };
            part.encoder.write_batch(&piece)?;
            part.records = part.records.saturating_add(take as u64);
            for (n, column) in self.row_nulls.iter_mut().zip(piece.batch.columns()) {
                *n = n.saturating_add(column.null_count() as u64);
            }
            self.records = self.records.saturating_add(take as u64);
            start += take;
        }
        Ok(())
    }
}

//! Part rotation, shared by the local writer (`snapshot.rs`) and the bucket
//! writer (`object/writer.rs`): the open part and the finished ones, how
//! many records go into the open part (`rows_per_file` less what it holds),
//! cutting a page of records or a decoded batch across parts, closing the
//! last part (an empty run still writes one), part names
//! (`<prefix>NNNNN.<ext>`), and what the parts hold (records, type errors,
//! nulls per column), filled into the manifest the same way for both.
//! Every part either writer opens is opened from here, through its
//! [`Rotate::open_part`].
//!
//! Not here: where a part goes (a file in the temporary folder, a multipart
//! upload) and its name's prefix, what finishing it means besides the
//! encoder's `finish` (the bucket writer's bookkeeping of created keys),
//! writing the manifest, checkpoints and the publish. Those are each
//! writer's; this file never touches a file or a bucket.

use std::collections::BTreeMap;

use serde_json::Value;

use super::compress::{PartSink, compression_name};
use super::encoder::{PartEncoder, check_supported, open_encoder};
use super::error::SinkError;
use super::manifest::{Manifest, PartFile, schema_with_nulls};
use super::snapshot::rows;
use super::snapshot::{FinishedParts, SnapshotOptions};
use crate::decode::DecodedBatch;
use crate::job::Format;
use crate::schema::{Column, TypeErrors};

/// The part being written.
pub(crate) struct OpenPart {
    pub(crate) name: String,
    /// Records in it so far.
    pub(crate) records: u64,
    pub(crate) encoder: Box<dyn PartEncoder>,
}

impl OpenPart {
    /// An empty part called `name`, encoding `opts`' format into `sink`
    /// (CSV writes its header row here).
    pub(crate) fn start(name: String, opts: &SnapshotOptions, sink: PartSink) -> Result<OpenPart, SinkError> {
        let encoder = open_encoder(opts.format, opts.compression, &opts.columns, sink)?;
        Ok(OpenPart {
            name,
            records: 0,
            encoder,
        })
    }

    /// Finishes the encoder (flushed, fsynced or uploaded): the part as the
    /// manifest lists it.
    pub(crate) fn finish(self) -> Result<PartFile, SinkError> {
        let summary = self.encoder.finish()?;
        Ok(PartFile {
            name: self.name,
            records: self.records,
            bytes: summary.bytes,
            sha256: summary.sha256,
        })
    }
}

/// The name of part number `index`: `<prefix><index, 5 digits>.<ext>`, plus
/// `.gz` / `.zst` for compressed CSV and JSON Lines (Parquet compresses
/// inside the file: no suffix).
pub(crate) fn part_name(opts: &SnapshotOptions, prefix: &str, index: usize) -> String {
    let suffix = match opts.format {
        Format::Parquet => "",
        Format::Csv | Format::Jsonl => opts.compression.suffix(),
    };
    format!("{prefix}{index:05}.{}{suffix}", opts.format.extension())
}

/// How many of `left` items go into a part with `room` records of room.
pub(crate) fn fit(room: u64, left: usize) -> usize {
    usize::try_from(room).map_or(left, |room| room.min(left))
}

/// One writer's parts: the finished ones, the open one, and what they hold.
pub(crate) struct Rotation {
    rows_per_file: u64,
    /// The part the next record goes into, unless it is full.
    pub(super) current: Option<OpenPart>,
    /// The finished parts, in order (including those a resumed writer
    /// took over).
    files: Vec<PartFile>,
    /// Records written (including the parts a resumed writer took over).
    records: u64,
    /// The type-error policy and its per-column counts, over the parts
    /// this writer wrote.
    type_errors: TypeErrors,
    /// Nulls per column (in column order) of the decoded rows written;
    /// records written the `Value` way count theirs in `type_errors`.
    row_nulls: Vec<u64>,
    /// Type-error and null counts of the parts a resumed writer took over.
    earlier_type_errors: BTreeMap<String, u64>,
    earlier_null_counts: BTreeMap<String, u64>,
}

impl Rotation {
    /// Refuses a format and compression no encoder writes, and
    /// `rows_per_file = 0`, before anything is created.
    pub(crate) fn new(opts: &SnapshotOptions) -> Result<Rotation, SinkError> {
        check_supported(opts.format, opts.compression)?;
        if opts.rows_per_file == 0 {
            return Err(SinkError::BadRowsPerFile { rows_per_file: 0 });
        }
        Ok(Rotation {
            rows_per_file: opts.rows_per_file,
            current: None,
            files: Vec::new(),
            records: 0,
            type_errors: TypeErrors::new(opts.on_type_error),
            row_nulls: Vec::new(),
            earlier_type_errors: BTreeMap::new(),
            earlier_null_counts: BTreeMap::new(),
        })
    }

    /// Takes over the parts an interrupted run finished, and their counts:
    /// the next part is numbered after them.
    pub(crate) fn take_over(&mut self, done: FinishedParts) {
        self.files = done.files;
        self.records = done.records;
        self.earlier_type_errors = done.type_errors;
        self.earlier_null_counts = done.null_counts;
    }

    /// The finished parts so far, in order.
    pub(crate) fn files(&self) -> &[PartFile] {
        &self.files
    }

    /// How many more records the open part takes before it is full
    /// (`rows_per_file` when no part is open).
    pub(crate) fn room(&self) -> u64 {
        match &self.current {
            Some(part) => self.rows_per_file.saturating_sub(part.records),
            None => self.rows_per_file,
        }
    }

    /// Records written so far.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Values written as null because they did not fit, per column
    /// (including the parts a resumed writer took over).
    pub(crate) fn type_errors(&self) -> BTreeMap<String, u64> {
        let mut all = self.earlier_type_errors.clone();
        for (column, n) in self.type_errors.counts() {
            let sum = all.entry(column.clone()).or_insert(0);
            *sum = sum.saturating_add(*n);
        }
        all
    }

    /// Cells written as null, per column name (every column of `columns`,
    /// zeros included; including the parts a resumed writer took over).
    pub(crate) fn null_counts(&self, columns: &[Column]) -> BTreeMap<String, u64> {
        let earlier = self.earlier_null_counts.iter().chain(self.type_errors.null_counts());
        rows::null_counts(columns, earlier, &self.row_nulls)
    }

    /// Fills what the parts tell of the snapshot into `manifest`: `files`,
    /// `records`, `finished_at` (RFC 3339 UTC, now), `format`,
    /// `compression`, `schema` (with each column's null count) and
    /// `type_errors`.
    pub(crate) fn describe(&self, manifest: &mut Manifest, opts: &SnapshotOptions) {
        manifest.files = self.files.clone();
        manifest.records = self.records;
        manifest.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        manifest.format = opts.format.extension().to_string();
        manifest.compression = compression_name(opts.compression).to_string();
        manifest.schema = schema_with_nulls(&opts.columns, &self.null_counts(&opts.columns));
        manifest.type_errors = self.type_errors();
    }

    /// Drops the open part unfinished (a local file stays as far as it
    /// got; an upload is aborted).
    pub(crate) fn discard(&mut self) {
        self.current = None;
    }
}

/// A writer whose parts rotate: where its [`Rotation`] is, and how it
/// opens and finishes one part. Used only by the functions of this file.
pub(crate) trait Rotate {
    fn rotation(&mut self) -> &mut Rotation;
    /// Opens part number `index` (the finished parts are `0..index`).
    fn open_part(&mut self, index: usize) -> Result<OpenPart, SinkError>;
    /// Finishes `part` ([`OpenPart::finish`] and what else the writer
    /// does then); the caller lists the result among the finished parts.
    fn finish_part(&mut self, part: OpenPart) -> Result<PartFile, SinkError>;
}

/// Opens the next part of `w`.
fn open<W: Rotate>(w: &mut W) -> Result<OpenPart, SinkError> {
    let index = w.rotation().files.len();
    w.open_part(index)
}

/// Finishes `part` and lists it among `w`'s finished parts.
fn close<W: Rotate>(w: &mut W, part: OpenPart) -> Result<(), SinkError> {
    let file = w.finish_part(part)?;
    w.rotation().files.push(file);
    Ok(())
}

/// The open part if it has room, else a new one (the full one closed),
/// taken out of the rotation: the caller puts it back.
fn part_with_room<W: Rotate>(w: &mut W) -> Result<OpenPart, SinkError> {
    let rotation = w.rotation();
    let rows_per_file = rotation.rows_per_file;
    match rotation.current.take() {
        Some(part) if part.records < rows_per_file => Ok(part),
        full => {
            if let Some(part) = full {
                close(w, part)?;
            }
            open(w)
        }
    }
}

/// Writes `total` items in order, cut at `rows_per_file`: for each piece,
/// `write(part, rotation, start, take)` puts items `start..start + take`
/// into `part`, which has room for them. A failed piece leaves the part
/// open, its records uncounted, and stops.
fn write_pieces<W, F>(w: &mut W, total: usize, mut write: F) -> Result<(), SinkError>
where
    W: Rotate,
    F: FnMut(&mut OpenPart, &mut Rotation, usize, usize) -> Result<(), SinkError>,
{
    let mut start = 0;
    while start < total {
        let mut part = part_with_room(w)?;
        let rotation = w.rotation();
        let take = fit(rotation.rows_per_file.saturating_sub(part.records), total - start);
        let written = write(&mut part, rotation, start, take);
        if written.is_ok() {
            part.records = part.records.saturating_add(take as u64);
            rotation.records = rotation.records.saturating_add(take as u64);
        }
        rotation.current = Some(part);
        written?;
        start += take;
    }
    Ok(())
}

/// Appends `records` (consecutive API offsets from `first`) to `w`'s parts;
/// a type error names its record's API offset.
pub(crate) fn write_at<W: Rotate>(w: &mut W, records: &[Value], first: u64) -> Result<(), SinkError> {
    write_pieces(w, records.len(), |part, rotation, start, take| {
        let now = &records[start..start + take];
        let first = first.saturating_add(start as u64);
        part.encoder.write(now, first, &mut rotation.type_errors)
    })
}

/// Appends the rows of `decoded` to `w`'s parts, counting each column's
/// nulls from the Arrow arrays.
pub(crate) fn write_rows<W: Rotate>(w: &mut W, decoded: &DecodedBatch) -> Result<(), SinkError> {
    write_pieces(w, decoded.batch.num_rows(), |part, rotation, start, take| {
        let piece = rows::piece(decoded, start, take);
        part.encoder.write_batch(&piece)?;
        rows::count_nulls(&mut rotation.row_nulls, &piece.batch);
        Ok(())
    })
}

/// Closes the open part now, if any; the next record starts a new one.
pub(crate) fn close_open<W: Rotate>(w: &mut W) -> Result<(), SinkError> {
    match w.rotation().current.take() {
        Some(part) => close(w, part),
        None => Ok(()),
    }
}

/// Closes the open part; a snapshot without any part gets one empty part.
pub(crate) fn close_last<W: Rotate>(w: &mut W) -> Result<(), SinkError> {
    close_open(w)?;
    if w.rotation().files.is_empty() {
        let part = open(w)?;
        close(w, part)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "rotation_tests.rs"]
mod tests;

//! Parquet part encoder: records -> Arrow batches (`schema::BatchBuilder`,
//! typed under the snapshot's `on_type_error` policy) -> `ArrowWriter` ->
//! [`PartSink`], so the manifest's bytes and sha256 are counted on the way
//! to disk. Compression zstd (default), snappy, gzip or none; row groups of
//! at most [`ROW_GROUP_ROWS`] rows; page-level statistics; dictionaries of
//! at most [`DICTIONARY_PAGE_BYTES`] a column chunk; `created_by`
//! "orgsync <version>". Memory is one row group (the writer's encoded
//! pages) plus one batch of builders, never the whole part. Rotation into
//! `part-NNNNN.parquet` files is `rotation.rs`'s job, not this file's.
//! Decoded batches (one API page each, often 100 rows) are merged into
//! batches of exactly [`BATCH_ROWS`] before the writer: the writer's cost
//! per call (levels, statistics, page checks) made small batches slow, and
//! equal batches make the file depend on the rows alone.

use std::io;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_select::concat::concat_batches;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, GzipLevel, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde_json::Value;

use super::compress::{PartSink, SinkSummary};
use super::encoder::{PartEncoder, type_error};
use super::error::SinkError;
use crate::decode::DecodedBatch;
use crate::job::Compression;
use crate::schema::{BatchBuilder, Column, TypeErrors};

/// Most rows in one row group (SPEC section 4: 64 Ki).
pub const ROW_GROUP_ROWS: usize = 65_536;

/// Rows collected in Arrow builders before they go to the writer, which
/// encodes them into the open row group.
const BATCH_ROWS: usize = 8_192;

/// zstd level inside Parquet pages. Measured (`make bench`, zstd level
/// study, 100k rows of the organizations schema, these writer settings):
/// after dictionary and RLE encoding, level 1 gives 51.2% of the
/// uncompressed file for +0.052 CPU-s per 100k rows, level 3 48.7% for
/// +0.097 s, level 6 45.5% for +0.261 s. Level 1 keeps compression near 5%
/// of the client's CPU; level 3 would buy 5% smaller files for about as
/// much more CPU, level 6 11% for about a fifth more.
pub const ZSTD_LEVEL: i32 = 1;

/// Largest dictionary a column chunk builds before the rest of the chunk
/// is written PLAIN (the crate's default is 1 MiB). The rule a reader sees:
/// a column whose distinct values of one row group fit in 64 KiB (a city,
/// a legal form, an industry code, a year) is dictionary-encoded whole; a
/// column of mostly unique values (the key, names, amounts, coordinates,
/// timestamps) starts with a dictionary and falls back to PLAIN once its
/// dictionary holds 64 KiB, as parquet-mr does at its own limit. Every
/// Parquet reader reads such a chunk. Measured in process (`make
/// bench-parquet`: the same decoded 100k rows of the 14 columns of
/// schemas/organizations.toml, zstd 1, 8192-row batches, medians of 7 runs,
/// CPU of the write alone; `old` = 1 MiB): 1 MiB 0.214 CPU-s per 100k rows,
/// 64 KiB 0.134 (0.63x), 32 KiB 0.129 (0.60x), 16 KiB 0.144 (low-cardinality
/// columns start falling back), 256 KiB 0.160; dictionary off everywhere
/// 0.155 (0.72x) but 5.8% bigger. Files get 9% SMALLER at 64 KiB (a
/// dictionary of 64 Ki unique values plus 16-bit indices compresses worse
/// than the values themselves under zstd): the interner's hash table of up
/// to 64 Ki entries a column was the cost, not the encoding. 64 KiB rather
/// than 32 KiB leaves room for columns of a few thousand distinct values.
pub const DICTIONARY_PAGE_BYTES: usize = 64 * 1024;

/// The writer settings for one compression: the same for every part.
///
/// Besides [`DICTIONARY_PAGE_BYTES`], measured and left at the crate's
/// defaults (`make bench-parquet`, CPU of the write relative to the 1 MiB
/// dictionary settings, file size): statistics `Page` is kept (row-group
/// min/max for pruning plus the page index; `Chunk` saved nothing
/// measurable once the dictionary was bounded: 0.62x vs 0.63x), statistics
/// truncation at 16 bytes instead of 64 (within noise), write batches of
/// 8192 rows instead of 1024 (0.64x vs 0.63x with the bounded dictionary),
/// data pages of 8 MiB or 64 KiB (within noise). Bigger Arrow batches
/// helped before the dictionary fix (16 Ki rows 0.80x, 32 Ki 0.72x; 1 Ki
/// rows cost 1.20x) and cost memory: [`BATCH_ROWS`] stays 8192. Codecs, for
/// the record: snappy 0.75x CPU and 1.16x the bytes, none 0.81x and 1.46x,
/// zstd 3 1.18x and 0.95x. Bloom filters stay off.
pub fn writer_properties(compression: Compression) -> WriterProperties {
    let codec = match compression {
        Compression::None => Codec::UNCOMPRESSED,
        Compression::Snappy => Codec::SNAPPY,
        Compression::Gzip => Codec::GZIP(GzipLevel::default()),
        Compression::Zstd => Codec::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default()),
    };
    WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_created_by(format!("orgsync {}", env!("CARGO_PKG_VERSION")))
        .build()
}

pub struct ParquetEncoder {
    writer: ArrowWriter<PartSink>,
    batch: BatchBuilder,
    /// Decoded batches not yet handed to the writer, and their rows.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    path: PathBuf,
}

impl ParquetEncoder {
    /// Starts a part: writes the Parquet magic and holds the schema of `columns`.
    pub fn new(columns: &[Column], sink: PartSink, compression: Compression) -> Result<ParquetEncoder, SinkError> {
        let path = sink.path().to_path_buf();
        let batch = BatchBuilder::new(columns);
        let writer = ArrowWriter::try_new(sink, batch.schema(), Some(writer_properties(compression)))
            .map_err(|e| parquet_error(&path, e))?;
        Ok(ParquetEncoder {
            writer,
            batch,
            pending: Vec::new(),
            pending_rows: 0,
            path,
        })
    }

    /// Hands the pending decoded batches to the writer as one batch.
    fn flush_pending(&mut self) -> Result<(), SinkError> {
        let merged = match self.pending.len() {
            0 => return Ok(()),
            1 => self.pending.pop().expect("one batch"),
            _ => {
                let schema = self.pending[0].schema();
                let merged = concat_batches(&schema, &self.pending).map_err(|e| SinkError::Parquet {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
                self.pending.clear();
                merged
            }
        };
        self.pending_rows = 0;
        self.writer.write(&merged).map_err(|e| parquet_error(&self.path, e))
    }

    /// Hands the collected rows to the writer (which cuts row groups).
    fn flush_batch(&mut self) -> Result<(), SinkError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = self.batch.finish().map_err(|e| SinkError::Parquet {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        self.writer.write(&batch).map_err(|e| parquet_error(&self.path, e))
    }
}

impl PartEncoder for ParquetEncoder {
    fn write(&mut self, records: &[Value], first_record: u64, errors: &mut TypeErrors) -> Result<(), SinkError> {
        // Decoded rows written before come first.
        self.flush_pending()?;
        for (i, record) in records.iter().enumerate() {
            self.batch
                .append(record, first_record.saturating_add(i as u64), errors)
                .map_err(|m| type_error(&self.path, m))?;
            if self.batch.len() >= BATCH_ROWS {
                self.flush_batch()?;
            }
        }
        Ok(())
    }

    fn write_batch(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        if decoded.batch.schema() != self.batch.schema() {
            return Err(SinkError::Parquet {
                path: self.path.clone(),
                reason: "the decoded batch's schema is not the part's (a bug: the decoder and the encoder \
                         were built from different schemas)"
                    .into(),
            });
        }
        // Rows written through `write` come first.
        self.flush_batch()?;
        // The writer gets batches of exactly BATCH_ROWS rows (the last may
        // be shorter): where its pages end depends on the sizes it is
        // handed, so the same rows make the same file whatever batches they
        // arrived in (API pages, or export batches cut where the
        // download's chunks end). Slices share the batch's buffers.
        let mut rest = decoded.batch.clone();
        loop {
            let room = BATCH_ROWS - self.pending_rows;
            if rest.num_rows() < room {
                if rest.num_rows() > 0 {
                    self.pending_rows += rest.num_rows();
                    self.pending.push(rest);
                }
                return Ok(());
            }
            self.pending.push(rest.slice(0, room));
            self.pending_rows += room;
            self.flush_pending()?;
            rest = rest.slice(room, rest.num_rows() - room);
        }
    }

    fn finish(mut self: Box<Self>) -> Result<SinkSummary, SinkError> {
        self.flush_pending()?;
        self.flush_batch()?;
        let path = self.path;
        // Flushes the last row group, writes the footer, hands the file back.
        let sink = self.writer.into_inner().map_err(|e| parquet_error(&path, e))?;
        sink.finish()
    }
}

/// An I/O error underneath (a full disk) stays an I/O error naming the file.
fn parquet_error(path: &std::path::Path, err: ParquetError) -> SinkError {
    if let ParquetError::External(inner) = err {
        return match inner.downcast::<io::Error>() {
            Ok(source) => SinkError::Io {
                path: path.to_path_buf(),
                source: *source,
            },
            Err(other) => SinkError::Parquet {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        };
    }
    SinkError::Parquet {
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}

#[cfg(test)]
#[path = "parquet_tests.rs"]
mod tests;

//! The one trait every part-file format implements ([`PartEncoder`]), the
//! factory that picks an implementation for a format, and the JSON-text
//! and typed-cell helpers the text formats share, and the mapping of a
//! type mismatch to a [`SinkError`]. Format-neutral: an encoder is built
//! from the columns and a [`PartSink`], then receives records in order with
//! the snapshot's [`TypeErrors`] policy. Rotation and part names live in
//! `rotation.rs`, publishing in `snapshot.rs` and `object/`, not here.

use std::io::{self, Write};
use std::path::Path;

use serde_json::Value;

use super::compress::{PartSink, SinkSummary};
use super::csv::CsvEncoder;
use super::error::SinkError;
use super::jsonl::JsonlEncoder;
use super::parquet::ParquetEncoder;
use crate::decode::DecodedBatch;
use crate::job::{Compression, Format};
use crate::schema::{Cell, Column, Extracted, TypeErrors, TypeMismatch, format_date, format_timestamp};

/// Buffer between an encoder and the compression layer.
pub const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Encodes records into one part file.
pub trait PartEncoder: Send {
    /// Encodes `records`, in order. `first_record` is the API offset of
    /// `records[0]` (the records are at consecutive offsets), for error
    /// messages and the `on_type_error = "null"` warning. Values are converted to
    /// their column types under `errors`' policy, which counts the nulled ones.
    fn write(&mut self, records: &[Value], first_record: u64, errors: &mut TypeErrors) -> Result<(), SinkError>;

    /// Encodes a decoded batch (`crate::decode`), rows in order: the same
    /// bytes [`write`](Self::write) produces for the records it came from.
    /// The batch is already typed: no conversion, no type errors here.
    fn write_batch(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError>;

    /// Writes whatever the format needs at the end, flushes, fsyncs the file
    /// and returns its size and hash.
    fn finish(self: Box<Self>) -> Result<SinkSummary, SinkError>;
}

/// An encoder for `format` + `compression` writing `columns` into `sink`.
/// CSV writes its header row here.
pub fn open_encoder(
    format: Format,
    compression: Compression,
    columns: &[Column],
    sink: PartSink,
) -> Result<Box<dyn PartEncoder>, SinkError> {
    match format {
        Format::Csv => Ok(Box::new(CsvEncoder::new(columns, sink, compression)?)),
        Format::Jsonl => Ok(Box::new(JsonlEncoder::new(columns, sink, compression)?)),
        Format::Parquet => Ok(Box::new(ParquetEncoder::new(columns, sink, compression)?)),
    }
}

/// Checks, before anything is created, that this writer produces `format`
/// with `compression`.
pub fn check_supported(format: Format, compression: Compression) -> Result<(), SinkError> {
    match (format, compression) {
        (Format::Parquet, _) => Ok(()),
        (f, Compression::Snappy) => Err(SinkError::Unsupported {
            format: f.extension(),
            compression: Some("snappy"),
        }),
        _ => Ok(()),
    }
}

/// Writes an extracted value as compact JSON text (a missing value is
/// `null`; a path through a list gives a JSON array). No allocation beyond
/// what `out` does.
pub fn write_json<W: Write>(out: &mut W, value: &Extracted<'_>) -> io::Result<()> {
    value.write_json(out)
}

/// Writes a converted cell as JSON (what JSON Lines writes, and CSV for
/// lists): null, strings quoted, numbers and bools as JSON, dates
/// `"2023-01-31"`, timestamps `"2023-01-31T09:24:30.201000Z"`, lists as
/// arrays, and json cells as the extracted value itself.
pub fn write_cell_json<W: Write>(out: &mut W, cell: &Cell<'_>) -> io::Result<()> {
    match cell {
        Cell::Null => out.write_all(b"null"),
        Cell::Str(s) => serde_json::to_writer(out, s.as_ref()).map_err(io::Error::from),
        Cell::Int(i) => write!(out, "{i}"),
        Cell::Float(f) => serde_json::to_writer(out, f).map_err(io::Error::from),
        Cell::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        Cell::Date(d) => write!(out, "\"{}\"", format_date(*d)),
        Cell::Timestamp(t) => write!(out, "\"{}\"", format_timestamp(*t)),
        Cell::List(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_cell_json(out, item)?;
            }
            out.write_all(b"]")
        }
        Cell::Json(v) => v.write_json(out),
    }
}

/// A batch whose columns are not this part's, as the sink's error for `path`.
pub(crate) fn check_batch(path: &Path, columns: &[Column], decoded: &DecodedBatch) -> Result<(), SinkError> {
    let fields = decoded.batch.schema();
    let same =
        fields.fields().len() == columns.len() && fields.fields().iter().zip(columns).all(|(f, c)| f.name() == &c.name);
    if same {
        return Ok(());
    }
    Err(SinkError::Encode {
        path: path.to_path_buf(),
        record: decoded.first_offset,
        column: String::new(),
        reason: "the decoded batch's columns are not the part's columns (a bug: the decoder and the \
                 encoder were built from different schemas)"
            .into(),
    })
}

/// A value that does not fit its column, as the sink's error for `path`.
pub(crate) fn type_error(path: &Path, m: TypeMismatch) -> SinkError {
    let hint = if m.why.contains("not nullable") {
        "set nullable = true for this column in the schema file"
    } else {
        "fix the column's type in the schema file, or set on_type_error = \"null\" to write null instead"
    };
    SinkError::Encode {
        path: path.to_path_buf(),
        record: m.record,
        column: m.column.clone(),
        reason: format!("{m}: {hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldPath;
    use serde_json::json;

    #[test]
    fn write_json_table() {
        let record = json!({
            "s": "Äkäs \"x\"",
            "n": 12345678901234567890u64,
            "f": 0.1,
            "o": {"b": 1, "a": [true, null]},
            "l": [{"c": "62"}, {}, {"c": null}],
        });
        let cases: &[(&str, &str)] = &[
            ("s", r#""Äkäs \"x\"""#),
            ("n", "12345678901234567890"),
            ("f", "0.1"),
            ("o", r#"{"b":1,"a":[true,null]}"#),
            ("l.c", r#"["62",null,null]"#),
            ("missing", "null"),
        ];
        for (path, want) in cases {
            let mut out = Vec::new();
            write_json(&mut out, &FieldPath::parse(path).extract(&record)).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), *want, "path {path}");
        }
    }

    #[test]
    fn supported_pairs() {
        let cases = [
            (Format::Csv, Compression::None, true),
            (Format::Csv, Compression::Gzip, true),
            (Format::Jsonl, Compression::Zstd, true),
            (Format::Csv, Compression::Snappy, false),
            (Format::Parquet, Compression::Zstd, true),
            (Format::Parquet, Compression::Snappy, true),
            (Format::Parquet, Compression::Gzip, true),
            (Format::Parquet, Compression::None, true),
        ];
        for (format, compression, ok) in cases {
            assert_eq!(
                check_supported(format, compression).is_ok(),
                ok,
                "{format:?} {compression:?}"
            );
        }
    }
}

//! The one trait every part-file format implements ([`PartEncoder`]), the
//! factory that picks an implementation for a format, and the JSON-text
//! helper the text formats share. Format-neutral: an encoder is built from
//! the columns and a [`PartSink`], then receives records in order. Parquet
//! plugs in here later; rotation, naming and publishing live in
//! `snapshot.rs`, not here.

use std::io::{self, Write};

use serde_json::Value;

use super::compress::{PartSink, SinkSummary};
use super::csv::CsvEncoder;
use super::error::SinkError;
use super::jsonl::JsonlEncoder;
use crate::job::{Compression, Format};
use crate::schema::{Column, Extracted};

/// Buffer between an encoder and the compression layer.
pub const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Encodes records into one part file.
pub trait PartEncoder: Send {
    /// Encodes `records`, in order. `first_record` is the index in the whole
    /// snapshot of `records[0]`, for error messages.
    fn write(&mut self, records: &[Value], first_record: u64) -> Result<(), SinkError>;

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
        Format::Parquet => Err(SinkError::Unsupported {
            format: "parquet",
            compression: None,
        }),
    }
}

/// Checks, before anything is created, that this writer produces `format`
/// with `compression`.
pub fn check_supported(format: Format, compression: Compression) -> Result<(), SinkError> {
    match (format, compression) {
        (Format::Parquet, _) => Err(SinkError::Unsupported {
            format: "parquet",
            compression: None,
        }),
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
            (Format::Parquet, Compression::Zstd, false),
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

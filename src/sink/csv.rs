//! CSV part encoder (SPEC section 4): RFC 4180 via the `csv` crate, `\n`
//! line ends, a header row of column names, UTF-8 without BOM. Values are
//! converted to their column types first (`schema::TypeErrors`), then:
//! strings raw; integers and floats as JSON numbers (a float64 `12` is
//! `12.0`); bools `true`/`false`; dates `2023-01-31`; timestamps
//! `2023-01-31T09:24:30.201000Z`; lists as compact JSON arrays; null or
//! missing as an empty field. A `json` column writes its value's compact
//! JSON text (a string with its quotes), as Parquet and JSON Lines do.

use std::path::PathBuf;

use serde_json::Value;

use super::batch_text::csv_field_at;
use super::compress::{Compressed, PartSink, SinkSummary};
use super::encoder::{PartEncoder, WRITE_BUFFER_BYTES, write_json};
use super::encoder::{check_batch, type_error, write_cell_json};
use super::error::SinkError;
use crate::decode::DecodedBatch;
use crate::job::Compression;
use crate::schema::{Cell, Column, Extracted, TypeErrors, format_date, format_timestamp};

pub struct CsvEncoder {
    writer: csv::Writer<Compressed>,
    columns: Vec<Column>,
    names: Vec<String>,
    path: PathBuf,
    /// Reused for numbers, lists and objects.
    scratch: Vec<u8>,
}

impl CsvEncoder {
    /// Starts a part: wraps `sink` in `compression` and writes the header row.
    pub fn new(columns: &[Column], sink: PartSink, compression: Compression) -> Result<CsvEncoder, SinkError> {
        let path = sink.path().to_path_buf();
        let out = Compressed::new(sink, compression, "csv")?;
        let writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .quote_style(csv::QuoteStyle::Necessary)
            .buffer_capacity(WRITE_BUFFER_BYTES)
            .has_headers(false)
            .from_writer(out);
        let mut encoder = CsvEncoder {
            writer,
            columns: columns.to_vec(),
            names: columns.iter().map(|c| c.name.clone()).collect(),
            path,
            scratch: Vec::with_capacity(256),
        };
        let header = encoder.writer.write_record(&encoder.names);
        header.map_err(|e| encoder.csv_error(e, None, 0))?;
        Ok(encoder)
    }

    fn csv_error(&self, err: csv::Error, record: Option<u64>, column: usize) -> SinkError {
        match err.into_kind() {
            csv::ErrorKind::Io(source) => SinkError::Io {
                path: self.path.clone(),
                source,
            },
            other => SinkError::Encode {
                path: self.path.clone(),
                record: record.unwrap_or(0),
                column: self.names.get(column).cloned().unwrap_or_default(),
                reason: format!("{other:?}"),
            },
        }
    }

    /// A `json` column's value: its JSON text (a string keeps its quotes,
    /// as in Parquet and JSON Lines), null or missing as an empty field.
    fn write_json_field(&mut self, value: &Extracted<'_>) -> Result<(), csv::Error> {
        if value.is_null() {
            return self.writer.write_field(b"");
        }
        self.scratch.clear();
        write_json(&mut self.scratch, value)?;
        self.writer.write_field(&self.scratch)
    }

    fn write_cell(&mut self, cell: &Cell<'_>) -> Result<(), csv::Error> {
        match cell {
            Cell::Null => self.writer.write_field(b""),
            Cell::Str(s) => self.writer.write_field(s.as_bytes()),
            Cell::Bool(b) => self.writer.write_field(if *b { "true" } else { "false" }),
            Cell::Date(d) => self.writer.write_field(format_date(*d)),
            Cell::Timestamp(t) => self.writer.write_field(format_timestamp(*t)),
            Cell::Json(v) => self.write_json_field(v),
            Cell::Int(_) | Cell::Float(_) | Cell::List(_) => {
                self.scratch.clear();
                write_cell_json(&mut self.scratch, cell)?;
                self.writer.write_field(&self.scratch)
            }
        }
    }
}

impl PartEncoder for CsvEncoder {
    fn write(&mut self, records: &[Value], first_record: u64, errors: &mut TypeErrors) -> Result<(), SinkError> {
        for (i, record) in records.iter().enumerate() {
            let index = first_record.saturating_add(i as u64);
            for c in 0..self.columns.len() {
                let value = self.columns[c].path.extract(record);
                let cell = errors
                    .convert(&self.columns[c], &value, index)
                    .map_err(|m| type_error(&self.path, m))?;
                if let Err(e) = self.write_cell(&cell) {
                    return Err(self.csv_error(e, Some(index), c));
                }
            }
            if let Err(e) = self.writer.write_record(None::<&[u8]>) {
                return Err(self.csv_error(e, Some(index), 0));
            }
        }
        Ok(())
    }

    fn write_batch(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        check_batch(&self.path, &self.columns, decoded)?;
        let batch = &decoded.batch;
        for row in 0..batch.num_rows() {
            let index = decoded.offset(row);
            for c in 0..self.columns.len() {
                let written = match csv_field_at(&mut self.scratch, self.columns[c].kind, batch.column(c).as_ref(), row)
                {
                    Ok(bytes) => self.writer.write_field(bytes),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = written {
                    return Err(self.csv_error(e, Some(index), c));
                }
            }
            if let Err(e) = self.writer.write_record(None::<&[u8]>) {
                return Err(self.csv_error(e, Some(index), 0));
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, SinkError> {
        let path = self.path;
        let out = self.writer.into_inner().map_err(|e| SinkError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        out.finish().map_err(SinkError::io(&path))?.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnType;
    use serde_json::json;
    use std::fs::OpenOptions;

    /// Text columns as strings, the rest as json (any value, as JSON text).
    fn columns(paths: &[&str]) -> Vec<Column> {
        let kind = |p: &str| match p {
            "id" | "name" | "business_id" | "v" => ColumnType::String,
            _ => ColumnType::Json,
        };
        paths.iter().map(|p| Column::for_field(p, kind(p))).collect()
    }

    fn encode(cols: &[Column], records: &[Value]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.csv");
        let mut enc: Box<dyn PartEncoder> =
            Box::new(CsvEncoder::new(cols, PartSink::create(&path).unwrap(), Compression::None).unwrap());
        enc.write(records, 0, &mut TypeErrors::default()).unwrap();
        enc.finish().unwrap();
        std::fs::read_to_string(&path).unwrap()
    }

    #[test]
    fn field_encoding_table() {
        let cases: &[(Value, &str)] = &[
            (json!("plain"), "plain"),
            (json!("a,b"), "\"a,b\""),
            (json!("say \"hi\""), "\"say \"\"hi\"\"\""),
            (json!("two\nlines"), "\"two\nlines\""),
            (json!("cr\rhere"), "\"cr\rhere\""),
            (json!("Äkäs Oy 株式会社"), "Äkäs Oy 株式会社"),
            (json!(42), "42"),
            (json!(-7), "-7"),
            (json!(18446744073709551615u64), "18446744073709551615"),
            (json!(0.1), "0.1"),
            (json!(1.5e300), "1.5e+300"),
            (json!(true), "true"),
            (json!(false), "false"),
            (Value::Null, ""),
            (json!([1, "x"]), "\"[1,\"\"x\"\"]\""),
            (json!({"k": "v"}), "\"{\"\"k\"\":\"\"v\"\"}\""),
            (json!([]), "[]"),
        ];
        for (value, want) in cases {
            // Strings through a string column; anything else through json.
            let mut cols = columns(&["id", "v"]);
            if !value.is_string() {
                cols[1].kind = ColumnType::Json;
            }
            let text = encode(&cols, &[json!({"id": 1, "v": value})]);
            assert_eq!(text, format!("id,v\n1,{want}\n"), "value {value}");
        }
    }

    #[test]
    fn header_only_for_no_records_and_missing_is_empty() {
        let cols = columns(&["business_id", "financial_data.revenue"]);
        assert_eq!(encode(&cols, &[]), "business_id,financial_data_revenue\n");
        assert_eq!(
            encode(&cols, &[json!({"business_id": "FI1"})]),
            "business_id,financial_data_revenue\nFI1,\n"
        );
    }

    #[test]
    fn round_trips_through_the_csv_reader() {
        let records = vec![
            json!({"id": "FI1", "name": "Acme, \"the\" best\nOy", "n": 12.25, "big": 9007199254740993u64,
                   "ind": [{"code": "62"}, {"code": "63"}], "fd": {"revenue": null, "employees": 3}}),
            json!({"id": "FI2", "name": "Ääkkönen Åb", "n": null, "big": -1, "ind": [], "fd": null}),
            json!({"id": "FI3"}),
        ];
        let cols = columns(&["id", "name", "n", "big", "ind.code", "fd"]);
        let text = encode(&cols, &records);
        assert!(!text.starts_with('\u{feff}'));
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(header, ["id", "name", "n", "big", "ind_code", "fd"]);
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(
            rows,
            vec![
                vec![
                    "FI1",
                    "Acme, \"the\" best\nOy",
                    "12.25",
                    "9007199254740993",
                    "[\"62\",\"63\"]",
                    "{\"revenue\":null,\"employees\":3}"
                ],
                vec!["FI2", "Ääkkönen Åb", "", "-1", "[]", ""],
                vec!["FI3", "", "", "", "", ""],
            ]
        );
    }

    fn typed(kind: ColumnType) -> Vec<Column> {
        vec![Column::for_field("id", ColumnType::Json), Column::for_field("v", kind)]
    }

    #[test]
    fn typed_field_table() {
        use ColumnType::*;
        let cases: &[(ColumnType, Value, &str)] = &[
            (String, json!("a,b"), "\"a,b\""),
            (String, json!(12), "12"),
            (Int64, json!(12), "12"),
            (Int64, json!(12.0), "12"),
            (Float64, json!(12), "12.0"),
            (Float64, json!(0.1), "0.1"),
            (Bool, json!(true), "true"),
            (Date, json!("2023-01-31T09:24:30"), "2023-01-31"),
            (Timestamp, json!("2023-01-31T09:24:30.2"), "2023-01-31T09:24:30.200000Z"),
            (
                Timestamp,
                json!("2023-01-31T11:24:30+02:00"),
                "2023-01-31T09:24:30.000000Z",
            ),
            (ListString, json!(["62", null]), "\"[\"\"62\"\",null]\""),
            (ListInt64, json!([1, 2]), "\"[1,2]\""),
            (ListFloat64, json!([24.9, 60]), "\"[24.9,60.0]\""),
            // A json column holds JSON text in every format: a string keeps its quotes.
            (Json, json!("raw"), "\"\"\"raw\"\"\""),
            (Json, json!(true), "true"),
            (Json, json!({"k": [1]}), "\"{\"\"k\"\":[1]}\""),
            (Int64, Value::Null, ""),
        ];
        for (kind, value, want) in cases {
            let text = encode(&typed(*kind), &[json!({"id": 1, "v": value})]);
            assert_eq!(text, format!("id,v\n1,{want}\n"), "{} <- {value}", kind.name());
        }
    }

    #[test]
    fn typed_mismatch_fails_naming_record_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.csv");
        let cols = typed(ColumnType::Int64);
        let mut enc: Box<dyn PartEncoder> =
            Box::new(CsvEncoder::new(&cols, PartSink::create(&path).unwrap(), Compression::None).unwrap());
        let records = [json!({"id": 1, "v": 1}), json!({"id": 2, "v": "12"})];
        let err = enc.write(&records, 500, &mut TypeErrors::default()).unwrap_err();
        match err {
            SinkError::Encode {
                record, column, reason, ..
            } => {
                assert_eq!((record, column.as_str()), (501, "v"));
                assert!(reason.contains("\"12\""), "{reason}");
            }
            other => panic!("expected Encode, got {other:?}"),
        }
    }

    #[test]
    fn disk_full_is_an_io_error_naming_the_file() {
        let Ok(file) = OpenOptions::new().write(true).open("/dev/full") else {
            return; // no /dev/full on this system: nothing to simulate with
        };
        let path = std::path::Path::new("/dev/full");
        let cols = columns(&["id"]);
        let result = CsvEncoder::new(&cols, PartSink::from_file(file, path), Compression::None).and_then(|enc| {
            let mut enc: Box<dyn PartEncoder> = Box::new(enc);
            let big = vec![json!({"id": "x".repeat(1000)}); 1000];
            enc.write(&big, 0, &mut TypeErrors::default())?;
            enc.finish()
        });
        match result {
            Err(SinkError::Io { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
            }
            other => panic!("expected an Io error, got {other:?}"),
        }
    }
}

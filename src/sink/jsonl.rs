//! JSON Lines part encoder: one compact JSON object per record, keys = the
//! column names in column order, `\n` after every line, non-ASCII as raw
//! UTF-8. Values are converted to their column types first
//! (`schema::TypeErrors`) and written as JSON: numbers, bools and strings as
//! themselves, dates `"2023-01-31"`, timestamps
//! `"2023-01-31T09:24:30.201000Z"`, lists as arrays, null when missing; a
//! `json` column writes the extracted value unchanged.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde_json::Value;

use super::batch_text::write_json_at;
use super::compress::{Compressed, PartSink, SinkSummary};
use super::encoder::{PartEncoder, WRITE_BUFFER_BYTES, check_batch, type_error, write_cell_json};
use super::error::SinkError;
use crate::decode::DecodedBatch;
use crate::job::Compression;
use crate::schema::{Column, TypeErrors};

pub struct JsonlEncoder {
    out: BufWriter<Compressed>,
    /// Per column, its key already encoded: `"name":` (with a leading `,` after the first).
    keys: Vec<Vec<u8>>,
    columns: Vec<Column>,
    path: PathBuf,
}

impl JsonlEncoder {
    pub fn new(columns: &[Column], sink: PartSink, compression: Compression) -> Result<JsonlEncoder, SinkError> {
        let path = sink.path().to_path_buf();
        let out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, Compressed::new(sink, compression, "jsonl")?);
        let mut keys = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let mut key = Vec::with_capacity(column.name.len() + 4);
            key.push(if i == 0 { b'{' } else { b',' });
            serde_json::to_writer(&mut key, &column.name).map_err(|e| SinkError::Encode {
                path: path.clone(),
                record: 0,
                column: column.name.clone(),
                reason: e.to_string(),
            })?;
            key.push(b':');
            keys.push(key);
        }
        Ok(JsonlEncoder {
            out,
            keys,
            columns: columns.to_vec(),
            path,
        })
    }

    fn write_record(&mut self, record: &Value, index: u64, errors: &mut TypeErrors) -> Result<(), SinkError> {
        let path = &self.path;
        let io = |source| SinkError::Io {
            path: path.clone(),
            source,
        };
        if self.keys.is_empty() {
            self.out.write_all(b"{").map_err(io)?;
        }
        for (key, column) in self.keys.iter().zip(&self.columns) {
            let value = column.path.extract(record);
            let cell = errors.convert(column, &value, index).map_err(|m| type_error(path, m))?;
            self.out.write_all(key).map_err(io)?;
            write_cell_json(&mut self.out, &cell).map_err(io)?;
        }
        self.out.write_all(b"}\n").map_err(io)
    }
}

impl PartEncoder for JsonlEncoder {
    fn write(&mut self, records: &[Value], first_record: u64, errors: &mut TypeErrors) -> Result<(), SinkError> {
        for (i, record) in records.iter().enumerate() {
            self.write_record(record, first_record.saturating_add(i as u64), errors)?;
        }
        Ok(())
    }

    fn write_batch(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        check_batch(&self.path, &self.columns, decoded)?;
        let path = &self.path;
        let io = |source| SinkError::Io {
            path: path.clone(),
            source,
        };
        let batch = &decoded.batch;
        for row in 0..batch.num_rows() {
            if self.keys.is_empty() {
                self.out.write_all(b"{").map_err(io)?;
            }
            for (c, (key, column)) in self.keys.iter().zip(&self.columns).enumerate() {
                self.out.write_all(key).map_err(io)?;
                write_json_at(&mut self.out, column.kind, batch.column(c).as_ref(), row).map_err(io)?;
            }
            self.out.write_all(b"}\n").map_err(io)?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, SinkError> {
        let path = self.path;
        let out = self.out.into_inner().map_err(|e| SinkError::Io {
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

    fn encode(paths: &[&str], records: &[Value], compression: Compression) -> Vec<u8> {
        let cols: Vec<Column> = paths.iter().map(|p| Column::for_field(p, ColumnType::Json)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.jsonl");
        let mut enc: Box<dyn PartEncoder> =
            Box::new(JsonlEncoder::new(&cols, PartSink::create(&path).unwrap(), compression).unwrap());
        enc.write(records, 0, &mut TypeErrors::default()).unwrap();
        enc.finish().unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn lines_table() {
        let cases: &[(Value, &str)] = &[
            (
                json!({"id": "FI1", "fd": {"revenue": 10}}),
                r#"{"id":"FI1","fd_revenue":10}"#,
            ),
            (
                json!({"id": "Äö 株式会社"}),
                r#"{"id":"Äö 株式会社","fd_revenue":null}"#,
            ),
            (
                json!({"id": "a\"b\nc", "fd": null}),
                r#"{"id":"a\"b\nc","fd_revenue":null}"#,
            ),
            (json!({"fd": {"revenue": 0.1}}), r#"{"id":null,"fd_revenue":0.1}"#),
            (
                json!({"id": [1, {"x": []}], "fd": {"revenue": 18446744073709551615u64}}),
                r#"{"id":[1,{"x":[]}],"fd_revenue":18446744073709551615}"#,
            ),
        ];
        for (record, want) in cases {
            let text = encode(&["id", "fd.revenue"], std::slice::from_ref(record), Compression::None);
            assert_eq!(String::from_utf8(text).unwrap(), format!("{want}\n"), "record {record}");
        }
    }

    #[test]
    fn empty_run_is_an_empty_file() {
        assert!(encode(&["id"], &[], Compression::None).is_empty());
    }

    #[test]
    fn round_trips_with_serde_json() {
        let records: Vec<Value> = (0..50)
            .map(|i| {
                json!({"id": format!("FI{i}"), "name": "Örebro, \"AB\"\n", "ind": [{"code": i}, {}],
                           "n": f64::from(i) / 3.0})
            })
            .collect();
        let text = String::from_utf8(encode(&["id", "name", "ind.code", "n"], &records, Compression::None)).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 50);
        for (line, record) in lines.iter().zip(&records) {
            let back: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
            let keys: Vec<&str> = back.keys().map(String::as_str).collect();
            assert_eq!(keys, ["id", "name", "ind_code", "n"]);
            assert_eq!(back["id"], record["id"]);
            assert_eq!(back["name"], record["name"]);
            assert_eq!(back["ind_code"], json!([record["ind"][0]["code"], null]));
            assert_eq!(back["n"], record["n"]);
        }
    }

    #[test]
    fn typed_values_are_written_converted() {
        let cols = vec![
            Column::for_field("i", ColumnType::Int64),
            Column::for_field("f", ColumnType::Float64),
            Column::for_field("d", ColumnType::Date),
            Column::for_field("t", ColumnType::Timestamp),
            Column::for_field("l.c", ColumnType::ListString),
            Column::for_field("s", ColumnType::String),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.jsonl");
        let mut enc: Box<dyn PartEncoder> =
            Box::new(JsonlEncoder::new(&cols, PartSink::create(&path).unwrap(), Compression::None).unwrap());
        let record = json!({"i": 3.0, "f": 2, "d": "2023-01-31", "t": "2023-01-31 09:24:30",
                            "l": [{"c": "62"}, {}], "s": 5, "x": "bad"});
        let mut errors = TypeErrors::new(crate::schema::OnTypeError::Null);
        enc.write(&[record, json!({"i": "x"})], 0, &mut errors).unwrap();
        enc.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"i\":3,\"f\":2.0,\"d\":\"2023-01-31\",\"t\":\"2023-01-31T09:24:30.000000Z\",\
             \"l_c\":[\"62\",null],\"s\":\"5\"}\n\
             {\"i\":null,\"f\":null,\"d\":null,\"t\":null,\"l_c\":null,\"s\":null}\n"
        );
        assert_eq!(errors.counts().get("i"), Some(&1));
    }

    #[test]
    fn no_columns_gives_empty_objects() {
        let text = encode(&[], &[json!({"a": 1})], Compression::None);
        assert_eq!(text, b"{}\n");
    }
}

//! Differential property test of the writer seam: CSV and JSON Lines
//! encoded from a decoded batch (`PartEncoder::write_batch`) are byte for
//! byte what the encoders write from the `Value` records of the same page
//! (`PartEncoder::write`), and Parquet from either reads back equal.

use proptest::prelude::*;
use serde_json::Value;

use super::PageDecoder;
use super::diff_tests::{columns, page};
use crate::fetch::extract_records;
use crate::job::{Compression, Format, RecordsAt};
use crate::schema::{OnTypeError, TypeErrors};
use crate::sink::{PartSink, open_encoder};

/// One part file of `format` written by `fill`, as bytes.
fn part(format: Format, fill: impl FnOnce(&mut dyn crate::sink::PartEncoder)) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part");
    let mut enc = open_encoder(
        format,
        Compression::None,
        &columns(true),
        PartSink::create(&path).unwrap(),
    )
    .unwrap();
    fill(enc.as_mut());
    enc.finish().unwrap();
    std::fs::read(&path).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn text_from_batch_equals_text_from_records((body, _) in page()) {
        let Ok(value) = serde_json::from_str::<Value>(&body) else { return Ok(()) };
        let Ok(page) = extract_records(value, &RecordsAt::Auto) else { return Ok(()) };
        let records = page.records;
        let decoder = PageDecoder::new(&columns(true), Some("id"), RecordsAt::Auto);
        let decoded = decoder.decode_page(body.as_bytes(), 100, &mut TypeErrors::new(OnTypeError::Null)).unwrap();
        for format in [Format::Csv, Format::Jsonl] {
            let want = part(format, |e| e.write(&records, 100, &mut TypeErrors::new(OnTypeError::Null)).unwrap());
            let got = part(format, |e| e.write_batch(&decoded).unwrap());
            prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{:?} of {}", format, body);
        }
    }
}

#[test]
fn parquet_from_batch_reads_back_equal() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let body = br#"[{"id": "FI1", "s": "x", "n": {"i": 3}, "l": [{"code": "62"}], "j": "text", "m": {"k": "v"}},
                    {"id": "FI2", "d": "2023-01-31", "t": "2023-01-31T09:24:30", "li": [1, null]}]"#;
    let decoder = PageDecoder::new(&columns(true), Some("id"), RecordsAt::Auto);
    let decoded = decoder
        .decode_page(body, 0, &mut TypeErrors::new(OnTypeError::Fail))
        .unwrap();
    let records: Vec<Value> = serde_json::from_slice(body).unwrap();
    let read = |bytes: Vec<u8>| {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        reader.map(Result::unwrap).collect::<Vec<_>>()
    };
    let want = read(part(Format::Parquet, |e| {
        e.write(&records, 0, &mut TypeErrors::new(OnTypeError::Fail)).unwrap()
    }));
    let got = read(part(Format::Parquet, |e| e.write_batch(&decoded).unwrap()));
    assert_eq!(got, want);
    assert_eq!(got[0].num_rows(), 2);
}

//! Tests of `parquet.rs`: parts read back with the parquet crate's reader
//! value by value, row-group size, codecs, statistics, created_by, the
//! dictionary fallback of unique columns, empty
//! parts, type errors under both policies, a full disk, and a whole
//! snapshot with rotation and the manifest's type_errors.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaData;
use serde_json::json;

use super::*;
use crate::job::Format;
use crate::schema::{ColumnType, FieldPath, OnTypeError};
use crate::sink::manifest::{Manifest, ManifestApi, ManifestRequest, Stats};
use crate::sink::snapshot::{SnapshotOptions, SnapshotWriter};

fn col(name: &str, path: &str, kind: ColumnType) -> Column {
    Column {
        name: name.into(),
        path: FieldPath::parse(path),
        kind,
        nullable: true,
    }
}

fn org_columns() -> Vec<Column> {
    let mut id = col("business_id", "business_id", ColumnType::String);
    id.nullable = false;
    vec![
        id,
        col("founded", "founded", ColumnType::Date),
        col("revenue", "financial_data.revenue", ColumnType::Int64),
        col("active", "active", ColumnType::Bool),
        col("industry_codes", "official_industries.code", ColumnType::ListString),
        col("official_industries", "official_industries", ColumnType::Json),
        col("coordinates", "visiting_address.coordinates", ColumnType::ListFloat64),
        col("years", "years", ColumnType::ListInt64),
        col("modified_at", "modifications.basic", ColumnType::Timestamp),
        col("score", "score", ColumnType::Float64),
    ]
}

/// Writes `records` as one part; returns the summary or the error.
fn write_part(
    path: &Path,
    columns: &[Column],
    records: &[Value],
    compression: Compression,
    errors: &mut TypeErrors,
) -> Result<SinkSummary, SinkError> {
    let sink = PartSink::create(path)?;
    let mut enc: Box<dyn PartEncoder> = Box::new(ParquetEncoder::new(columns, sink, compression)?);
    // In pages of 100, as the API delivers them.
    for (i, page) in records.chunks(100).enumerate() {
        enc.write(page, (i * 100) as u64, errors)?;
    }
    enc.finish()
}

fn read(path: &Path) -> (ParquetMetaData, Vec<RecordBatch>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let meta = builder.metadata().as_ref().clone();
    let batches = builder.build().unwrap().map(|b| b.unwrap()).collect();
    (meta, batches)
}

#[test]
fn values_read_back_value_by_value() {
    let records = vec![
        json!({"business_id": "FI1", "founded": "2001-02-03", "financial_data": {"revenue": 120},
               "active": true, "official_industries": [{"code": "62", "description": "Ä, \"x\""}, {}],
               "visiting_address": {"coordinates": [24.93, 60.17]}, "years": [2020, null],
               "modifications": {"basic": "2023-01-31T09:24:30.201000"}, "score": 0.5}),
        json!({"business_id": "FI2"}),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part-00000.parquet");
    let summary = write_part(
        &path,
        &org_columns(),
        &records,
        Compression::Zstd,
        &mut TypeErrors::default(),
    )
    .unwrap();
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(summary.bytes, on_disk.len() as u64);
    let (meta, batches) = read(&path);
    assert_eq!(meta.file_metadata().num_rows(), 2);
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    let schema = b.schema();
    assert!(!schema.field(0).is_nullable());
    assert_eq!(
        schema.field(8).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(b.column(0).as_string::<i32>().value(0), "FI1");
    assert_eq!(b.column(0).as_string::<i32>().value(1), "FI2");
    assert_eq!(b.column(1).as_primitive::<Date32Type>().value(0), 11_356);
    assert_eq!(b.column(2).as_primitive::<Int64Type>().value(0), 120);
    assert!(b.column(3).as_boolean().value(0));
    let codes = b.column(4).as_list::<i32>().value(0);
    let codes = codes.as_string::<i32>();
    assert_eq!((codes.len(), codes.value(0), codes.is_null(1)), (2, "62", true));
    assert_eq!(
        b.column(5).as_string::<i32>().value(0),
        r#"[{"code":"62","description":"Ä, \"x\""},{}]"#
    );
    let coords = b.column(6).as_list::<i32>().value(0);
    assert_eq!(
        coords.as_primitive::<Float64Type>().values().to_vec(),
        vec![24.93, 60.17]
    );
    let years = b.column(7).as_list::<i32>().value(0);
    assert_eq!(years.as_primitive::<Int64Type>().value(0), 2020);
    assert!(years.is_null(1));
    assert_eq!(
        b.column(8).as_primitive::<TimestampMicrosecondType>().value(0),
        1_675_157_070_201_000
    );
    assert_eq!(b.column(9).as_primitive::<Float64Type>().value(0), 0.5);
    for c in 1..b.num_columns() {
        assert!(b.column(c).is_null(1), "column {c} of the sparse record");
    }
}

#[test]
fn row_groups_hold_at_most_64_ki_rows() {
    let columns = vec![col("i", "i", ColumnType::Int64)];
    let records: Vec<Value> = (0..70_000).map(|i| json!({"i": i})).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    write_part(&path, &columns, &records, Compression::Zstd, &mut TypeErrors::default()).unwrap();
    let (meta, batches) = read(&path);
    let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(groups, [65_536, 4_464]);
    let back: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(back, (0..70_000).collect::<Vec<i64>>());
}

#[test]
fn every_codec_is_readable_and_recorded() {
    use parquet::basic::Compression as Codec;
    let records: Vec<Value> = (0..1000)
        .map(|i| json!({"business_id": format!("FI{i:07}"), "financial_data": {"revenue": i * 10}}))
        .collect();
    let cases = [
        (Compression::Zstd, "ZSTD"),
        (Compression::Snappy, "SNAPPY"),
        (Compression::Gzip, "GZIP"),
        (Compression::None, "UNCOMPRESSED"),
    ];
    for (compression, name) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        write_part(&path, &org_columns(), &records, compression, &mut TypeErrors::default()).unwrap();
        let (meta, batches) = read(&path);
        let codec = meta.row_group(0).column(0).compression();
        assert!(codec.to_string().starts_with(name), "{compression:?}: {codec}");
        assert_eq!(codec == Codec::UNCOMPRESSED, compression == Compression::None);
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 1000, "{compression:?}");
        assert_eq!(
            batches[0].column(0).as_string::<i32>().value(999),
            "FI0000999",
            "{compression:?}"
        );
    }
}

#[test]
fn statistics_and_created_by_are_written() {
    let records: Vec<Value> = (0..500)
        .map(|i| json!({"business_id": format!("FI{i:03}"), "financial_data": {"revenue": i - 100}}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    write_part(
        &path,
        &org_columns(),
        &records,
        Compression::Zstd,
        &mut TypeErrors::default(),
    )
    .unwrap();
    let (meta, _) = read(&path);
    let created_by = meta.file_metadata().created_by().unwrap_or("");
    assert_eq!(created_by, format!("orgsync {}", env!("CARGO_PKG_VERSION")));
    let revenue = meta.row_group(0).column(2);
    let stats = revenue.statistics().expect("statistics on the revenue column");
    match stats {
        parquet::file::statistics::Statistics::Int64(s) => {
            assert_eq!((s.min_opt(), s.max_opt()), (Some(&-100), Some(&399)));
        }
        other => panic!("unexpected statistics {other:?}"),
    }
    let founded = meta.row_group(0).column(1).statistics().expect("statistics");
    assert_eq!(founded.null_count_opt(), Some(500));
    assert!(
        revenue.column_index_offset().is_some(),
        "page-level statistics (column index)"
    );
}

/// The dictionary rule of `writer_properties` (`DICTIONARY_PAGE_BYTES`):
/// a column of unique values falls back to PLAIN data pages once its
/// dictionary holds 64 KiB, one of few values stays dictionary-encoded,
/// and both keep their row-group min/max and read back value by value.
#[test]
fn unique_columns_leave_the_dictionary_few_valued_ones_keep_it() {
    use parquet::basic::Encoding;
    use parquet::file::statistics::Statistics;
    let forms = ["Oy", "Oyj", "Ay", "Ky"];
    let columns = vec![
        col("business_id", "business_id", ColumnType::String),
        col("legal_entity", "legal_entity", ColumnType::String),
    ];
    // 20 000 unique ids of 9 bytes: ~260 KB of dictionary at 1 MiB's limit.
    let records: Vec<Value> = (0..20_000)
        .map(|i| json!({"business_id": format!("FI{i:07}"), "legal_entity": forms[i % 4]}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    write_part(&path, &columns, &records, Compression::Zstd, &mut TypeErrors::default()).unwrap();
    let (meta, batches) = read(&path);
    let group = meta.row_group(0);
    let data_pages = |i: usize| *group.column(i).page_encoding_stats_mask().expect("page encoding stats");
    let id = data_pages(0);
    assert!(
        id.is_set(Encoding::RLE_DICTIONARY) && id.is_set(Encoding::PLAIN),
        "business_id: dictionary pages, then PLAIN after the fallback: {:?}",
        id.encodings().collect::<Vec<_>>()
    );
    assert!(
        data_pages(1).is_only(Encoding::RLE_DICTIONARY),
        "legal_entity keeps its dictionary"
    );
    match group.column(0).statistics() {
        Some(Statistics::ByteArray(s)) => {
            let (min, max) = (
                s.min_opt().unwrap().as_utf8().unwrap(),
                s.max_opt().unwrap().as_utf8().unwrap(),
            );
            assert_eq!((min, max), ("FI0000000", "FI0019999"));
        }
        other => panic!("row-group min/max of business_id: {other:?}"),
    }
    assert!(
        group
            .column(1)
            .statistics()
            .is_some_and(|s| s.min_bytes_opt().is_some())
    );
    let ids: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, (0..20_000).map(|i| format!("FI{i:07}")).collect::<Vec<_>>());
    let forms_back: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            b.column(1)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        forms_back,
        (0..20_000).map(|i| forms[i % 4].to_string()).collect::<Vec<_>>()
    );
}

#[test]
fn empty_part_is_a_zero_row_file_with_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    write_part(
        &path,
        &org_columns(),
        &[],
        Compression::Zstd,
        &mut TypeErrors::default(),
    )
    .unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    assert_eq!(builder.metadata().file_metadata().num_rows(), 0);
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let want: Vec<String> = org_columns().iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, want);
    assert_eq!(
        builder.schema().field(6).data_type(),
        &crate::schema::arrow_type(ColumnType::ListFloat64)
    );
}

#[test]
fn type_error_under_fail_names_record_column_and_value() {
    let mut records: Vec<Value> = (0..250)
        .map(|i| json!({"business_id": format!("FI{i}"), "financial_data": {"revenue": i}}))
        .collect();
    records[237]["financial_data"]["revenue"] = json!("12 MEUR");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    let err = write_part(
        &path,
        &org_columns(),
        &records,
        Compression::Zstd,
        &mut TypeErrors::new(OnTypeError::Fail),
    )
    .unwrap_err();
    match &err {
        SinkError::Encode {
            path: p,
            record,
            column,
            reason,
        } => {
            assert_eq!((p, *record, column.as_str()), (&path, 237, "revenue"));
            assert!(reason.contains("\"12 MEUR\"") && reason.contains("int64"), "{reason}");
            assert!(reason.contains("on_type_error"), "{reason}");
        }
        other => panic!("expected Encode, got {other:?}"),
    }
    assert_eq!(crate::exit::ExitStatus::exit(&err), crate::exit::Exit::Failed);
}

#[test]
fn type_error_under_null_writes_null_and_counts() {
    let records = vec![
        json!({"business_id": "FI1", "financial_data": {"revenue": "n/a"}, "founded": "someday"}),
        json!({"business_id": "FI2", "financial_data": {"revenue": 5}, "founded": "2020-01-01"}),
        json!({"business_id": "FI3", "financial_data": {"revenue": 1.5}}),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    let mut errors = TypeErrors::new(OnTypeError::Null);
    write_part(&path, &org_columns(), &records, Compression::Zstd, &mut errors).unwrap();
    let want: BTreeMap<String, u64> = [("founded".to_string(), 1), ("revenue".to_string(), 2)].into();
    assert_eq!(errors.counts(), &want);
    let (_, batches) = read(&path);
    let revenue = batches[0].column(2).as_primitive::<Int64Type>();
    assert_eq!(
        (revenue.is_null(0), revenue.value(1), revenue.is_null(2)),
        (true, 5, true)
    );
    // A null key in a non-nullable column fails even under "null".
    let path = dir.path().join("q.parquet");
    let err = write_part(
        &path,
        &org_columns(),
        &[json!({"name": "x"})],
        Compression::Zstd,
        &mut errors,
    )
    .unwrap_err();
    assert!(
        matches!(&err, SinkError::Encode { column, .. } if column == "business_id"),
        "{err}"
    );
}

#[test]
fn disk_full_is_an_io_error_naming_the_file() {
    let Ok(file) = OpenOptions::new().write(true).open("/dev/full") else {
        return; // no /dev/full on this system
    };
    let path = Path::new("/dev/full");
    let columns = vec![col("s", "s", ColumnType::String)];
    let records: Vec<Value> = (0..20_000)
        .map(|i| json!({"s": format!("{i}-{}", "x".repeat(100))}))
        .collect();
    let result = ParquetEncoder::new(&columns, PartSink::from_file(file, path), Compression::None).and_then(|enc| {
        let mut enc: Box<dyn PartEncoder> = Box::new(enc);
        enc.write(&records, 0, &mut TypeErrors::default())?;
        enc.finish()
    });
    match result {
        Err(SinkError::Io { path: p, source }) => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
        }
        Err(SinkError::Parquet { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(reason.contains("No space left"), "{reason}");
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
}

fn manifest() -> Manifest {
    Manifest {
        job: "j".into(),
        run_id: "r".into(),
        orgsync_version: "0".into(),
        started_at: String::new(),
        finished_at: String::new(),
        api: ManifestApi {
            base_url: String::new(),
            path: String::new(),
            database: "FI".into(),
        },
        request: ManifestRequest {
            body: json!({}),
            sha256: String::new(),
        },
        incremental: None,
        format: String::new(),
        compression: String::new(),
        records: 0,
        expected_records: None,
        duplicates_dropped: 0,
        type_errors: BTreeMap::new(),
        files: Vec::new(),
        schema: Vec::new(),
        empty_columns: Vec::new(),
        schema_changes: Vec::new(),
        stats: Stats::default(),
        mode: "pages".into(),
        export: None,
    }
}

#[test]
fn snapshot_rotates_parquet_parts_and_merges_type_errors() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    let opts = SnapshotOptions {
        format: Format::Parquet,
        compression: Compression::Zstd,
        rows_per_file: 250,
        columns: org_columns(),
        on_type_error: OnTypeError::Null,
    };
    let mut w = SnapshotWriter::create(&target, opts).unwrap();
    let records: Vec<Value> = (0..600)
        .map(|i| {
            let revenue = if i % 100 == 7 { json!("bad") } else { json!(i) };
            json!({"business_id": format!("FI{i:04}"), "financial_data": {"revenue": revenue}})
        })
        .collect();
    for page in records.chunks(100) {
        w.write(page).unwrap();
    }
    let published = w.finish(manifest(), false).unwrap();
    let m = &published.manifest;
    let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    );
    assert_eq!(m.files.iter().map(|f| f.records).collect::<Vec<_>>(), [250, 250, 100]);
    assert_eq!(m.type_errors.get("revenue"), Some(&6));
    assert_eq!((m.format.as_str(), m.compression.as_str()), ("parquet", "zstd"));
    let mut ids = Vec::new();
    for f in &m.files {
        let (meta, batches) = read(&target.join(&f.name));
        assert_eq!(meta.file_metadata().num_rows() as u64, f.records);
        assert_eq!(std::fs::metadata(target.join(&f.name)).unwrap().len(), f.bytes);
        for b in batches {
            let col = b.column(0).as_string::<i32>();
            ids.extend((0..col.len()).map(|i| col.value(i).to_string()));
        }
    }
    let want: Vec<String> = (0..600).map(|i| format!("FI{i:04}")).collect();
    assert_eq!(ids, want);
}

#[test]
fn organizations_schema_takes_sandbox_shaped_records_without_type_errors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/organizations.toml");
    let schema = crate::schema::load_schema(&path, &[]).unwrap();
    let records = vec![
        json!({"business_id": "FI10000003", "name": "Mäkelä \"Oy\", Ab\nc/o X", "founded": "1998-04-30",
               "legal_entity": "osakeyhtiö",
               "official_industries": [{"code": "62010", "description": "Ohjelmistot"}],
               "financial_data": {"revenue": 1_200_000, "employees": 8, "year": 2023, "profit": -36_000},
               "visiting_address": {"city": "Helsinki", "postal_code": "00100", "coordinates": [24.941, 60.17]},
               "technology_data": [{"name": "React"}, {"name": "AWS"}],
               "modifications": {"basic": "2024-03-01T10:00:00.000001", "financial_statements": "2024-03-01T10:00:00.000000"}}),
        json!({"business_id": "FI10000010", "name": "Tyhjä Oy", "founded": null, "legal_entity": "osakeyhtiö",
               "official_industries": [], "financial_data": null, "visiting_address": null,
               "technology_data": [], "modifications": {"basic": "2024-01-01T00:00:00.000000"}}),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.parquet");
    let mut errors = TypeErrors::new(OnTypeError::Fail);
    write_part(&out, &schema.columns, &records, Compression::Zstd, &mut errors).unwrap();
    let (meta, batches) = read(&out);
    assert_eq!(meta.file_metadata().num_rows(), 2);
    let names: Vec<String> = batches[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    let want: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, want);
    let tech = batches[0].schema().index_of("technologies").unwrap();
    let tech = batches[0].column(tech).as_list::<i32>();
    assert_eq!(
        (tech.value(0).len(), tech.value(1).len(), tech.is_null(1)),
        (2, 0, false)
    );
}

/// The rows as one decoded batch (the decoder's output type) starting at
/// API offset `first`.
fn decoded(columns: &[Column], records: &[Value], first: u64) -> crate::decode::DecodedBatch {
    let mut builder = BatchBuilder::new(columns);
    let mut errors = TypeErrors::default();
    for (i, record) in records.iter().enumerate() {
        builder.append(record, first + i as u64, &mut errors).unwrap();
    }
    crate::decode::DecodedBatch {
        batch: builder.finish().unwrap(),
        key_hashes: None,
        first_offset: first,
        count: None,
        path: crate::decode::DecodePath::Scanned,
    }
}

/// The same rows make the same file, byte for byte, whatever batches they
/// arrive in: pages of 100, export-like batches cut at odd sizes, one batch.
#[test]
fn the_same_rows_make_the_same_file_whatever_their_batches() {
    let columns = org_columns();
    let records: Vec<Value> = (0..30_000)
        .map(|i| {
            json!({"business_id": format!("FI{i:08}"), "founded": "2001-02-03", "financial_data": {"revenue": i * 7},
                   "official_industries": [{"code": format!("{}", i % 13)}], "visiting_address": {"coordinates": [24.5, 60.1]},
                   "modifications": {"basic": "2024-03-31T20:20:36.449982"}, "score": i as f64 / 3.0})
        })
        .collect();
    let splits: [&[usize]; 3] = [&[100], &[37, 1000, 5003, 8191, 1, 8192, 777], &[30_000]];
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (n, sizes) in splits.iter().enumerate() {
        let path = dir.path().join(format!("p{n}.parquet"));
        let mut enc = ParquetEncoder::new(&columns, PartSink::create(&path).unwrap(), Compression::Zstd).unwrap();
        let (mut at, mut k) = (0, 0);
        while at < records.len() {
            let size = sizes[k % sizes.len()].min(records.len() - at);
            enc.write_batch(&decoded(&columns, &records[at..at + size], at as u64))
                .unwrap();
            at += size;
            k += 1;
        }
        Box::new(enc).finish().unwrap();
        files.push(std::fs::read(&path).unwrap());
    }
    let (meta, batches) = read(&dir.path().join("p1.parquet"));
    assert_eq!(meta.file_metadata().num_rows(), 30_000);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 30_000);
    assert!(files[0] == files[1], "pages of 100 and odd batches: different bytes");
    assert!(files[0] == files[2], "pages of 100 and one batch: different bytes");
}

//! Typed snapshots through the real binary: Parquet files read back with the
//! parquet crate's Arrow reader and compared value by value with the
//! sandbox's data set (with the repository's schema file and with inferred
//! types), both type-error policies, part rotation, empty results, and
//! `schema infer` round-tripping through `validate`.

mod common;

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use common::*;
use orgsync::schema::FieldPath;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn read_parquet(snapshot: &Path) -> (Vec<RecordBatch>, Vec<usize>) {
    let mut batches = Vec::new();
    let mut rows_per_file = Vec::new();
    for part in parts(snapshot) {
        assert_eq!(
            part.extension().and_then(|e| e.to_str()),
            Some("parquet"),
            "{}",
            part.display()
        );
        let file = std::fs::File::open(&part).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        let mut rows = 0;
        for batch in reader {
            let batch = batch.unwrap();
            rows += batch.num_rows();
            batches.push(batch);
        }
        rows_per_file.push(rows);
    }
    (batches, rows_per_file)
}

/// What the column of `kind` must hold for a data-set value, computed here
/// independently of orgsync's own conversion code.
fn expected_cell(kind: &str, v: &Value) -> Value {
    match (kind, v) {
        (_, Value::Null) => Value::Null,
        ("date", Value::String(s)) => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
            Value::from((d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days())
        }
        ("timestamp", Value::String(s)) => {
            let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap();
            Value::from(t.and_utc().timestamp_micros())
        }
        ("json", v) => Value::String(v.to_string()),
        (_, v) => v.clone(),
    }
}

/// Row `i` of `array` as JSON, for comparison (dates as days, timestamps as
/// microseconds, lists as arrays).
fn cell(array: &ArrayRef, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(i)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => Value::from(array.as_boolean().value(i)),
        DataType::Date32 => Value::from(array.as_primitive::<arrow_array::types::Date32Type>().value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => {
            assert_eq!(tz.as_ref(), "UTC");
            Value::from(
                array
                    .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                    .value(i),
            )
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(i);
            Value::Array((0..list.len()).map(|j| cell(&list, j)).collect())
        }
        other => panic!("unexpected Arrow type {other}"),
    }
}

/// Compare every column of every row of a Parquet snapshot with the data
/// set, using the column paths and types its manifest records.
fn assert_parquet_matches(snapshot: &Path, data: &orgsync::sandbox::Dataset, keep: impl Fn(&Value) -> bool) -> usize {
    let m = manifest(snapshot);
    let columns: Vec<(String, FieldPath, String)> = m["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                FieldPath::parse(c["path"].as_str().unwrap()),
                c["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<Value> = (0..data.len())
        .map(|i| data.record("FI", i))
        .filter(|r| keep(r))
        .collect();
    let (batches, _) = read_parquet(snapshot);
    let mut row = 0;
    for batch in &batches {
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>());
        for i in 0..batch.num_rows() {
            for (j, (name, path, kind)) in columns.iter().enumerate() {
                let want = expected_cell(kind, &path.extract_value(&expected[row]));
                assert_eq!(cell(batch.column(j), i), want, "row {row}, column {name} ({kind})");
            }
            row += 1;
        }
    }
    assert_eq!(row, expected.len(), "row count");
    row
}

fn repo_schema() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/organizations.toml")
        .display()
        .to_string()
}

#[test]
fn parquet_with_the_repository_schema_matches_the_data_set_value_by_value() {
    let sandbox = TestSandbox::with_records(1000);
    let ws = Workspace::new();
    let toml = job_toml(
        &sandbox.base_url(),
        "parquet",
        &[],
        &format!("schema = {:?}\nrows_per_file = 250", repo_schema()),
    )
    .replace("fields = []\n", "");
    let job = ws.job("typed", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let snapshot = ws.path().join("exports/typed");
    let rows = assert_parquet_matches(&snapshot, &sandbox.dataset(), |_| true);
    assert_eq!(rows, 1000);
    let (_, per_file) = read_parquet(&snapshot);
    assert_eq!(
        per_file,
        vec![250, 250, 250, 250],
        "rows_per_file 250 over 1,000 records"
    );
    let types = manifest_types(&snapshot);
    assert!(types.contains(&("modified_at".into(), "timestamp".into())), "{types:?}");
    assert!(
        types.contains(&("industry_codes".into(), "list<string>".into())),
        "{types:?}"
    );
    // The request asked the API for exactly the schema's paths.
    let asked = &manifest(&snapshot)["request"]["body"]["fields"];
    assert!(
        asked.as_array().unwrap().iter().any(|f| f == "financial_data.revenue"),
        "{asked}"
    );
    // zstd by default, statistics on.
    let file = std::fs::File::open(&parts(&snapshot)[0]).unwrap();
    let meta = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .metadata()
        .clone();
    let col = meta.row_group(0).column(0);
    assert!(
        col.compression().to_string().starts_with("ZSTD"),
        "{}",
        col.compression()
    );
    assert!(col.statistics().is_some(), "statistics written");
}

#[test]
fn parquet_without_a_schema_infers_types_and_matches_the_data_set() {
    let sandbox = TestSandbox::with_records(300);
    let ws = Workspace::new();
    let fields = [
        "business_id",
        "name",
        "founded",
        "financial_data.revenue",
        "official_industries.code",
        "visiting_address.coordinates",
        "financial_data",
        "modifications.basic",
    ];
    let job = ws.job("inferred", &job_toml(&sandbox.base_url(), "parquet", &fields, ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let snapshot = ws.path().join("exports/inferred");
    let types: Vec<String> = manifest_types(&snapshot).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        types,
        [
            "string",
            "string",
            "date",
            "int64",
            "list<string>",
            "list<float64>",
            "json",
            "timestamp"
        ]
    );
    assert_eq!(assert_parquet_matches(&snapshot, &sandbox.dataset(), |_| true), 300);
}

fn bad_schema(ws: &Workspace, policy: &str) -> String {
    let path = ws.path().join("schemas/bad.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!(
            "on_type_error = \"{policy}\"\n\n[[columns]]\nname = \"business_id\"\ntype = \"string\"\n\n[[columns]]\nname = \"name_as_number\"\npath = \"name\"\ntype = \"int64\"\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn a_value_that_does_not_fit_fails_the_run_naming_offset_column_and_value() {
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let schema = bad_schema(&ws, "fail");
    let toml = job_toml(
        &sandbox.base_url(),
        "parquet",
        &["business_id", "name"],
        &format!("schema = {schema:?}"),
    );
    let job = ws.job("strict", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let line = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.starts_with("orgsync: "))
        .unwrap()
        .to_string();
    let first_name = sandbox.dataset().record("FI", 0)["name"].as_str().unwrap().to_string();
    assert!(line.contains("name_as_number"), "the column: {line}");
    assert!(
        line.contains("record 0") || line.contains("offset 0"),
        "the offset: {line}"
    );
    assert!(
        line.contains(&first_name.chars().take(10).collect::<String>()),
        "the value: {line}"
    );
    assert!(!ws.path().join("exports/strict").exists(), "nothing published");
}

#[test]
fn under_null_a_misfit_becomes_null_is_counted_and_warned_once() {
    let sandbox = TestSandbox::with_records(250);
    let ws = Workspace::new();
    let schema = bad_schema(&ws, "null");
    let toml = job_toml(
        &sandbox.base_url(),
        "csv",
        &["business_id", "name"],
        &format!("schema = {schema:?}"),
    );
    let job = ws.job("lenient", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let snapshot = ws.path().join("exports/lenient");
    let (header, rows) = read_csv(&snapshot);
    assert_eq!(
        header,
        ["business_id", "name_as_number"],
        "the schema's names and order"
    );
    assert_eq!(rows.len(), 250);
    assert!(rows.iter().all(|r| r[1].is_empty()), "every name became null");
    assert_eq!(manifest(&snapshot)["type_errors"]["name_as_number"], 250);
    let warnings = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("name_as_number") && l.contains("does not fit"))
        .count();
    assert_eq!(warnings, 1, "warned once per column");
    // All 250 are null: that is an empty column too, warned about separately.
    assert_eq!(
        manifest(&snapshot)["empty_columns"],
        serde_json::json!(["name_as_number"])
    );
}

#[test]
fn an_empty_result_is_a_valid_snapshot_in_every_format() {
    let sandbox = TestSandbox::with_records(40);
    for format in ["csv", "jsonl", "parquet"] {
        let ws = Workspace::new();
        let toml = job_toml(
            &sandbox.base_url(),
            format,
            &["business_id", "financial_data.revenue"],
            "",
        )
        .replace(
            "order = \"business_id\"",
            "order = \"business_id\"\nfilter = { \"?EQ\" = { \"business_id\" = \"nobody\" } }",
        );
        let job = ws.job("empty", &toml);
        let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
        assert!(out.status.success(), "{format}: {}", all_output(&out));
        let snapshot = ws.path().join("exports/empty");
        assert!(snapshot.join("_SUCCESS").exists());
        assert_eq!(manifest(&snapshot)["records"], 0);
        let part = &parts(&snapshot)[0];
        match format {
            "csv" => assert_eq!(
                std::fs::read_to_string(part).unwrap(),
                "business_id,financial_data_revenue\n"
            ),
            "jsonl" => assert_eq!(std::fs::read(part).unwrap(), b""),
            _ => {
                let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(part).unwrap()).unwrap();
                let schema = reader.schema().clone();
                assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                assert_eq!(
                    names,
                    ["business_id", "financial_data_revenue"],
                    "a zero-row file that carries the schema"
                );
            }
        }
    }
}

#[test]
fn schema_infer_prints_a_schema_that_validates_and_reproduces_the_inferred_types() {
    let sandbox = TestSandbox::with_records(200);
    let ws = Workspace::new();
    let fields = [
        "business_id",
        "founded",
        "financial_data.revenue",
        "technology_data.name",
        "modifications.basic",
    ];
    let job = ws.job("probe", &job_toml(&sandbox.base_url(), "parquet", &fields, ""));
    let out = ws
        .orgsync()
        .args(["schema", "infer", "--sample", "100"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    std::fs::create_dir_all(ws.path().join("schemas")).unwrap();
    std::fs::write(ws.path().join("schemas/probe.toml"), &out.stdout).unwrap();

    // A schema-less run infers the types ...
    let run = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(run.status.success(), "{}", all_output(&run));
    let inferred = manifest_types(&ws.path().join("exports/probe"));

    // ... and a run with the printed schema file validates and uses the same ones.
    let pinned = job_toml(
        &sandbox.base_url(),
        "parquet",
        &fields,
        "schema = \"../schemas/probe.toml\"",
    )
    .replace("exports/{job}", "exports/{job}-pinned");
    let job = ws.job("probe", &pinned);
    let out = ws.orgsync().arg("validate").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let run = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(run.status.success(), "{}", all_output(&run));
    assert_eq!(manifest_types(&ws.path().join("exports/probe-pinned")), inferred);
}

#[test]
fn validate_reports_schema_problems_with_the_schema_files_lines() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("schemas")).unwrap();
    std::fs::write(
        ws.path().join("schemas/s.toml"),
        "[[columns]]\nname = \"a\"\npath = \"business_id\"\ntype = \"integer\"\n\n[[columns]]\nname = \"a\"\npath = \"name\"\ntype = \"string\"\n\n[[columns]]\nname = \"c\"\npath = \"not.requested\"\ntype = \"string\"\n",
    )
    .unwrap();
    let job = ws.job(
        "s",
        &job_toml(
            "https://api.vainu.io",
            "parquet",
            &["business_id", "name"],
            "schema = \"../schemas/s.toml\"",
        ),
    );
    let out = ws.orgsync().arg("validate").arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let schema_file = "schemas/s.toml";
    let has = |line: &str, words: &[&str]| {
        stdout
            .lines()
            .any(|l| l.contains(&format!("{schema_file}:{line}:")) && words.iter().all(|w| l.contains(w)))
    };
    assert!(
        has("4", &["integer", "int64"]),
        "unknown type with a suggestion:\n{stdout}"
    );
    assert!(has("7", &["\"a\""]), "duplicate column name:\n{stdout}");
    assert!(
        has("13", &["not.requested"]),
        "path the job does not request:\n{stdout}"
    );
}
